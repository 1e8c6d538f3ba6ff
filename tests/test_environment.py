"""environment.yml (conda users) and pyproject.toml (pip users) must list the same packages."""
import re
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch", "soundfile": "pysoundfile", "soxr": "soxr-python", "jupyter-client": "jupyter_client",
               "sounddevice": "python-sounddevice"}
CONDA_ONLY = {"python", "pip", "jupyterlab", "torchaudio"}  # tools, and the optional cross-check


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower()


def _conda_dependencies() -> set[str]:
    names = set()
    text = (REPO / "environment.yml").read_text()
    for line in text[text.index("dependencies:"):].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)
        if m:
            names.add(_name(m.group(1)))
    return names


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {CONDA_NAMES.get(_name(d), _name(d)) for d in project["dependencies"]}
    wanted |= {CONDA_NAMES.get(_name(d), _name(d)) for extra in ("test", "onnx", "listen", "tensorboard", "serve")
               for d in project["optional-dependencies"][extra]}
    conda = _conda_dependencies()
    assert conda - CONDA_ONLY == wanted, (
        f"only in environment.yml: {sorted(conda - CONDA_ONLY - wanted)}; "
        f"only in pyproject.toml: {sorted(wanted - conda)}")


def test_torch_is_pinned_to_the_cpu_build_release():
    """A looser spec would make pip fetch a multi-GB CUDA build on a CPU machine."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert [d for d in project["dependencies"] if _name(d) == "torch"] == ["torch==2.13.0"]
    assert not any(_name(d) == "torchaudio" for d in project["dependencies"])


#: import name -> distribution name, where they differ
DISTRIBUTIONS = {"sklearn": "scikit-learn", "yaml": "pyyaml", "IPython": "ipython", "PIL": "pillow"}
#: imported only where present, each behind a clear message (never on the default path)
OPTIONAL_IMPORTS = {"torchaudio"}


def _imported_modules() -> set[str]:
    """Top-level third-party modules imported anywhere in muzo_lib (lazy imports included)."""
    import ast
    import sys

    found = set()
    for path in (REPO / "muzo_lib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("muzo_lib", "__future__")}


def test_every_directly_imported_package_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(d) for d in project["dependencies"]}
    declared |= {_name(d) for extra in project["optional-dependencies"].values() for d in extra}
    missing = {m for m in _imported_modules() - OPTIONAL_IMPORTS
               if DISTRIBUTIONS.get(m, m).lower().replace("_", "-") not in declared}
    assert not missing, f"imported by muzo_lib but not declared in pyproject.toml: {sorted(missing)}"


def test_the_setup_installs_jupyterlab_to_open_the_course():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "jupyterlab", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and int(done.stdout.split(".")[0]) >= 4, done.stderr
    assert (REPO / "scripts" / "lab.sh").is_file() and "scripts/lab.sh" in (REPO / "README.md").read_text()
