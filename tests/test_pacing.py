"""Reference times of the course's long cells (muzo_lib.course.pacing)."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from muzo_lib.course.pacing import pace, record_run


def _run(tmp_path, seconds=83.4):
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    timed = new_code_cell('pace("03-train-cnn", "trains the CNN")\nfit()', metadata={"papermill": {"duration": seconds}})
    quick = new_code_cell("x = 1", metadata={"papermill": {"duration": 0.1}})
    nbformat.write(new_notebook(cells=[quick, timed]), run / "notebooks" / "03_spectrogram_cnn.ipynb")
    (run / "summary.md").write_text("# run\n\nMachine: Some CPU, 2 cores, native bf16 no\n")
    return run


def test_a_run_records_the_duration_of_each_paced_cell_under_its_cpu_kind(tmp_path):
    table = tmp_path / "pacing.json"
    assert record_run(_run(tmp_path), "float32", table) == {"03-train-cnn": 83.4}
    record_run(_run(tmp_path / "b", seconds=20.0), "bf16", table)
    saved = json.loads(table.read_text())
    assert saved["cells"]["03-train-cnn"] == {"float32": 83.4, "bf16": 20.0}
    assert saved["runs"]["float32"] == "Some CPU, 2 cores, native bf16 no"
    with pytest.raises(ValueError, match="kind"):
        record_run(_run(tmp_path / "c"), "fp8", table)
    with pytest.raises(ValueError, match="no timed pace"):
        record_run(tmp_path / "empty", "bf16", table)


def test_pace_announces_what_the_cell_does_and_its_reference_times(capsys, tmp_path):
    table = {"cells": {"03-train-cnn": {"float32": 95.0, "bf16": 21.0}}}
    line = pace("03-train-cnn", "trains the CNN", table)
    assert capsys.readouterr().out.strip() == line
    assert line.startswith("This cell trains the CNN.")
    assert "1.6 min on 2 cores without bf16 (float32); 21 s on 2 cores with bf16." in line
    assert "No reference time" in pace("never-measured", "does a thing", table)
    table["cells"]["04-train-hybrid"] = {"float32": 300.0, "bf16": 60.0}
    alone = pace("07-members", "loads the members", table, alone=("03-train-cnn", "04-train-hybrid"))
    assert "(No reference time" in alone and "about 6.6 min on 2 cores without bf16 (float32); 81 s on 2 cores with bf16 more." in alone
