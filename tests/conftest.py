"""Fixtures: real GTZAN clips (when present) and running notebooks with papermill."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
REAL_DATA_ENV = "MUZO_REAL_DATA"


@pytest.fixture(autouse=True, scope="session")
def _scratch_working_directory(tmp_path_factory):
    """Library paths are relative to the current directory (as in any Python library), so
    the tests run in a scratch folder: nothing they write can land in the checkout."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    os.chdir(before)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``$MUZO_REAL_DATA`` (61 real GTZAN clips in CI); skips the test when it is not set."""
    value = os.environ.get(REAL_DATA_ENV)
    if not value or not Path(value).is_dir():
        pytest.skip(f"set {REAL_DATA_ENV} to the gtzan_mini folder to run tests on real audio")
    return Path(value).resolve()


#: The run (``runs/<name>`` under the tests' MUZO_ROOT) that every test on the real clips shares,
#: as the course's notebooks share one: the clips are scanned, their log-mels, descriptors and
#: embeddings computed once for the whole session (each costs tens of seconds on 2 cores).
REAL_RUN = "real-clips"


@pytest.fixture(scope="session")
def real_run_dir() -> Path:
    """One run folder shared by every test on the real clips (notebooks, `muzo course`, `muzo train`)."""
    from muzo_lib.io.paths import project_path

    path = project_path(f"runs/{REAL_RUN}")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def run_notebook(tmp_path):
    """Execute ``notebooks/<name>`` with papermill and these parameters; return the
    executed notebook (nbformat) so the test can read its outputs."""
    import nbformat
    import papermill as pm

    def run(name: str, **parameters):
        out = tmp_path / name
        pm.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                            kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False,
                            log_output=False)
        return nbformat.read(out, as_version=4)

    return run


def notebook_text(nb) -> str:
    """Every stream and text/plain output of an executed notebook, joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out and "text/plain" in out["data"]:
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


@pytest.fixture
def browser():
    """Headless Chromium driven by Selenium (tests/browser.py); skipped where not installed,
    except under MUZO_REQUIRE_BROWSER=1 (CI), where a missing browser fails."""
    from browser import chromium

    with chromium() as driver:
        yield driver
