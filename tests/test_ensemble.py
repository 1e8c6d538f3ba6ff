"""Probability-level fusion over one aligned class list, and ensemble_predict."""
import numpy as np
import pytest

from muzo_lib.evaluation.metrics import compare_models
from muzo_lib.inference.ensemble import (
    ProbabilityFusion,
    align_probabilities,
    averaged_top_confidence,
    ensemble_predict,
    fit_fusions,
)
from muzo_lib.inference.prediction import GenrePredictor
from tests.helpers import tone, write

CLASSES = ["jazz", "pop", "rock"]


def _onehot(y, n=3, p=0.9):
    out = np.full((len(y), n), (1 - p) / (n - 1))
    out[np.arange(len(y)), y] = p
    return out


def test_align_reorders_by_name_and_zero_fills_missing_genres():
    probs = np.array([[0.7, 0.3]])                      # model knows rock, jazz (in that order)
    aligned = align_probabilities(probs, ["rock", "jazz"], CLASSES)
    assert aligned.tolist() == [[0.3, 0.0, 0.7]]


def test_align_refuses_genres_outside_the_class_list_and_wrong_shapes():
    with pytest.raises(ValueError, match="outside the class list"):
        align_probabilities(np.array([[0.5, 0.5]]), ["rock", "metal"], CLASSES)
    with pytest.raises(ValueError, match="do not match"):
        align_probabilities(np.array([[0.5, 0.5]]), CLASSES, CLASSES)


def test_mean_fusion_is_the_plain_average():
    a, b = _onehot([0, 1]), _onehot([2, 1], p=0.6)
    fused = ProbabilityFusion("mean").fit({"a": a, "b": b}, [0, 1]).predict_proba({"a": a, "b": b})
    np.testing.assert_allclose(fused, (a + b) / 2)


def test_weighted_fusion_learns_to_trust_the_member_that_is_right_on_valid():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    good, noisy = _onehot(y, p=0.8), _onehot(rng.integers(0, 3, 60), p=0.9)
    fusion = ProbabilityFusion("weighted").fit({"good": good, "noisy": noisy}, y)
    assert fusion.weights_["good"] > 0.9 and abs(sum(fusion.weights_.values()) - 1) < 1e-9
    assert (fusion.predict({"good": good, "noisy": noisy}) == y).mean() == 1.0


def test_stacking_outputs_every_class_even_if_valid_lacks_one():
    y = np.array([0, 1, 0, 1, 0, 1])                    # class 2 absent from validation
    probs = {"a": _onehot(y), "b": _onehot(y, p=0.5)}
    fused = ProbabilityFusion("stacking", C=10).fit(probs, y).predict_proba(probs)
    assert fused.shape == (6, 3) and np.allclose(fused.sum(1), 1) and (fused.argmax(1) == y).all()
    assert np.all(fused[:, 2] == 0)


def test_fusions_are_never_fitted_on_test_and_need_fitting_and_all_members():
    probs = {"a": _onehot([0, 1])}
    with pytest.raises(ValueError, match="never fitted on the test split"):
        ProbabilityFusion("weighted").fit(probs, [0, 1], split="test")
    with pytest.raises(ValueError, match="not fitted"):
        ProbabilityFusion().predict_proba(probs)
    fusion = ProbabilityFusion().fit({"a": _onehot([0]), "b": _onehot([1])}, [0])
    with pytest.raises(ValueError, match="missing for member"):
        fusion.predict_proba(probs)
    with pytest.raises(ValueError, match="unknown fusion"):
        ProbabilityFusion("vote")
    assert set(fit_fusions(probs, [0, 1])) == {"fusion: mean", "fusion: weighted", "fusion: stacking"}


def test_compare_models_reports_accuracy_macro_f1_and_per_class_f1():
    y = np.array([0, 1, 2, 2])
    table = compare_models({"perfect": _onehot(y), "rock-only": _onehot([2, 2, 2, 2])}, y, CLASSES)
    assert table.loc["perfect", "accuracy"] == 100 and table.loc["rock-only", "accuracy"] == 50
    assert table.loc["rock-only", "f1 jazz"] == 0 and list(table.columns[:2]) == ["accuracy", "macro_f1"]


class _Fixed(GenrePredictor):
    """A stand-in model that always says the same thing."""

    def __init__(self, classes, probs):
        self.classes, self.probs, self.kind = classes, np.asarray(probs), "fixed"

    def predict_waveforms(self, waveforms):
        return np.tile(self.probs, (len(waveforms), 1))


def test_ensemble_predict_reports_the_fused_probability_of_the_fused_genre(tmp_path):
    path = write(tmp_path / "song.wav", tone(2.0))
    models = {"cnn": _Fixed(["jazz", "pop", "rock"], [0.2, 0.2, 0.6]),      # says rock 0.6
              "rf": _Fixed(["rock", "jazz"], [0.3, 0.7])}                   # says jazz 0.7, other class order
    out = ensemble_predict(path, models, classes=CLASSES)
    fused = out["ensemble"]
    assert fused.genre == "jazz" and fused.confidence == pytest.approx((0.2 + 0.7) / 2)
    assert fused.probabilities["rock"] == pytest.approx((0.6 + 0.3) / 2)
    assert out["models"]["rf"].genre == "jazz" and out["models"]["cnn"].genre == "rock"
    assert out["agreement"] == 0.5 and out["method"] == "mean"
    genre, confidence = averaged_top_confidence(out["models"])
    assert genre == "rock" and confidence == pytest.approx(0.65)  # the seed's number: about no genre




def test_ensemble_predict_gives_no_genre_for_silence(tmp_path):
    silent = write(tmp_path / "silent.wav", np.zeros(22050 * 3, dtype=np.float32))
    models = {"cnn": _Fixed(["jazz", "pop", "rock"], [0.1, 0.1, 0.8]), "rf": _Fixed(["rock", "jazz"], [0.9, 0.1])}
    out = ensemble_predict(silent, models, classes=CLASSES)
    assert out["ensemble"].genre is None and out["ensemble"].warning == "silent"
    assert out["ensemble"].confidence == pytest.approx(1 / 3) and all(p.genre is None for p in out["models"].values())
