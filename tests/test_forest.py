"""MusicGenreClassifier: sklearn behaviour, the seed's single-item form, safe model files,
clear errors; the notebook-02 experiment helpers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.model_selection import cross_val_score

from muzo_lib.course.forest_experiments import complexity_sweep, learning_curve, read_gtzan_table, split_comparison
from muzo_lib.data.splits import random_track_split
from muzo_lib.features.handmade import feature_columns
from muzo_lib.models.forest import FeatureMismatchError, ModelFormatError, MusicGenreClassifier


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    genres = np.repeat(["blues", "metal", "pop"], 20)
    X = pd.DataFrame(rng.normal(size=(60, 5)), columns=["tempo", "rms_mean", "a", "b", "c"])
    X["tempo"] += np.repeat([0.0, 4.0, 8.0], 20)
    return X, genres


def test_fit_predict_like_sklearn(data):
    X, y = data
    clf = MusicGenreClassifier(n_estimators=30, random_state=0)
    assert clf.fit(X, y) is clf
    assert list(clf.classes_) == ["blues", "metal", "pop"]
    assert list(clf.feature_names_in_) == list(X.columns)
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(1), 1)
    assert (clf.predict(X) == clf.classes_[proba.argmax(1)]).all()
    # columns are matched by name, not position
    assert np.allclose(clf.predict_proba(X[X.columns[::-1]]), proba, rtol=0, atol=1e-12)
    assert clone(clf).get_params() == clf.get_params()
    assert cross_val_score(MusicGenreClassifier(n_estimators=10), X, y, cv=3).mean() > 0.6
    # same seed, same forest
    assert np.allclose(MusicGenreClassifier(n_estimators=30, random_state=0).fit(X, y).predict_proba(X), proba,
                       rtol=0, atol=1e-12)


def test_single_item_form(data):
    X, y = data
    clf = MusicGenreClassifier(n_estimators=30).fit(X, y)
    out = clf.predict(X.iloc[45].to_dict())["genre_prediction"]
    assert out["predicted_genre"] == "pop"
    assert set(out["probabilities"]) == {"blues", "metal", "pop"}
    assert out["confidence"] == max(out["probabilities"].values())


def test_feature_mismatch_and_bad_input(data):
    X, y = data
    clf = MusicGenreClassifier(n_estimators=10).fit(X, y)
    with pytest.raises(FeatureMismatchError, match="2 missing"):
        clf.predict(X.drop(columns=["a", "b"]))
    with pytest.raises(FeatureMismatchError, match="4 columns"):
        clf.predict(X.to_numpy()[:, :4])
    with pytest.raises(ValueError, match="not fitted"):
        MusicGenreClassifier().predict(X)
    bad = X.copy()
    bad.iloc[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MusicGenreClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="labels"):
        MusicGenreClassifier().fit(X, y[:10])


def test_save_and_load_keep_everything(data, tmp_path):
    X, y = data
    clf = MusicGenreClassifier(n_estimators=20, max_depth=4).fit(X, y)
    path = clf.save_model(tmp_path / "rf.skops")
    assert [p.name for p in tmp_path.iterdir()] == ["rf.skops"]  # no temp files left behind
    loaded = MusicGenreClassifier.load_model(path)
    # equal up to the summation order of the trees (threads)
    assert np.allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=0, atol=1e-12)
    assert list(loaded.feature_names_in_) == list(X.columns) and list(loaded.classes_) == list(clf.classes_)
    assert loaded.max_depth == 4 and {"scikit-learn", "numpy", "skops"} <= set(loaded.saved_versions_)
    with pytest.raises(FeatureMismatchError):
        loaded.predict(X[["tempo"]])


def test_refuses_files_that_are_not_muzo_models(tmp_path):
    with pytest.raises(FileNotFoundError):
        MusicGenreClassifier.load_model(tmp_path / "missing.skops")
    text = tmp_path / "text.skops"
    text.write_text("hello")
    with pytest.raises(ModelFormatError, match="not a skops file"):
        MusicGenreClassifier.load_model(text)
    other = tmp_path / "other.skops"
    sio.dump({"weights": [1, 2, 3]}, other)
    with pytest.raises(ModelFormatError, match="not a Muzo"):
        MusicGenreClassifier.load_model(other)
    import pickle
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(MusicGenreClassifier()))
    with pytest.raises(ModelFormatError):
        MusicGenreClassifier.load_model(pickled)


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="unfitted"):
        MusicGenreClassifier().save_model(tmp_path / "x.skops")


def _run_table(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for g, genre in enumerate(["a", "b", "c"]):
        for artist in range(4):
            offset = rng.normal(size=4) * 3  # artist signature
            for t in range(5):
                rows.append(dict(genre=genre, artist=f"{genre}{artist}", split=["train", "train", "valid", "test"][artist],
                                 **{f"f{i}": offset[i] + 0.5 * g + rng.normal() * 0.3 for i in range(4)}))
    return pd.DataFrame(rows)


def test_experiment_helpers():
    table = _run_table()
    features = feature_columns(table)
    assert features == ["f0", "f1", "f2", "f3"]
    leaky = random_track_split(table, table.split, seed=0)
    assert leaky.groupby(table.genre).value_counts().sort_index().tolist() == \
        table.split.groupby(table.genre).value_counts().sort_index().tolist()
    comparison = split_comparison(table, ["a", "b", "c"], features, repeats=2, n_estimators=20)
    # artist signatures leak through a random split: it scores higher than the artist-disjoint one
    assert comparison.test_accuracy.iloc[1] > comparison.test_accuracy.iloc[0]
    sweep = complexity_sweep(table, ["a", "b", "c"], features, "max_depth", [1, None], n_estimators=20)
    assert list(sweep.max_depth) == [1, "None"] and sweep.train_accuracy.iloc[1] >= sweep.train_accuracy.iloc[0]
    curve = learning_curve(table, ["a", "b", "c"], features, fractions=(0.5, 1.0), n_estimators=20)
    assert list(curve.train_tracks) == [15, 30]


def test_read_gtzan_table_checks_columns(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="GTZAN-style"):
        read_gtzan_table(bad)
    with pytest.raises(FileNotFoundError):
        read_gtzan_table(tmp_path / "missing.csv")
