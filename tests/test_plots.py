"""The figures: one package split by subject, every spectrogram readable alone (time in s,
frequency in Hz, a dB colour bar), one learning-curve function for one run or several."""
from __future__ import annotations

import importlib
import inspect
import types
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from muzo_lib import plots  # noqa: E402
from muzo_lib.features.spectrogram import MelConfig  # noqa: E402

SUBJECTS = ["audio", "spectrograms", "features", "training", "evaluation", "timeline"]
MEL = MelConfig(n_mels=32)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _logmel(frames=130, seed=0):
    return np.random.default_rng(seed).uniform(-80, 0, (MEL.n_mels, frames)).astype(np.float32)


def _colour_bars(fig) -> list:
    return [m.colorbar.ax for ax in fig.axes for m in ax.images + list(ax.collections) if getattr(m, "colorbar", None)]


def _db_bars(fig) -> int:
    """Colour bars whose tick labels all read ``... dB``."""
    fig.canvas.draw()
    labels = [[t.get_text() for t in bar.get_yticklabels() if t.get_text()] for bar in _colour_bars(fig)]
    return sum(bool(ls) and all(s.endswith("dB") for s in ls) for ls in labels)


def _spectrogram_axes(fig):
    """Axes that draw an image or mesh and are not a colour bar."""
    bars = _colour_bars(fig)
    return [ax for ax in fig.axes if (ax.images or ax.collections) and ax not in bars]


def _history(shift=0.0):
    return dict(epoch=[1, 2, 3], train_loss=[2.0, 1.2, 0.7 + shift], val_loss=[2.1, 1.5, 1.4],
                train_acc=[30.0, 60.0, 80.0], val_acc=[20.0, 40.0, 45.0 + shift], val_segment_acc=[22.0, 38.0, 41.0])


def test_every_function_of_every_subject_is_exported_and_the_old_modules_are_gone():
    for subject in SUBJECTS:
        module = importlib.import_module(f"muzo_lib.plots.{subject}")
        for name, obj in inspect.getmembers(module, inspect.isfunction):
            if obj.__module__ == module.__name__ and not name.startswith("_"):
                assert name in plots.__all__ and getattr(plots, name) is obj, name
    package = Path(plots.__file__).parent.parent
    assert not [old for old in ("plots_features", "plots_training", "plots_prediction") if (package / f"{old}.py").exists()]
    assert not hasattr(plots, "plot_training_curves")  # merged into plot_learning_curves


def test_show_logmel_has_seconds_hz_and_a_db_colour_bar():
    fig = plots.show_logmel(_logmel(), MEL, title="x")
    ax = _spectrogram_axes(fig)[0]
    assert ax.get_xlabel() == "Time (seconds)" and ax.get_ylabel() == "Hz"
    assert ax.get_xlim()[1] == pytest.approx(MEL.seconds(130), abs=MEL.seconds(1))
    assert _db_bars(fig) == 1


def test_stft_to_logmel_gives_each_of_its_three_spectrograms_a_db_bar():
    y = np.random.default_rng(0).normal(0, 0.1, MEL.sample_rate).astype(np.float32)
    fig = plots.plot_stft_to_logmel(y, MEL)
    spectrograms = _spectrogram_axes(fig)
    assert len(spectrograms) == 3 and _db_bars(fig) == 3
    assert all(ax.get_xlabel() == "Time (seconds)" and ax.get_ylabel() == "Hz" for ax in spectrograms)


def test_stacked_logmels_misclassified_and_attention_are_readable_spectrograms():
    fig = plots.plot_logmels({"a": _logmel(), "b": _logmel(seed=1)}, MEL, seconds=2.0)
    assert _db_bars(fig) == 2
    assert _spectrogram_axes(fig)[0].get_xlim()[1] == pytest.approx(MEL.seconds(MEL.frames(2.0)), abs=MEL.seconds(1))

    evaluation = dict(predictions=np.array([0, 1, 1]), labels=np.array([1, 1, 0]),
                      track_probs=np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]))
    tracks = types.SimpleNamespace(logmels=[_logmel(), _logmel(), _logmel()], names=["t0", "t1", "t2"])
    fig = plots.plot_misclassified(evaluation, tracks, ["jazz", "rock"], MEL)
    assert [ax.get_title().split("\n")[0] for ax in _spectrogram_axes(fig)] == ["t0", "t2"]  # most confident first
    assert all(ax.get_ylabel() == "Hz" for ax in _spectrogram_axes(fig)) and _db_bars(fig) == 2

    weights = np.full((2, 8), 1 / 8)
    fig = plots.plot_attention([dict(title="t", logmel=_logmel(260), weights=weights, starts=[0, 130])], MEL, 16, 130)
    assert _db_bars(fig) == 1
    assert any(ax.get_ylabel() == "attention" for ax in fig.axes)
    assert any(ax.get_ylabel() == "Hz" for ax in _spectrogram_axes(fig))


def test_learning_curves_draw_one_run_or_several_with_their_kept_epochs():
    one = plots.plot_learning_curves(_history(), best_epoch=2)
    loss, acc = one.axes
    assert [line.get_label() for line in acc.lines] == ["train crops", "validation segments", "validation tracks",
                                                        "kept: epoch 2"]
    several = plots.plot_learning_curves({"CNN": _history(), "hybrid": _history(0.5)}, "two", {"hybrid": 3})
    loss, acc = several.axes
    assert [line.get_label() for line in loss.lines] == ["CNN train", "CNN validation", "hybrid train",
                                                         "hybrid validation", "hybrid kept: epoch 3"]
    cnn, hybrid = acc.lines[0].get_color(), acc.lines[2].get_color()
    assert cnn != hybrid and acc.lines[1].get_color() == cnn  # one colour per run
    assert list(acc.lines[3].get_ydata()) == [20.0, 40.0, 45.5]


def test_learning_curves_mark_each_learning_rate_cut_and_the_early_stop():
    history = {**_history(), "lr": [0.002, 0.001, 0.0005]}
    loss, acc = plots.plot_learning_curves(history, best_epoch=1, stopped_early=True).axes
    cuts = [line.get_xdata()[0] for line in acc.lines if line.get_linestyle() == ":"]
    assert cuts == [2, 3]
    assert [line.get_label() for line in loss.lines].count("early stop") == 1
    assert [line.get_label() for line in acc.lines].count("early stop") == 0
    quiet = plots.plot_learning_curves({**_history(), "lr": [0.002] * 3}).axes[1]
    assert not [line for line in quiet.lines if line.get_linestyle() == ":"]


def test_durations_figure_only_when_tracks_differ_in_length():
    same = pd.DataFrame({"status": ["ok"] * 3, "duration": [10.0, 10.0, 10.0]})
    assert plots.plot_durations(same) is None
    varied = pd.DataFrame({"status": ["ok", "ok", "too_short"], "duration": [29.9, 30.6, 1.0]})
    fig = plots.plot_durations(varied)
    assert fig.axes[0].get_title() == "Durations of 2 usable tracks"


def test_twelve_subgenres_get_twelve_colours_grouped_by_genre_in_the_legend():
    genres = ["blues", "classical", "jazz", "metal", "reggae", "rock"]
    tracks = pd.DataFrame([{"genre": g, "subgenre": f"{g[:3]}_{s}"} for g in genres for s in ("b", "a")])
    ax = plots.plot_class_balance(tracks).axes[0]
    colours = {p.get_facecolor() for p in ax.patches if p.get_height() > 0}
    assert len(colours) == 12                       # the default cycle repeats after 10
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:4] == ["blu_a", "blu_b", "cla_a", "cla_b"]
    assert len(set(plots.distinct_colors(30))) == 30


def test_class_balance_stacks_by_split_or_subgenre_and_draws_plain_bars_without_either():
    tracks = pd.DataFrame({"genre": ["jazz", "jazz", "rock"], "subgenre": ["swing", "bossa", "punk"],
                           "split": ["train", "test", "train"]})
    assert plots.plot_class_balance(tracks).axes[0].get_legend().get_title().get_text() == "split"
    assert plots.plot_class_balance(tracks.drop(columns="split")).axes[0].get_title() == "Tracks per genre, by subgenre"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "no artists with labels" legend warning
        fig = plots.plot_class_balance(tracks.drop(columns="split").assign(subgenre=""))
    ax = fig.axes[0]
    assert ax.get_title() == "Tracks per genre" and ax.get_legend() is None
    assert [p.get_height() for p in ax.patches] == [2, 1]


def test_the_top_db_panel_colours_and_counts_the_bins_it_raised():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 0.3, MEL.sample_rate), np.zeros(MEL.sample_rate)]).astype(np.float32)
    y[MEL.sample_rate:] += rng.normal(0, 1e-6, MEL.sample_rate).astype(np.float32)   # a near-silent second
    title = _spectrogram_axes(plots.plot_stft_to_logmel(y, MEL))[-1].get_title()
    share = float(title.split("cyan: ")[1].split("%")[0])
    assert 30 < share < 60                                   # the quiet half is raised to the floor, and said so
    loud = np.random.default_rng(1).normal(0, 0.1, MEL.sample_rate).astype(np.float32)
    assert "cyan: 0.0%" in _spectrogram_axes(plots.plot_stft_to_logmel(loud, MEL))[-1].get_title()


def test_legends_sit_beside_the_class_bars_not_over_them():
    tracks = pd.DataFrame({"genre": ["jazz", "rock"], "split": ["train", "test"]})
    legend = plots.plot_class_balance(tracks).axes[0].get_legend()
    assert legend._loc == 2 and legend.get_bbox_to_anchor().x0 > plots.plot_class_balance(tracks).axes[0].bbox.x1 - 1


def test_the_gap_figure_shades_the_held_out_curves_interval():
    frame = pd.DataFrame({"depth": [2, 4], "train_accuracy": [90.0, 100.0], "valid_accuracy": [70.0, 80.0]})
    ax = plots.plot_gap(frame, "depth", n=48).axes[0]
    assert len(ax.collections) == 1                           # one band: valid, not train
    assert any("95% interval (48 tracks)" in t.get_text() for t in ax.get_legend().get_texts())
    assert not plots.plot_gap(frame, "depth").axes[0].collections


def test_permutation_panel_lists_only_features_that_moved_and_marks_one_track():
    names = [f"f{i}" for i in range(6)]
    impurity = pd.Series(np.linspace(0.1, 0.6, 6), index=names)
    permutation = pd.Series([2.0, 0.0, -1.0, 0.0, 0.5, 0.0], index=names)
    fig = plots.plot_feature_importance(impurity, permutation, permutation * 0 + 0.2, one_track=2.1)
    ax = fig.axes[1]
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == ["f0", "f2", "f4"]
    assert ax.get_title().endswith("3 of 6 features move it")
    assert any(line.get_xdata()[0] == 2.1 for line in ax.get_lines())
