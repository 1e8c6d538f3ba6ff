"""The course's small-data protocol: when `muzo course` cross-validates (the rule), how
`cv_folds` reaches the notebooks, and the summary's cross-validation table."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from muzo_lib.course import runner as course
from muzo_lib.course.runner import _cross_validation_table, _forget_cross_validation, _summary, course_cv_folds, run_course
from muzo_lib.data.runs import prepare_run, save_cv_metrics, save_metrics
from tests.helpers import accuracy_of, tiny_dataset


def _cv_file(accuracy=60.0, n=12, notebook="02_random_forest_baseline.ipynb", k=3):
    return {"architecture": "rf", "accuracy": accuracy, "accuracy_ci": [33.3, 83.3], "macro_f1": 55.0,
            "macro_f1_ci": [30.0, 80.0], "n": n, "k": k, "notebook": notebook,
            "per_fold": [{"fold": f, "n": n // k, "accuracy": accuracy} for f in range(k)],
            "protocol": f"{k}-fold cross-validation, stratified by genre, grouped by track"}


def test_rule_cross_validates_a_dataset_folder_with_a_small_test_split(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4)
    folds, why = course_cv_folds(str(data), tmp_path / "run")
    n_test = int((prepare_run(data, tmp_path / "run").tracks.split == "test").sum())
    assert folds == course.COURSE_CV_FOLDS == 5
    assert why == f"5 folds over all 12 tracks, because the test split holds only {n_test} (fewer than 48)"
    assert course_cv_folds("", tmp_path / "other") == (0, "off (the built-in generated dataset)")


def test_rule_leaves_a_large_enough_test_split_alone(tmp_path, monkeypatch):
    data = tiny_dataset(tmp_path / "data", per_genre=4)
    n_test = int((prepare_run(data, tmp_path / "run").tracks.split == "test").sum())
    monkeypatch.setattr(course, "SMALL_TEST_SPLIT", n_test)
    assert course_cv_folds(str(data), tmp_path / "run") == (0, f"off (the test split holds {n_test} tracks, "
                                                                f"at least {n_test})")


def test_summary_lists_cross_validation_next_to_the_test_split(tmp_path):
    save_metrics(tmp_path, "random_forest", {"accuracy": 50.0, "accuracy_ci": [20.0, 80.0], "macro_f1": 40.0,
                                             "macro_f1_ci": [10.0, 70.0], "n": 4})
    save_cv_metrics(tmp_path, "random_forest", _cv_file())
    text = _summary(tmp_path, [("02_random_forest_baseline.ipynb", 60.0)], "/data/mini", None,
                    "Cross-validation: 3 folds, as asked")
    assert "| random_forest | 50.0 [20.0, 80.0] | 40.0 [10.0, 70.0] | 4 |" in text  # the split's row stays
    assert "Test split (the run's train/valid/test split, protocol above)" in text
    assert "Cross-validation: 3 folds, as asked" in text
    assert "Cross-validation, track level: every track predicted once by a model trained without it" in text
    assert ("| random_forest | 60.0 [33.3, 83.3] | 55.0 [30.0, 80.0] | 12 | 3 | 60, 60, 60 "
            "| 02_random_forest_baseline.ipynb |") in text
    assert "Cross-validation protocol: 3-fold cross-validation, stratified by genre, grouped by track" in text
    assert text.index("Test split") < text.index("Cross-validation, track level")


def test_cv_lines_say_where_the_test_split_falls():
    from muzo_lib.course.members import cv_lines

    lines = cv_lines(_cv_file(), "RF", split=(90.0, 4))
    assert lines[0] == ("RF, 3-fold cross-validation: accuracy % 60.0 [33.3, 83.3] on 12 tracks, macro F1 % "
                        "55.0 [30.0, 80.0] on 12 tracks (95% bootstrap intervals over the tracks)")
    assert lines[1] == "per fold, accuracy (tracks): 60% (4), 60% (4), 60% (4)"
    assert lines[-1] == "The test split's 90.0% on 4 tracks is outside this interval, which rests on 12 tracks instead of 4."
    assert cv_lines(_cv_file(), "RF", split=(50.0, 4))[-1].startswith("The test split's 50.0% on 4 tracks is inside")
    assert len(cv_lines(_cv_file(), "RF")) == 3


def test_no_cross_validation_table_without_results_and_stale_ones_are_forgotten(tmp_path):
    assert _cross_validation_table(tmp_path) == []
    save_cv_metrics(tmp_path, "cnn", _cv_file(notebook="03_spectrogram_cnn.ipynb"))
    save_cv_metrics(tmp_path, "random_forest", _cv_file())
    _forget_cross_validation(tmp_path, "03_spectrogram_cnn.ipynb")
    assert sorted(p.name for p in (tmp_path / "cv").iterdir()) == ["random_forest.json"]


def test_cli_cv_folds_option():
    def muzo(*args):
        return subprocess.run([sys.executable, "-m", "muzo_lib.cli", *args], capture_output=True, text=True)
    assert "--cv-folds" in muzo("course", "--help").stdout
    for bad in ("1", "-2", "five"):
        done = muzo("course", "--cv-folds", bad)
        assert done.returncode == 2 and "--cv-folds" in done.stderr and "Traceback" not in done.stderr


def _probe_notebooks(folder):
    """Two one-cell course notebooks: one with a ``cv_folds`` parameter that saves a
    cross-validation record when it is on, one without (it must not receive it)."""
    folder.mkdir()
    params = nbformat.v4.new_code_cell('data_dir = ""\nrun_dir = ""\ncv_folds = 0')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "import json, pathlib\n"
        "print('cv_folds', cv_folds)\n"
        "if cv_folds:\n"
        "    from muzo_lib.data.runs import save_cv_metrics\n"
        f"    save_cv_metrics(run_dir, 'probe', {{**{json.dumps(_cv_file(notebook='02_probe.ipynb'))}, 'k': cv_folds}})")
    other = nbformat.v4.new_code_cell('data_dir = ""\nrun_dir = ""')
    other.metadata["tags"] = ["parameters"]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    for name, cells in (("02_probe.ipynb", [params, body]), ("07_other.ipynb", [other])):
        nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=kernel), folder / name)


@pytest.mark.slow
def test_run_course_passes_the_rules_folds_and_an_override(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4)
    _probe_notebooks(tmp_path / "nbs")
    run_dir = run_course(name="t-cv-auto", data_dir=str(data), notebooks_dir=tmp_path / "nbs", log=lambda *a: None)
    summary = (run_dir / "summary.md").read_text()
    assert "Cross-validation: 5 folds over all 12 tracks, because the test split holds only" in summary
    assert re.search(r"\| probe \| 60\.0 \[33\.3, 83\.3\] \| .* \| 12 \| 5 \|", summary)
    run_dir = run_course(name="t-cv-auto", data_dir=str(data), notebooks_dir=tmp_path / "nbs", log=lambda *a: None,
                         cv_folds=0)
    summary = (run_dir / "summary.md").read_text()
    assert "Cross-validation: off, as asked" in summary
    assert "| probe |" not in summary and not (run_dir / "cv" / "probe.json").exists()  # the stale result is gone


@pytest.mark.slow
def test_a_cross_validation_record_reaches_the_summary(tmp_path):
    from muzo_lib.course.members import cross_validate, cv_lines, cv_record

    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=4), tmp_path / "run")
    cv = cross_validate(run, "rf", k=3, progress=False, rf_params={"n_estimators": 20, "n_jobs": 1})
    saved = json.loads(save_cv_metrics(run.run_dir, "random_forest", cv_record(cv, "02_x.ipynb")).read_text())
    assert saved["n"] == 12 and saved["k"] == 3 and sum(f["n"] for f in saved["per_fold"]) == 12
    assert saved["architecture"] == "rf" and saved["accuracy_ci"] == list(cv.accuracy_ci)
    assert cv_lines(saved, "RF") == cv_lines(cv, "RF")
    table = "\n".join(_cross_validation_table(run.run_dir))
    assert f"| random_forest | {cv.accuracy:.1f} [" in table and "| 12 | 3 |" in table


@pytest.mark.slow
def test_course_cross_validates_the_real_clips(real_data_dir, real_run_dir):
    """`muzo course` on the 61 real clips: the rule turns cross-validation on, and the summary
    reports the forest's and the CNN's accuracies over all 61 tracks beside the split's
    (fast settings; the README's numbers come from the notebooks' defaults). It runs in the run
    folder the other real-clip tests share, so the clips' descriptors and log-mels are made once."""
    from conftest import notebook_text

    run_dir = run_course(name=real_run_dir.name, data_dir=str(real_data_dir), only=["02", "03"], log=lambda *a: None,
                         parameters={"n_estimators": 50, "leaky_repeats": 1, "compare_flatten_head": False,
                                     "ablate_augmentation": False, "epochs": 1, "crops_per_track": 1})
    assert run_dir == real_run_dir
    summary = (run_dir / "summary.md").read_text()
    assert re.search(r"Cross-validation: 5 folds over all 61 tracks, because the test split holds only \d+ "
                     r"\(fewer than 48\)", summary)
    for name, notebook in (("random_forest", "02_random_forest_baseline.ipynb"), ("cnn", "03_spectrogram_cnn.ipynb")):
        m = json.loads((run_dir / "cv" / f"{name}.json").read_text())
        assert m["n"] == 61 and m["k"] == 5 and sum(f["n"] for f in m["per_fold"]) == 61
        assert m["accuracy"] == pytest.approx(accuracy_of(m["confusion"]))
        assert f"| {name} | {m['accuracy']:.1f} [{m['accuracy_ci'][0]:.1f}, {m['accuracy_ci'][1]:.1f}] |" in summary
        assert re.search(rf"\| {name} \| [\d.]+ \[[\d.]+, [\d.]+\] \| [\d.]+ \[[\d.]+, [\d.]+\] \| \d+ \|\n", summary)
        text = notebook_text(nbformat.read(run_dir / "notebooks" / notebook, as_version=4))
        assert f"accuracy % {m['accuracy']:.1f} [" in text and "on 61 tracks" in text
    forest = json.loads((run_dir / "cv" / "random_forest.json").read_text())
    assert forest["accuracy"] > 40  # chance is 10%; 200 trees give 77.0 [65.6, 86.9]
