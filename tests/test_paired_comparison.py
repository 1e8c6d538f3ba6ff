"""Notebook 05's frozen / fine-tuned / from-scratch table: accuracies with Wilson intervals, paired differences."""
import numpy as np
import pytest

from muzo_lib.course.transfer_experiments import paired_comparison, paired_sentences
from muzo_lib.evaluation.metrics import accuracy_interval

CLASSES = ["jazz", "rock"]
TRUTH = ["jazz", "rock"] * 10                      # 20 tracks


def test_a_perfect_score_keeps_a_wilson_interval_and_the_reference_has_no_difference():
    table = paired_comparison(TRUTH, {"frozen": TRUTH, "scratch": ["jazz"] * 20}, CLASSES, reference="frozen")
    assert list(table.index) == ["frozen", "scratch"]
    frozen, scratch = table.loc["frozen"], table.loc["scratch"]
    assert frozen.accuracy == 100 and frozen.ci_high == 100
    assert frozen.ci_low == pytest.approx(accuracy_interval(100, 20)[0]) and frozen.ci_low < 90   # not [100, 100]
    assert np.isnan(frozen.minus)
    assert scratch.accuracy == 50 and scratch.minus == -50 and scratch.diff_high < 0
    assert scratch.verdict == "detectable"
    [line] = paired_sentences(table, "frozen")
    assert line.startswith("scratch minus frozen: -50.0 points") and "worse" in line


def test_one_track_apart_is_no_detectable_difference():
    one_wrong = ["rock"] + TRUTH[1:]
    table = paired_comparison(TRUTH, {"frozen": TRUTH, "fine-tuned": one_wrong}, CLASSES, reference="frozen")
    row = table.loc["fine-tuned"]
    assert row.minus == -5 and row.diff_low < 0 <= row.diff_high and row.verdict == "no detectable difference"
    assert "no detectable difference" in paired_sentences(table, "frozen")[0]


def test_models_must_predict_the_same_tracks_and_the_reference_must_exist():
    with pytest.raises(ValueError, match="same tracks"):
        paired_comparison(TRUTH, {"frozen": TRUTH, "short": TRUTH[:5]}, CLASSES, reference="frozen")
    with pytest.raises(ValueError, match="reference"):
        paired_comparison(TRUTH, {"frozen": TRUTH}, CLASSES, reference="missing")
