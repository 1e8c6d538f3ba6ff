"""Notebooks 04 (hybrid), 05 (ensemble) and 06 (prediction) on the 61 real GTZAN clips,
with papermill and fast parameters, in the real-clip run folder shared with 00-03 (each
notebook builds what an earlier one did not leave)."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from helpers import accuracy_of

from conftest import notebook_text

pytestmark = pytest.mark.slow

FAST = dict(epochs=2, crops_per_track=2)


def test_nb04_hybrid_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("04_hybrid_cnn_rnn_attention.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      attention_tracks=2, rnn_hidden=32, **FAST)
    text = notebook_text(nb)
    assert re.search(r"\b61 tracks, 10 genres", text)
    assert "a 3 s crop = 130 frames -> 32 LSTM steps of 4 frames (93 ms) each" in text
    hybrid = json.loads((real_run_dir / "metrics" / "hybrid.json").read_text())
    cnn = json.loads((real_run_dir / "metrics" / "cnn.json").read_text())
    for m in (hybrid, cnn):
        assert m["accuracy"] == pytest.approx(accuracy_of(m["test_confusion"])) and len(m["classes"]) == 10
    assert hybrid["architecture"] == "hybrid" and hybrid["model_config"]["rnn_hidden"] == 32
    assert re.search(r"On \d+ test tracks the hybrid is (better than|worse than|level with) the CNN", text)
    assert re.search(r"highest attention weight is on average [\d.]+x the uniform", text)
    assert (real_run_dir / "models" / "hybrid.pt").is_file()


def test_nb07_ensemble_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("07_ensemble.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      n_estimators=50, **FAST)
    text = notebook_text(nb)
    assert "fitting on test: a fusion is never fitted on the test split" in text
    table = pd.read_csv(real_run_dir / "ensemble_comparison.csv", index_col=0)
    assert list(table.index) == ["CNN", "hybrid", "Random Forest", "musicnn", "fusion: mean", "fusion: weighted",
                                 "fusion: stacking"]
    assert len([c for c in table.columns if c.startswith("f1 ")]) == 10
    for method in ("mean", "weighted", "stacking"):
        m = json.loads((real_run_dir / "metrics" / f"fusion_{method}.json").read_text())
        assert m["fitted_on"] == "valid" and m["accuracy"] == pytest.approx(table.loc[f"fusion: {method}", "accuracy"], abs=0.01)
    assert re.search(r"Best member: .+ \([\d.]+%\); best fusion: .+ \([\d.]+%\)", text)
    assert "seed-style" in text and "fused" in text


def test_nb08_prediction_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("08_prediction.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      long_parts=3, part_seconds=10.0, latency_repeats=2, n_estimators=50, **FAST)
    text = notebook_text(nb)
    assert "cnn model from models/cnn.pt; 10 genres" in text
    assert re.search(r"[\d.]+% of \d+ test files predicted right by the cnn model", text)
    assert re.search(r"\d+ windows over 0.5 minutes", text)
    assert re.search(r"cnn: \d+ ms per 30 s file", text)
    assert re.search(r"It followed \d+ of \d+ genre changes", text) and "real-time factor" in text
    assert re.search(r"largest probability difference from PyTorch \(float32\) over \d+ test files", text)
    predictions = pd.read_csv(real_run_dir / "predictions_cnn.csv")
    assert predictions.predicted.notna().all() and len(predictions) > 0
    assert "empty file (0 bytes)" in text  # the demo folder's broken files are reported, not fatal
