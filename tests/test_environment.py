"""environment.yml (conda users) and pyproject.toml (pip users) must list the same packages."""
import re
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"torch": "pytorch", "soundfile": "pysoundfile", "soxr": "soxr-python", "sounddevice": "python-sounddevice"}
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
    wanted |= {CONDA_NAMES.get(_name(d), _name(d)) for extra in ("test", "onnx", "listen")
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
