"""Genre and subgenre: the class tree, consistent two-level decisions, and their scores.

A dataset laid out as ``<genre>/<subgenre>/<file>`` gives every track two labels. The
:class:`ClassTree` names them: genres (``"reggae"``) and subgenres, always written
``"genre/subgenre"`` (``"reggae/ska"``), so a subgenre name used under two genres is two
classes. A track straight under its genre folder has an *unspecified* subgenre: it teaches
the genre level only and is never a subgenre class to predict.

A two-level network (see :class:`TwoLevelLoss`) outputs ``G + S`` logits: the first ``G``
are the genre head, the last ``S`` the subgenre head, both rows of the final dense layer,
so both heads read the same shared body. Its probability vector is the two softmaxes side
by side (each sums to 1). :func:`decide` turns the two distributions into one *consistent*
answer (the subgenre belongs to the genre) in one of three ways (:data:`DECODERS`).

Label encoding (one integer per track, as :class:`~muzo_lib.training.loop.TrackSet` holds):
``G + s`` for a track of subgenre ``s``; the genre index ``g`` when the subgenre is
unspecified. Prediction reads the same way.

Example:
    >>> tree = ClassTree.from_labels(["reggae", "reggae", "jazz"], ["roots", "ska", ""])
    >>> tree.genres, tree.subgenres
    (('jazz', 'reggae'), ('reggae/roots', 'reggae/ska'))
    >>> genre, sub, sub_conf = decide(p_genre, p_sub, tree, "top-down")
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

# torch is imported by the loss alone: the tree and the decoders are numpy, and the
# onnxruntime predictor (muzo_lib.inference.onnx_predictor) uses them without torch
if TYPE_CHECKING:
    import torch

#: The ways to turn a genre and a subgenre distribution into one answer:
#: ``"independent"``: each head's own arg-max: the subgenre may belong to another genre (the
#: one inconsistent way, kept to measure what consistency costs or gains);
#: ``"marginal"``: genre = the subgenre probabilities summed per genre (genres without
#: subgenres keep the genre head's share), subgenre = the best inside it;
#: ``"top-down"``: genre = the genre head's arg-max, subgenre = the best inside it.
DECODERS = ("independent", "marginal", "top-down")
#: What the library uses unless told otherwise; notebook 06 compares the three and shows why.
DEFAULT_DECODER = "top-down"
#: Weight of the subgenre term in the two-level loss (the genre term weighs 1).
SUBGENRE_WEIGHT = 1.0


@dataclass(frozen=True)
class ClassTree:
    """Genres and their subgenres.

    Attributes:
        genres: genre names, sorted (the genre head's output order).
        subgenres: ``"genre/subgenre"`` names, sorted (the subgenre head's output order).
        unspecified: genres with tracks that have no subgenre folder (genre-level labels only).
    """
    genres: tuple[str, ...]
    subgenres: tuple[str, ...]
    unspecified: tuple[str, ...] = ()

    def __post_init__(self):
        for s in self.subgenres:
            if s.split("/", 1)[0] not in self.genres or "/" not in s:
                raise ValueError(f"subgenre {s!r} is not 'genre/subgenre' with a genre among {list(self.genres)}")

    @classmethod
    def from_labels(cls, genres, subgenres) -> "ClassTree":
        """The tree of a dataset's per-track genre and subgenre names (``""`` = unspecified)."""
        pairs = [(str(g), "" if s is None or s != s else str(s)) for g, s in zip(genres, subgenres)]
        return cls(genres=tuple(sorted({g for g, _ in pairs})),
                   subgenres=tuple(sorted({f"{g}/{s}" for g, s in pairs if s})),
                   unspecified=tuple(sorted({g for g, s in pairs if not s})))

    @classmethod
    def from_dict(cls, values: dict) -> "ClassTree":
        return cls(tuple(values["genres"]), tuple(values["subgenres"]), tuple(values.get("unspecified", ())))

    def to_dict(self) -> dict:
        return {"genres": list(self.genres), "subgenres": list(self.subgenres), "unspecified": list(self.unspecified)}

    @property
    def has_subgenres(self) -> bool:
        return bool(self.subgenres)

    @property
    def n_outputs(self) -> int:
        """Outputs of a two-level network: ``G`` genre logits then ``S`` subgenre logits."""
        return len(self.genres) + len(self.subgenres)

    @property
    def output_names(self) -> list[str]:
        """A two-level network's output names, in order (what its checkpoint's ``classes`` holds)."""
        return list(self.genres) + list(self.subgenres)

    @property
    def parent(self) -> np.ndarray:
        """Genre index of each subgenre ``(S,)``."""
        return np.array([self.genres.index(s.split("/", 1)[0]) for s in self.subgenres], dtype=np.int64)

    def children(self, genre: int) -> np.ndarray:
        """Subgenre indices of genre index ``genre`` (empty for a genre without subgenres)."""
        return np.flatnonzero(self.parent == genre)

    def encode(self, genres, subgenres) -> np.ndarray:
        """Integer labels (see the module doc): ``G + s`` with a subgenre, else the genre index."""
        out = []
        for g, s in zip(genres, subgenres):
            s = "" if s is None or s != s else str(s)
            out.append(len(self.genres) + self.subgenres.index(f"{g}/{s}") if s else self.genres.index(str(g)))
        return np.asarray(out, dtype=np.int64)

    def split_labels(self, labels) -> tuple[np.ndarray, np.ndarray]:
        """``(genre index, subgenre index or -1)`` of encoded labels."""
        labels = np.asarray(labels, dtype=np.int64)
        g = len(self.genres)
        sub = np.where(labels >= g, labels - g, -1)
        genre = np.where(labels >= g, self.parent[np.clip(sub, 0, None)] if len(self.subgenres) else labels, labels)
        return genre, sub

    def split_probabilities(self, probs) -> tuple[np.ndarray, np.ndarray]:
        """A two-level network's ``(n, G + S)`` probabilities as ``(genre (n, G), subgenre (n, S))``."""
        probs = np.asarray(probs)
        return probs[:, :len(self.genres)], probs[:, len(self.genres):]

    def describe(self) -> list[str]:
        """One line per genre: its subgenres, or that it has none, for logs and notebooks."""
        lines = []
        for i, genre in enumerate(self.genres):
            kids = [self.subgenres[c].split("/", 1)[1] for c in self.children(i)]
            note = " (+ tracks with no subgenre: genre level only)" if genre in self.unspecified and kids else ""
            lines.append(f"{genre}: {', '.join(kids) if kids else 'no subgenres (genre level only)'}{note}")
        return lines


@dataclass(frozen=True)
class LayoutProblem:
    """One thing in a ``<genre>/<subgenre>/<file>`` folder that does not fit (see :func:`layout_problems`).

    Attributes:
        kind: ``"nested"`` (files deeper than ``<genre>/<subgenre>/<file>``), ``"empty"`` (a
            subgenre folder with no file), ``"no_audio"`` (a subgenre folder with no usable
            audio), ``"shared_name"`` (a subgenre name under several genres) or ``"mixed"`` (a
            genre with tracks both in and outside subgenre folders).
        where: the folder or name concerned: the first nested track id, ``"genre/subgenre"``,
            the shared subgenre name, or the mixed genre.
        genres: the genres a shared subgenre name is used under (empty for the other kinds).
        count: the files nested too deep (``"nested"``; else 0).
        line: the one-line report of it.
    """
    kind: str
    where: str
    line: str
    genres: tuple[str, ...] = ()
    count: int = 0


def layout_problems(manifest) -> list[LayoutProblem]:
    """Problems of a ``<genre>/<subgenre>/<file>`` layout, one :class:`LayoutProblem` each
    (the scan keeps every file).

    - a file nested deeper than ``<genre>/<subgenre>/<file>``: its subgenre is the first folder
      below the genre, and the deeper folders are ignored as labels (said here, so nothing is
      lost silently);
    - a subgenre folder that is empty or has no usable audio: it is not a class;
    - a subgenre name found under two genres: two classes, ``genre/subgenre`` each;
    - a genre with tracks in and outside subgenre folders: those outside count for the genre only.

    Args:
        manifest: from :func:`muzo_lib.data.datasets.scan_dataset` (``track_id`` is the path
            relative to the dataset root without its extension; ``attrs["root"]``, when set, is
            searched for empty subgenre folders, which leave no manifest row).
    """
    from pathlib import Path

    problems = []
    root = Path(manifest.attrs.get("root") or "")
    if manifest.attrs.get("root") and root.is_dir():
        for folder in sorted(p for p in root.glob("*/*") if p.is_dir() and not p.name.startswith(".")):
            if not any(f.is_file() for f in folder.rglob("*")):
                where = f"{folder.parent.name}/{folder.name}"
                problems.append(LayoutProblem("empty", where, f"subgenre folder {where} is empty: not a class"))
    parts = manifest.track_id.astype(str).str.split("/")
    deep = manifest[parts.map(len) > 3]
    if len(deep):
        first = str(deep.track_id.iloc[0])
        problems.append(LayoutProblem(
            "nested", first, f"{len(deep)} file(s) nested deeper than <genre>/<subgenre>/<file> (e.g. {first}): "
            "labelled by their first two folders", count=len(deep)))
    with_sub = manifest[manifest.subgenre.fillna("").astype(str) != ""]
    ok = with_sub[with_sub.status == "ok"]
    for (genre, sub), rows in with_sub.groupby(["genre", "subgenre"]):
        if not (rows.status == "ok").any():
            where = f"{genre}/{sub}"
            problems.append(LayoutProblem("no_audio", where, f"subgenre folder {where} has no usable audio: not a class"))
    shared = ok.groupby("subgenre").genre.unique()
    for sub, genres in shared.items():
        if len(genres) > 1:
            names = tuple(sorted(genres))
            problems.append(LayoutProblem(
                "shared_name", str(sub), f"subgenre name {sub!r} is used under {len(names)} genres ({', '.join(names)}): "
                f"{len(names)} classes, " + ", ".join(f"{g}/{sub}" for g in names), genres=names))
    mixed = sorted(set(ok.genre) & set(manifest[(manifest.status == "ok") & (manifest.subgenre.fillna("") == "")].genre))
    for genre in mixed:
        problems.append(LayoutProblem(
            "mixed", str(genre),
            f"genre {genre} has tracks with and without a subgenre folder: those without count for the genre only"))
    return problems


def check_layout(manifest) -> list[str]:
    """The one-line reports of :func:`layout_problems`, in its order (for logs and notebooks)."""
    return [problem.line for problem in layout_problems(manifest)]


# ---------------------------------------------------------------- deciding

def decide(p_genre, p_sub, tree: ClassTree, method: str = DEFAULT_DECODER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (genre, subgenre) answer per row, consistent for every method but ``"independent"``.

    Args:
        p_genre: genre head probabilities ``(n, G)``.
        p_sub: subgenre head probabilities ``(n, S)``.
        tree: the class tree.
        method: one of :data:`DECODERS`.

    Returns:
        ``(genre (n,), subgenre (n,), subgenre_confidence (n,))``: indices into ``tree.genres``
        and ``tree.subgenres`` (``-1`` where the genre has no subgenres), and the subgenre's
        probability *given its genre* (its share of the genre's subgenre mass, 0-1; nan for -1).
        The subgenre belongs to the genre, except with ``"independent"``, which returns the
        subgenre head's own arg-max and its plain probability.
    """
    if method not in DECODERS:
        raise ValueError(f"unknown decoder {method!r}; choose from {list(DECODERS)}")
    p_genre, p_sub = np.asarray(p_genre, dtype=float), np.asarray(p_sub, dtype=float)
    if method == "marginal":
        genre = genre_probabilities(p_genre, p_sub, tree, "marginal").argmax(axis=1)
    else:  # independent and top-down agree on the genre: the genre head's own arg-max
        genre = p_genre.argmax(axis=1)
    if method == "independent" and tree.has_subgenres:
        sub = p_sub.argmax(axis=1)
        return genre, sub, p_sub[np.arange(len(sub)), sub]
    sub, conf = within_genre(p_sub, genre, tree)
    return genre, sub, conf


def genre_probabilities(p_genre, p_sub, tree: ClassTree, method: str = DEFAULT_DECODER) -> np.ndarray:
    """The genre distribution ``(n, G)`` a decoder reports: the genre head's for
    ``"independent"`` and ``"top-down"``; for ``"marginal"`` the subgenre probabilities summed
    per genre, genres without subgenres keeping the genre head's share (rows sum to 1)."""
    p_genre = np.asarray(p_genre, dtype=float)
    if method != "marginal" or not tree.has_subgenres:
        return p_genre
    parent = tree.parent
    has_kids = np.isin(np.arange(len(tree.genres)), parent)
    out = np.zeros_like(p_genre)
    np.add.at(out.T, parent, np.asarray(p_sub, dtype=float).T)
    childless = (p_genre * ~has_kids).sum(axis=1, keepdims=True)
    return np.where(has_kids, out * (1 - childless), p_genre)


def within_genre(p_sub, genre, tree: ClassTree) -> tuple[np.ndarray, np.ndarray]:
    """Best subgenre inside each row's ``genre`` and its conditional probability (nan / -1 when none)."""
    p_sub = np.asarray(p_sub, dtype=float)
    genre = np.asarray(genre)
    inside = tree.parent[None, :] == genre[:, None] if tree.has_subgenres else np.zeros((len(genre), 0), bool)
    masked = np.where(inside, p_sub, -1.0)
    has = inside.any(axis=1)
    sub = np.where(has, masked.argmax(axis=1) if masked.shape[1] else 0, -1)
    mass = np.where(inside, p_sub, 0.0).sum(axis=1)
    best = np.take_along_axis(masked, np.clip(sub, 0, None)[:, None], 1)[:, 0] if masked.shape[1] else np.zeros(len(genre))
    conf = np.where(has, best / np.maximum(mass, 1e-12), np.nan)
    return sub.astype(np.int64), conf


def inconsistency_rate(p_genre, p_sub, tree: ClassTree) -> float:
    """Share of rows (0-1) where the two heads' own arg-maxes disagree (the subgenre head's
    favourite lies outside the genre head's favourite): what ``"independent"`` would report."""
    if not tree.has_subgenres:
        return 0.0
    genre = np.asarray(p_genre).argmax(axis=1)
    has_kids = np.isin(genre, tree.parent)
    return float(np.mean(has_kids & (tree.parent[np.asarray(p_sub).argmax(axis=1)] != genre)))


def leaf_levels(probs, classes: list[str], tree: ClassTree | None) -> tuple[np.ndarray, np.ndarray]:
    """``(genre (n, G), subgenre (n, S))`` probabilities of a *flat* model over leaf classes
    ``genre/subgenre`` (and plain genres for tracks without one): the two-level forest, or a
    flat 12-way network. A genre's probability is the sum of its classes (marginalised), a
    subgenre's its own. ``tree=None``: ``(probs, empty)``."""
    probs = np.asarray(probs, dtype=float)
    if tree is None:
        return probs, np.zeros((len(probs), 0))
    p_genre = np.zeros((len(probs), len(tree.genres)))
    p_sub = np.zeros((len(probs), len(tree.subgenres)))
    for j, name in enumerate(classes):
        p_genre[:, tree.genres.index(name.split("/", 1)[0])] += probs[:, j]
        if "/" in name:
            p_sub[:, tree.subgenres.index(name)] += probs[:, j]
    return p_genre, p_sub


def forest_tree(classes) -> ClassTree | None:
    """The class tree a forest's classes imply (``genre/subgenre`` names), ``None`` for genres only."""
    classes = [str(c) for c in classes]
    if not any("/" in c for c in classes):
        return None
    pairs = [c.split("/", 1) if "/" in c else (c, "") for c in classes]
    return ClassTree.from_labels([g for g, _ in pairs], [s for _, s in pairs])


# ---------------------------------------------------------------- the loss

class TwoLevelLoss:
    """Multi-task loss of a two-level network: ``CE(genre) + subgenre_weight * CE(subgenre)``.

    The genre term covers every crop; the subgenre term only crops whose track has a
    subgenre (unspecified ones teach the genre alone), averaged over all crops of the batch
    so the weight means the same whatever the share of labelled crops. ``subgenre_weight=1``
    (:data:`SUBGENRE_WEIGHT`) weighs both levels equally; 0 trains a genre-only body with an
    untrained subgenre head.

    Plugged into :func:`muzo_lib.training.loop.fit` as its ``objective``: targets arrive as
    ``(batch, G + S)`` class probabilities (one-hot of the encoded label, or a mixup blend),
    so mixup mixes both levels consistently.
    """

    def __init__(self, tree: ClassTree, subgenre_weight: float = SUBGENRE_WEIGHT):
        import torch

        if not subgenre_weight >= 0:
            raise ValueError(f"subgenre_weight must be >= 0, got {subgenre_weight}")
        self.tree, self.subgenre_weight = tree, float(subgenre_weight)
        self._to_genre = torch.from_numpy(np.eye(len(tree.genres), dtype=np.float32)[tree.parent]) \
            if tree.has_subgenres else torch.zeros((0, len(tree.genres)))
        self.n_genres = len(tree.genres)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """Summed loss over the batch (the loop divides by the batch size)."""
        from torch.nn import functional as F

        g = self.n_genres
        t_sub = targets[:, g:]
        t_genre = targets[:, :g] + t_sub @ self._to_genre.to(targets.device, targets.dtype)
        loss = F.cross_entropy(logits[:, :g], t_genre, reduction="sum", label_smoothing=label_smoothing)
        mass = t_sub.sum(dim=1)
        labelled = mass > 1e-6
        if self.subgenre_weight and self.tree.has_subgenres and bool(labelled.any()):
            sub = F.cross_entropy(logits[labelled, g:], t_sub[labelled] / mass[labelled, None], reduction="none")
            loss = loss + self.subgenre_weight * (sub * mass[labelled]).sum()
        return loss

    def hits(self, logits: torch.Tensor, labels: torch.Tensor) -> int:
        """Crops whose genre is right (the training log's accuracy is the genre's)."""
        import torch

        genre = torch.as_tensor(self.tree.split_labels(labels.cpu().numpy())[0], device=logits.device)
        return int((logits[:, :self.n_genres].argmax(1) == genre).sum())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(batch, G + S)``: the genre softmax, then the subgenre softmax."""
        import torch

        g = self.n_genres
        return torch.cat([torch.softmax(logits[:, :g], dim=-1), torch.softmax(logits[:, g:], dim=-1)], dim=-1)

    def segment_loss(self, probs: np.ndarray, labels: np.ndarray) -> float:
        """Mean per-segment loss from :meth:`probabilities` output (validation loss)."""
        if not len(labels):
            return float("nan")
        genre, sub = self.tree.split_labels(labels)
        p_genre, p_sub = self.tree.split_probabilities(probs)
        rows = np.arange(len(labels))
        loss = -np.log(np.clip(p_genre[rows, genre], 1e-12, None))
        if self.tree.has_subgenres:
            known = sub >= 0
            loss[known] -= self.subgenre_weight * np.log(np.clip(p_sub[rows[known], sub[known]], 1e-12, None))
        return float(loss.mean())

    def genre_predictions(self, probs: np.ndarray) -> np.ndarray:
        """Genre index per row of :meth:`probabilities` output (the genre head's arg-max)."""
        return np.asarray(probs)[:, :self.n_genres].argmax(axis=1)


# ---------------------------------------------------------------- scores

def hierarchical_scores(labels, genre_pred, sub_pred, tree: ClassTree, level: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> dict:
    """The two-level scores, each a percentage with a percentile-bootstrap interval over tracks.

    Args:
        labels: encoded true labels (:meth:`ClassTree.encode`), one per track.
        genre_pred, sub_pred: predicted genre and subgenre indices (:func:`decide`).
        tree: the class tree.

    Returns:
        ``{name: {"value", "ci": (low, high), "n"}}`` (percent; ``n`` = the tracks the score rests on) for
        ``genre`` (all tracks), ``subgenre`` (tracks with a known subgenre: the reported subgenre is
        theirs), ``subgenre_given_genre`` (those whose genre was right), ``errors_within_genre``
        (of the tracks whose subgenre is wrong, the share whose genre is still right), plus
        ``subgenre_chance`` (100 / S, percent).
    """
    true_genre, true_sub = tree.split_labels(labels)
    genre_pred, sub_pred = np.asarray(genre_pred), np.asarray(sub_pred)
    genre_ok = genre_pred == true_genre
    known = true_sub >= 0
    sub_ok = known & (sub_pred == true_sub)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(true_genre), size=(n_boot, len(true_genre))) if len(true_genre) else None
    parts = {"genre": (genre_ok, np.ones_like(genre_ok)), "subgenre": (sub_ok, known),
             "subgenre_given_genre": (sub_ok, known & genre_ok),
             "errors_within_genre": (known & ~sub_ok & genre_ok, known & ~sub_ok)}
    out = {name: _ratio(num, den, idx, level) for name, (num, den) in parts.items()}
    out["subgenre_chance"] = 100.0 / len(tree.subgenres) if tree.has_subgenres else float("nan")
    return out


def _ratio(num: np.ndarray, den: np.ndarray, idx, level: float) -> dict:
    n = int(den.sum())
    if n == 0:
        return {"value": float("nan"), "ci": (float("nan"), float("nan")), "n": 0}
    value = 100.0 * float((num & den).sum()) / n
    b_num, b_den = (num & den)[idx].sum(axis=1), den[idx].sum(axis=1)
    boots = 100.0 * b_num[b_den > 0] / b_den[b_den > 0]
    tail = 100 * (1 - level) / 2
    low, high = (float(v) for v in np.percentile(boots, [tail, 100 - tail]))
    return {"value": value, "ci": (low, high), "n": n}


def subgenre_confusion(labels, sub_pred, tree: ClassTree) -> np.ndarray:
    """Confusion counts ``(S, S)`` over tracks with a known subgenre (rows true, columns
    predicted), in :attr:`ClassTree.subgenres` order, which groups them by genre."""
    _, true_sub = tree.split_labels(labels)
    known = (true_sub >= 0) & (np.asarray(sub_pred) >= 0)
    matrix = np.zeros((len(tree.subgenres),) * 2, dtype=np.int64)
    np.add.at(matrix, (true_sub[known], np.asarray(sub_pred)[known]), 1)
    return matrix
