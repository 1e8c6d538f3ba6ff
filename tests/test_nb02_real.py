"""Notebook 02 on the 61 real GTZAN clips (papermill, fast parameters), and its
features_table path on the real GTZAN features table."""
from __future__ import annotations

import json
import re

import pytest
from helpers import accuracy_of

from conftest import notebook_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nb02(real_data_dir, real_run_dir, tmp_path_factory):
    """Notebook 02 on the real clips, executed once with fast parameters and the GTZAN features
    table, for both tests below (each part of the notebook is checked by one of them)."""
    import nbformat
    import papermill as pm

    from conftest import NOTEBOOKS

    table = real_data_dir.parent / "gtzan_meta" / "features_30_sec.csv"
    out = tmp_path_factory.mktemp("nb02") / "02.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "02_random_forest_baseline.ipynb"), str(out), kernel_name="python3",
                        cwd=str(NOTEBOOKS), progress_bar=False, log_output=False,
                        parameters=dict(data_dir=str(real_data_dir), run_dir=str(real_run_dir), n_estimators=50,
                                        leaky_repeats=2, features_table=str(table), table_trees=100, table_folds=5))
    return notebook_text(nbformat.read(out, as_version=4))


def test_nb02_on_real_clips(nb02, real_run_dir):
    text = nb02
    assert re.search(r"\b61 tracks, 10 genres", text)
    assert "feature table: 61 tracks x 85 features" in text
    shown = {name: float(re.search(rf"{name}\s*:\s+\d+ tracks, accuracy\s+([\d.]+)%", text).group(1))
             for name in ("train", "test")}
    assert "reloaded model gives the same probabilities: True" in text
    metrics = json.loads((real_run_dir / "metrics" / "random_forest.json").read_text())
    assert len(metrics["classes"]) == 10 and len(metrics["features"]) == 85
    assert metrics["test"]["accuracy"] == pytest.approx(accuracy_of(metrics["test"]["confusion"]))
    assert shown["test"] == pytest.approx(metrics["test"]["accuracy"], abs=0.05)  # the printed number is the saved one
    assert (real_run_dir / "rf_model.skops").is_file()


def test_nb02_features_table_on_real_gtzan_table(nb02, real_run_dir):
    text = nb02
    assert "640 train+valid -> 290 test (70 faulty tracks left out)" in text
    filtered = float(re.search(r"fault-filtered split: ([\d.]+)% test accuracy", text).group(1))
    random_cv = float(re.search(r"random stratified 5-fold: ([\d.]+)%", text).group(1))
    # the artist-leakage gap (measured with 500 trees / 10 folds: 50.7-51.0% vs 72.6%)
    assert 40 < filtered < 60 and random_cv > filtered + 10
    saved = json.loads((real_run_dir / "rf_gtzan_table_metrics.json").read_text())
    assert abs(saved["fault_filtered"] - filtered) < 0.06
