"""Test-session set-up shared by unit tests and nbval notebook runs."""
import os
import tempfile


def pytest_configure(config):
    # Relative run/data paths hang from MUZO_ROOT (see muzo_lib.io.paths): point it at a
    # scratch folder so tests and notebook runs never write into the checkout. It is
    # set before any kernel starts, so nbval's kernels inherit it.
    if not os.environ.get("MUZO_ROOT"):
        os.environ["MUZO_ROOT"] = tempfile.mkdtemp(prefix="muzo-tests-")
