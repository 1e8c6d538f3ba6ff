"""The course runner and the `muzo course` command, driven as a user would."""
import json
import subprocess
import sys

import pytest

from muzo_lib.course.runner import course_notebooks, run_course, split_sizes
from muzo_lib.io.paths import project_path

pytestmark = pytest.mark.slow


def test_course_notebooks_are_ordered_and_each_has_one_parameters_cell():
    import nbformat
    notebooks = course_notebooks()
    names = [nb.name for nb in notebooks]
    assert names[:2] == ["00_dataset_tour.ipynb", "01_spectrograms.ipynb"] and names == sorted(names)
    for path in notebooks:
        cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, path.name
        assert "data_dir = " in cells[0].source and "run_dir = " in cells[0].source, path.name


def test_papermill_reads_every_parameter():
    """papermill skips a line with a second '=' (even in its comment) and then calls the
    parameter unknown; every assignment in a parameters cell must be readable."""
    import nbformat
    import papermill as pm
    for path in course_notebooks():
        cell = next(c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", []))
        assigned = {line.split("=")[0].strip() for line in cell.source.splitlines()
                    if "=" in line and not line.lstrip().startswith("#")}
        assert set(pm.inspect_notebook(str(path))) == assigned, path.name


def test_run_course_writes_notebooks_figures_and_summary(tmp_path):
    lines = []
    run_dir = run_course(name="t-course", only=["00"], log=lines.append)
    assert run_dir == project_path("runs/t-course")
    assert (run_dir / "notebooks" / "00_dataset_tour.ipynb").exists()
    assert len(list((run_dir / "figures").glob("00_dataset_tour_*.png"))) >= 2
    summary = (run_dir / "summary.md").read_text()
    assert "00_dataset_tour.ipynb" in summary and (run_dir / "split.csv").exists()
    meta = json.loads((run_dir / "dataset.json").read_text())
    assert meta["split_strategy"] == "artist" and split_sizes(run_dir)["test"] == (48, 12)
    protocol = [line for line in summary.splitlines() if meta["split_note"] in line]   # the split, as the run made it
    assert len(protocol) == 1 and all(str(n) in protocol[0] for n in split_sizes(run_dir)["test"])
    assert any("00_dataset_tour" in line for line in lines)                              # the runner says what it runs
    assert (run_dir / "book" / "00_dataset_tour.html").is_file()                             # the run's book
    assert "00_dataset_tour.html" in (run_dir / "book" / "index.html").read_text()
    assert any(line.startswith("Machine: ") and "cores" in line for line in summary.splitlines())


def test_course_kernels_do_not_warn_about_tcp(tmp_path, capfd):
    run_course(name="t-quiet", only=["00"], log=lambda *a: None)
    assert "running over TCP" not in capfd.readouterr().err


def _muzo(*args):
    return subprocess.run([sys.executable, "-m", "muzo_lib.cli", *args], capture_output=True, text=True)


def test_cli_help_and_one_line_errors():
    done = _muzo("course", "--help")
    assert done.returncode == 0 and "--data-dir" in done.stdout
    bad = _muzo("course", "--no-such-flag")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    missing = _muzo("course", "--only", "00", "--data-dir", "/nonexistent/folder", "--name", "t-missing")
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "/nonexistent/folder" in missing.stderr and "not found" in missing.stderr   # the folder, and what is wrong
