"""The registry of model kinds: the one place that names them.

A kind says what its files look like and which functions train, cross-validate and load it;
the CLI (argument choices, checks), the course (model paths, training, cross-validation),
prediction (which loader for a file) and export (which exporter) look kinds up here instead of
switching on their names. The functions are ``"module:function"`` strings, imported only
when called, so this module imports nothing (no torch, no scikit-learn) and sits at the
bottom of the layers.

Adding a kind is one module with its functions plus one :func:`register_kind` call
(``tests/fake_kind.py`` is a complete example, living outside ``muzo_lib``).

The functions a kind names, and what they are called with:

- ``train(run, path, seed, **options) -> dict``: train on the run's train split, save to
  ``path`` (``None``: the course's place in the run) and score valid and test; ``options``
  are :func:`muzo_lib.course.members.train_member`'s (``train_config``, ``mel_config``,
  ``model_options``, ``rf_params``, ``progress``, ``resume``, ``levels``): take what applies.
- ``cross_validate(run, seed, **options) -> fold``: whatever is computed once for all folds
  (log-mels, embeddings), then ``fold(fold_run, fold_index) -> (track_ids, probabilities)``
  trains on ``fold_run``'s train tracks and predicts its test tracks (columns: ``run.classes``).
- ``load(path, device) -> Predictor``: the file as a :class:`muzo_lib.models.predictor.Predictor`.
- ``recognizes(path) -> bool``: whether a file is this kind's, read from its content (a
  renamed file is still recognised); files no kind recognises go to the first kind whose
  ``suffixes`` match their name (whose loader then says what is wrong with them).
- ``export(path, opset) -> (onnx ModelProto, metadata)``: the ONNX graph (``None``: no export).

Example:
    >>> model_kind("rf").course_file
    'rf_model.skops'
    >>> [k.name for k in trainable_kinds()]
    ['cnn', 'hybrid', 'rf', 'musicnn', 'musicnn-finetune']
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelKind:
    """One kind of model: its files and the functions that make and read them.

    Attributes:
        name: what ``--architecture`` and the course call it (``"cnn"``).
        description: one phrase for help texts.
        course_file: where the course keeps its model, relative to the run folder
            (``None``: the course never trains it).
        suffixes: file endings its model files take, the usual one first.
        network: trained here by :func:`muzo_lib.training.loop.fit` (resume, DDP, epochs apply).
        subgenres: can learn genre and subgenre (``--levels both``).
        train, cross_validate, load, recognizes, export: ``"module:function"`` (see the
            module doc); ``None`` where the kind has no such function.
        options: the ``model_options`` keys its train function reads (``muzo train`` refuses
            the others' flags for it, in one line).
    """
    name: str
    description: str
    course_file: str | None
    suffixes: tuple[str, ...]
    network: bool
    subgenres: bool
    train: str | None
    cross_validate: str | None
    load: str
    recognizes: str
    export: str | None = None
    options: tuple[str, ...] = ()

    def function(self, role: str):
        """The function named by field ``role`` (``"train"``, ``"load"``...), imported now."""
        target = getattr(self, role)
        if target is None:
            raise ValueError(f"{self.name} models have no {role.replace('_', '-')} function")
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)


KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Add ``kind`` to :data:`KINDS` (replacing one of the same name); returns it."""
    KINDS[kind.name] = kind
    return kind


def model_kind(name: str) -> ModelKind:
    """The registered kind called ``name``.

    Raises:
        ValueError: no such kind (one line listing the known ones).
    """
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(trainable_names())}") from None


def trainable_kinds() -> list[ModelKind]:
    """The kinds that train (every one but exported files), in registration order."""
    return [k for k in KINDS.values() if k.train is not None]


def trainable_names() -> list[str]:
    return [k.name for k in trainable_kinds()]


def kind_of_file(path: str | os.PathLike) -> ModelKind:
    """The kind whose :attr:`~ModelKind.recognizes` accepts the file's content; else the first
    whose :attr:`~ModelKind.suffixes` match its name; else the first kind that trains (the
    network checkpoint's): the chosen kind's loader then says what the file is not."""
    path = Path(path)
    for kind in KINDS.values():
        try:
            recognizes = kind.function("recognizes")
        except ModuleNotFoundError:  # a kind whose code cannot run here (no torch, say) reads no file
            continue
        if recognizes(path):
            return kind
    for kind in KINDS.values():
        if path.suffix.lower() in kind.suffixes:
            return kind
    return trainable_kinds()[0]


# ---------------------------------------------------------------- the kinds of muzo_lib
# Order matters for kind_of_file: the torch-free .onnx check first, then the zip checks that
# import nothing, then the forest's (scikit-learn) before musicnn's (torch).

register_kind(ModelKind(
    name="onnx", description="an exported network or musicnn classifier, run by onnxruntime without torch",
    course_file=None, suffixes=(".onnx",), network=False, subgenres=True, train=None, cross_validate=None,
    load="muzo_lib.inference.onnx_predictor:load_onnx_predictor", recognizes="muzo_lib.inference.onnx_predictor:looks_like_onnx"))
for _name, _description, _file in (("cnn", "spectrogram CNN", "models/cnn.pt"),
                                   ("hybrid", "CNN + BiLSTM + attention", "models/hybrid.pt")):
    register_kind(ModelKind(
        name=_name, description=_description, course_file=_file, suffixes=(".pt", ".pth"), network=True,
        subgenres=True, train="muzo_lib.course.members:train_network",
        cross_validate="muzo_lib.course.members:network_folds", load="muzo_lib.inference.prediction:load_network",
        recognizes="muzo_lib.io.skops_files:is_torch_zip", export="muzo_lib.inference.export:network_graph"))
register_kind(ModelKind(
    name="rf", description="Random Forest on hand-made features", course_file="rf_model.skops",
    suffixes=(".skops",), network=False, subgenres=True, train="muzo_lib.course.members:train_forest",
    cross_validate="muzo_lib.course.members:forest_folds", load="muzo_lib.inference.prediction:load_forest",
    recognizes="muzo_lib.models.forest:is_forest_model"))
register_kind(ModelKind(
    name="musicnn", description="logistic regression on embeddings of the pretrained musicnn network: the best "
                                 "choice for small datasets",
    course_file="models/musicnn.skops", suffixes=(".skops",), network=False, subgenres=False,
    train="muzo_lib.course.members:train_embedding_classifier",
    cross_validate="muzo_lib.course.members:embedding_folds",
    load="muzo_lib.models.pretrained.classifier:load_embedding_predictor",
    recognizes="muzo_lib.models.pretrained.classifier:is_embedding_model", export="muzo_lib.inference.export:embedding_graph",
    options=("pretrained",)))
register_kind(ModelKind(
    name="musicnn-finetune", description="the pretrained musicnn network with a new genre head, fine-tuned on crops "
                                          "(--finetune head|top|all)",
    course_file=None, suffixes=(".pt", ".pth"), network=True, subgenres=False,
    train="muzo_lib.course.finetuning:train_finetuned", cross_validate="muzo_lib.course.finetuning:finetune_folds",
    load="muzo_lib.inference.prediction:load_network", recognizes="muzo_lib.io.skops_files:is_torch_zip",
    export="muzo_lib.inference.export:network_graph", options=("pretrained", "finetune", "features", "body_lr_factor")))
