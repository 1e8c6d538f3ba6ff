"""Scores and their uncertainty: bootstrap intervals, paired differences, the printed form."""
import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from muzo_lib.evaluation.metrics import _macro_f1_rows, accuracy_interval, format_score, metric_intervals, paired_difference


def test_vectorised_macro_f1_matches_scikit_learn_over_the_classes_each_resample_holds():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 6, (50, 8)), rng.integers(0, 6, (50, 8))   # 8 draws of 6 classes: some are missing
    ours = _macro_f1_rows(t, p, 6)
    sk = [f1_score(a, b, labels=sorted(set(a) | set(b)), average="macro", zero_division=0) for a, b in zip(t, p)]
    assert ours == pytest.approx(sk, abs=1e-12)


def test_a_perfect_model_on_one_track_per_class_gets_a_macro_f1_interval_at_100():
    """Resamples of 10 tracks of 10 classes leave classes out; they do not score 0 for them."""
    y = np.arange(10)
    ci = metric_intervals(y, y, 10)
    assert ci["macro_f1"] == (100.0, 100.0) and ci["accuracy"] == (100.0, 100.0)


def test_interval_contains_the_score_and_narrows_with_more_tracks():
    rng = np.random.default_rng(1)

    def width(n):
        y = rng.integers(0, 3, n)
        pred = np.where(rng.random(n) < 0.7, y, (y + 1) % 3)          # about 70% right
        ci = metric_intervals(y, pred, 3, seed=0)
        acc = 100 * np.mean(pred == y)
        assert ci["accuracy"][0] <= acc <= ci["accuracy"][1] and ci["n"] == n
        return ci["accuracy"][1] - ci["accuracy"][0]

    small, large = width(20), width(800)
    assert small > 25 and large < 8 and small > 3 * large
    assert metric_intervals([0, 1], [0, 1], 2) == metric_intervals([0, 1], [0, 1], 2)  # seeded: repeatable


def test_paired_difference_tells_a_real_gap_from_noise():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    good = np.where(rng.random(300) < 0.9, y, (y + 1) % 4)
    bad = np.where(rng.random(300) < 0.5, y, (y + 1) % 4)
    assert paired_difference(y, good, bad)["detectable"] and paired_difference(y, good, bad)["low"] > 20
    twin = np.where(rng.random(300) < 0.9, y, (y + 2) % 4)             # another model, equally good
    same = paired_difference(y, good, twin)
    assert not same["detectable"] and same["low"] <= 0 <= same["high"] + 1e-9
    with pytest.raises(ValueError):
        paired_difference([], [], [])


def test_format_score_reads_like_the_style_guide():
    assert format_score(72.22, (55.0, 86.11), 18) == "72.2 [55.0, 86.1] on 18 tracks"


def test_a_cross_validation_result_scores_its_rows_one_way_and_serialises():
    from muzo_lib.evaluation.metrics import CVResult

    classes = ["a", "b"]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2], [0.4, 0.6]])
    genres = ["a", "b", "b", "b", "a", "a"]
    cv = CVResult.from_predictions("m", classes, ["t0", "t1", "t2", "t3", "t4", "t5"], genres, probabilities,
                                   [0, 0, 0, 1, 1, 1], seed=3, protocol="two folds")
    y_true, y_pred = [0, 1, 1, 1, 0, 0], [0, 1, 0, 1, 0, 1]
    assert cv.accuracy == pytest.approx(100 * 4 / 6) and cv.n == 6 and cv.k == 2
    assert cv.accuracy_ci == metric_intervals(y_true, y_pred, 2, seed=3)["accuracy"]
    assert cv.per_fold == [{"fold": 0, "n": 3, "accuracy": pytest.approx(200 / 3)},
                           {"fold": 1, "n": 3, "accuracy": pytest.approx(200 / 3)}]
    assert list(cv.predicted) == ["a", "b", "a", "b", "a", "b"] and cv.fold_accuracy == [cv.per_fold[0]["accuracy"]] * 2
    saved = json.loads(json.dumps(cv.to_dict()))
    assert saved["accuracy_ci"] == list(cv.accuracy_ci) and saved["k"] == 2 and len(saved["predictions"]) == 6
    assert saved["predictions"][2] == {"track_id": "t2", "genre": "b", "fold": 0, "predicted": "a",
                                       "probabilities": [0.6, 0.4]}
    flipped = cv.aligned(["t5", "t4", "t3", "t2", "t1", "t0"])
    assert list(flipped.genres) == genres[::-1] and flipped.probabilities[0].tolist() == [0.4, 0.6]
    assert flipped.accuracy == cv.accuracy and list(flipped.predictions.track_id) == ["t5", "t4", "t3", "t2", "t1", "t0"]


def test_accuracy_interval_is_wilsons_and_refuses_no_items():
    low, high = accuracy_interval(87.5, 48)
    assert (round(low, 1), round(high, 1)) == (75.3, 94.1)            # Wilson score interval, z = 1.96
    assert accuracy_interval(100.0, 48)[1] == pytest.approx(100.0) and accuracy_interval(100.0, 48)[0] > 90
    assert accuracy_interval(50.0, 1000)[1] - accuracy_interval(50.0, 1000)[0] < accuracy_interval(50.0, 48)[1] - 50
    with pytest.raises(ValueError, match="n=0"):
        accuracy_interval(50.0, 0)
