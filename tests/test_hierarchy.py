"""Genre and subgenre: the class tree, consistent decisions, the two-level loss and scores."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from muzo_lib.models.hierarchy import (
    DECODERS,
    ClassTree,
    TwoLevelLoss,
    check_layout,
    decide,
    forest_tree,
    genre_probabilities,
    hierarchical_scores,
    inconsistency_rate,
    layout_problems,
    leaf_levels,
    subgenre_confusion,
)
from muzo_lib.models.result import Prediction

# rock/{classic, punk}, jazz/{classic, swing}, pop without subgenres
TREE = ClassTree.from_labels(["rock", "rock", "jazz", "jazz", "pop"], ["classic", "punk", "classic", "swing", ""])


def test_a_subgenre_name_under_two_genres_is_two_classes_and_unspecified_is_not_a_class():
    assert TREE.genres == ("jazz", "pop", "rock")
    assert TREE.subgenres == ("jazz/classic", "jazz/swing", "rock/classic", "rock/punk")
    assert TREE.unspecified == ("pop",) and list(TREE.parent) == [0, 0, 2, 2]
    assert TREE.output_names == ["jazz", "pop", "rock", "jazz/classic", "jazz/swing", "rock/classic", "rock/punk"]
    assert [line.split(":")[0] for line in TREE.describe()] == list(TREE.genres)   # one line per genre
    assert len(TREE.children(1)) == 0 and [TREE.subgenres[c] for c in TREE.children(0)] == ["jazz/classic", "jazz/swing"]
    assert ClassTree.from_dict(TREE.to_dict()) == TREE
    with pytest.raises(ValueError, match="not 'genre/subgenre'"):
        ClassTree(("rock",), ("jazz/swing",))


def test_labels_encode_both_levels_and_split_back():
    labels = TREE.encode(["rock", "pop", "jazz"], ["punk", "", "classic"])
    assert list(labels) == [3 + 3, 1, 3 + 0]
    genre, sub = TREE.split_labels(labels)
    assert list(genre) == [2, 1, 0] and list(sub) == [3, -1, 0]


def _random_probs(n, k, seed):
    p = np.random.default_rng(seed).random((n, k)) ** 3
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["marginal", "top-down"])
def test_consistent_decoders_never_report_a_subgenre_of_another_genre(method):
    pg, ps = _random_probs(500, 3, 0), _random_probs(500, 4, 1)
    genre, sub, conf = decide(pg, ps, TREE, method)
    has = sub >= 0
    assert np.all(TREE.parent[sub[has]] == genre[has])
    assert np.all((genre == 1) == ~has)                      # pop has no subgenres: -1
    assert np.all((conf[has] > 0.5 - 1e-12) & (conf[has] <= 1))  # best of two, given the genre
    assert np.isnan(conf[~has]).all()


def test_independent_heads_can_disagree_and_the_rate_is_measured():
    pg = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]])
    ps = np.array([[0.7, 0.1, 0.1, 0.1], [0.7, 0.1, 0.1, 0.1]])
    genre, sub, _ = decide(pg, ps, TREE, "independent")
    assert list(genre) == [2, 0] and list(sub) == [0, 0]       # row 0: rock with jazz/classic
    assert inconsistency_rate(pg, ps, TREE) == 0.5
    genre, sub, conf = decide(pg, ps, TREE, "top-down")
    assert list(sub) == [2, 0] and conf[0] == pytest.approx(0.5)  # rock/classic: 0.1 of rock's 0.2


def test_marginal_genre_sums_subgenres_and_keeps_the_genre_heads_share_for_genres_without():
    pg = np.array([[0.2, 0.3, 0.5]])
    ps = np.array([[0.6, 0.2, 0.1, 0.1]])
    q = genre_probabilities(pg, ps, TREE, "marginal")
    assert q == pytest.approx(np.array([[0.8 * 0.7, 0.3, 0.2 * 0.7]]))
    assert q.sum() == pytest.approx(1.0)
    assert genre_probabilities(pg, ps, TREE, "top-down") is not None
    assert decide(pg, ps, TREE, "marginal")[0][0] == 0 and decide(pg, ps, TREE, "top-down")[0][0] == 2
    with pytest.raises(ValueError, match="unknown decoder"):
        decide(pg, ps, TREE, "bottom-up")
    assert set(DECODERS) == {"independent", "marginal", "top-down"}


def test_hierarchical_scores_count_what_they_say():
    labels = TREE.encode(["rock", "rock", "jazz", "jazz", "pop"], ["punk", "classic", "swing", "swing", ""])
    genre = np.array([2, 2, 0, 2, 1])           # the 4th has the wrong genre
    sub = np.array([3, 3, 1, 2, -1])            # 1st right, 2nd wrong inside rock, 3rd right, 4th wrong outside
    s = hierarchical_scores(labels, genre, sub, TREE, n_boot=200)
    assert s["genre"]["value"] == pytest.approx(80.0) and s["genre"]["n"] == 5
    assert s["subgenre"]["value"] == pytest.approx(50.0) and s["subgenre"]["n"] == 4
    assert s["subgenre_given_genre"]["value"] == pytest.approx(200 / 3) and s["subgenre_given_genre"]["n"] == 3
    assert s["errors_within_genre"]["value"] == pytest.approx(50.0) and s["errors_within_genre"]["n"] == 2
    assert s["subgenre_chance"] == pytest.approx(25.0)
    low, high = s["subgenre"]["ci"]
    assert 0 <= low <= 50 <= high <= 100
    matrix = subgenre_confusion(labels, sub, TREE)
    assert matrix.sum() == 4 and matrix[3, 3] == 1 and matrix[2, 3] == 1 and matrix[1, 2] == 1


def test_two_level_loss_is_genre_ce_plus_weighted_subgenre_ce_on_labelled_crops():
    torch.manual_seed(0)
    logits = torch.randn(3, TREE.n_outputs, requires_grad=True)
    labels = torch.as_tensor(TREE.encode(["rock", "pop", "jazz"], ["punk", "", "classic"]))
    targets = F.one_hot(labels, TREE.n_outputs).float()
    loss = TwoLevelLoss(TREE, subgenre_weight=0.5).loss(logits, targets)
    genre = torch.tensor([2, 1, 0])
    expected = F.cross_entropy(logits[:, :3], genre, reduction="sum") \
        + 0.5 * F.cross_entropy(logits[[0, 2], 3:], torch.tensor([3, 0]), reduction="sum")
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    loss.backward()
    assert logits.grad[1, 3:].abs().sum() == 0                # pop teaches the genre head only
    assert TwoLevelLoss(TREE).hits(logits, labels) == int((logits[:, :3].argmax(1) == genre).sum())
    probs = TwoLevelLoss(TREE).probabilities(logits.detach())
    assert probs[:, :3].sum(1) == pytest.approx(torch.ones(3)) and probs[:, 3:].sum(1) == pytest.approx(torch.ones(3))


def test_mixup_targets_mix_both_levels():
    a, b = TREE.encode(["rock", "jazz"], ["punk", "swing"])
    targets = 0.7 * F.one_hot(torch.tensor([a]), TREE.n_outputs).float() + 0.3 * F.one_hot(torch.tensor([b]), TREE.n_outputs).float()
    logits = torch.zeros(1, TREE.n_outputs)
    loss = TwoLevelLoss(TREE).loss(logits, targets)
    assert float(loss) == pytest.approx(np.log(3) + np.log(4), rel=1e-6)   # uniform logits: log G + log S


def test_prediction_reports_the_best_subgenre_inside_the_genre_with_its_conditional_confidence():
    subs = {"jazz/classic": 0.5, "jazz/swing": 0.1, "rock/classic": 0.1, "rock/punk": 0.3}
    p = Prediction.from_probabilities([0.2, 0.1, 0.7], ["jazz", "pop", "rock"], top_k=2, subgenre_probabilities=subs)
    assert (p.genre, p.subgenre, p.label) == ("rock", "punk", "rock / punk")
    assert p.subgenre_confidence == pytest.approx(0.75) and p.subgenre_top_k[1][0] == "classic"
    d = p.to_dict()
    assert d["subgenre"] == "punk" and d["subgenre_top_k"][0] == {"subgenre": "punk", "probability": pytest.approx(0.75)}
    seed = p.to_seed_dict()
    assert seed["predicted_subgenre"] == "punk" and seed["subgenre_confidence"] == pytest.approx(0.75)
    flat = Prediction.from_probabilities([0.2, 0.8], ["jazz", "rock"])
    assert flat.subgenre is None and flat.to_dict()["subgenre_top_k"] is None and "predicted_subgenre" not in flat.to_seed_dict()
    pop = Prediction.from_probabilities([0.1, 0.8, 0.1], ["jazz", "pop", "rock"], subgenre_probabilities=subs)
    assert pop.subgenre is None and pop.label == "pop"


def test_a_forest_of_genre_subgenre_classes_sums_them_per_genre():
    classes = ["jazz/classic", "jazz/swing", "pop", "rock/classic", "rock/punk"]
    tree = forest_tree(classes)
    assert tree == TREE and forest_tree(["jazz", "rock"]) is None
    pg, ps = leaf_levels(np.array([[0.1, 0.2, 0.3, 0.1, 0.3]]), classes, tree)
    assert pg == pytest.approx(np.array([[0.3, 0.3, 0.4]])) and ps == pytest.approx(np.array([[0.1, 0.2, 0.1, 0.3]]))


def test_layout_problems_are_reported_one_line_each(tmp_path):
    from muzo_lib.data.datasets import scan_dataset
    from tests.helpers import tiny_two_level_dataset, tone, write

    root = tiny_two_level_dataset(tmp_path / "data", per_subgenre=1, seconds=3.2)
    write(root / "rock" / "punk" / "live" / "deep.wav", tone(3.2))
    (root / "jazz" / "fusion").mkdir()
    (root / "jazz" / "fusion" / "notes.txt").write_text("no audio here")
    write(root / "pop" / "dance" / "pop_dance.wav", tone(3.2, freq=300))
    (root / "rock" / "grunge").mkdir()
    manifest = scan_dataset(root)
    problems = layout_problems(manifest)
    assert sorted((p.kind, p.where) for p in problems) == [
        ("empty", "rock/grunge"), ("mixed", "pop"), ("nested", "rock/punk/live/deep"),
        ("no_audio", "jazz/fusion"), ("shared_name", "classic")]
    by_kind = {p.kind: p for p in problems}
    assert by_kind["shared_name"].genres == ("jazz", "rock") and by_kind["nested"].count == 1
    lines = check_layout(manifest)
    assert lines == [p.line for p in problems] and all(line and "\n" not in line for line in lines)
    assert all(p.where in p.line for p in problems)               # each line names what it is about
