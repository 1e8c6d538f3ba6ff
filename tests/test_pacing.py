"""Reference times of the course's long cells (muzo_lib.course.pacing)."""
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from muzo_lib.course.pacing import TABLE, load_table, pace, record_run, reference_times


def _run(tmp_path, seconds=83.4):
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    timed = new_code_cell('pace("03-train-cnn", "trains the CNN")\nfit()', metadata={"papermill": {"duration": seconds}})
    quick = new_code_cell("x = 1", metadata={"papermill": {"duration": 0.1}})
    nested = new_code_cell('if ablate:\n    pace("03-augmentation", "trains again")', metadata={"papermill": {"duration": 50.0}})
    nbformat.write(new_notebook(cells=[quick, timed, nested]), run / "notebooks" / "03_spectrogram_cnn.ipynb")
    (run / "summary.md").write_text("# run\n\nMachine: Some CPU, 2 cores, native bf16 no\n")
    return run


def test_a_run_records_the_duration_of_each_paced_cell_under_its_cpu_kind(tmp_path):
    table = tmp_path / "pacing.json"
    assert record_run(_run(tmp_path), "float32", table) == {"03-train-cnn": 83.4, "03-augmentation": 50.0}
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


def test_every_paced_cell_of_the_course_has_both_reference_times():
    """The shipped table covers every pace() key the notebooks use, on both CPU kinds."""
    import re
    from pathlib import Path

    keys = set()
    for path in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        keys |= set(re.findall(r'pace\(\s*\\?"([a-z0-9-]+)', path.read_text()))
    assert keys, "no notebook calls pace()"
    missing = {k: sorted({"float32", "bf16"} - set(reference_times(k))) for k in keys}
    assert not {k: v for k, v in missing.items() if v}, f"record the reference runs into {TABLE} (module doc)"
    assert set(load_table()["runs"]) == {"float32", "bf16"}
