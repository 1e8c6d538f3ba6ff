"""The course's models: the defaults every notebook trains with, and one call per job.

- :func:`course_train_config`: the networks' course training settings, in one place, so a
  ``-p learning_rate ...`` given to ``muzo course`` reaches every notebook that trains;
- :func:`train_on_run`: train a network on a run's cached log-mels, score it, save it
  (notebooks 03-04, ``muzo train``, the seed API);
- :func:`train_member`, :func:`ensure_course_model`, :func:`cross_validate`: any model kind of
  :mod:`muzo_lib.models.kinds` (CNN, hybrid, Random Forest, musicnn...) at its course place in
  the run, trained only when missing; each kind's own functions (:func:`train_network`,
  :func:`train_forest`, :func:`train_embedding_classifier`; :func:`network_folds`,
  :func:`forest_folds`, :func:`embedding_folds`) are reached through the registry;
- :func:`member_probabilities`, :func:`network_summary`: what the ensemble and the
  summary read back from a run.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from muzo_lib.data.runs import save_metrics, score_record
from muzo_lib.evaluation.metrics import CVResult, classification_metrics, metric_intervals
from muzo_lib.features.augment import AugmentConfig
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.inference.ensemble import align_probabilities
from muzo_lib.models.kinds import model_kind, trainable_kinds
from muzo_lib.models.networks import ARCHITECTURES, build_model, config_to_dict, count_parameters
from muzo_lib.training.checkpoints import save_checkpoint
from muzo_lib.training.loop import TrackSet, TrainConfig, TrainResult, evaluate, fit, seed_everything

#: The course's log-mel input: 64 mel bands (22050 Hz, FFT 2048, hop 512, as the library's
#: defaults otherwise). Half the seed's 128 bands halves every convolution's work: on 2 AVX2
#: cores the default CNN trains at about 2x the crops per second (benchmarks/bench_cnn.py), which
#: is what lets the course's five trainings fit its 10-minute budget. ``-p n_mels 128`` is the
#: seed's (research) input.
COURSE_MEL = MelConfig(n_mels=64)

#: The networks' course defaults, chosen from measurements on 2 CPU cores without bf16
#: (docs/results.md, "Course settings"). ``epochs`` is a cap: the LR is halved after two epochs
#: without a better validation loss (``lr_patience`` 1: PyTorch's ReduceLROnPlateau cuts on the
#: epoch *after* ``lr_patience`` bad ones) and training stops after four (``early_stopping_patience``).
#: Three was too few for 48 validation tracks: one noisy epoch early on stopped a bf16 run of
#: notebook 03's CNN at epoch 7 (72.9% on test), where four let both CPU kinds train on to
#: epochs 18-23 (97.9-100%).
#: Batches of 16 crops: twice the optimizer steps of 32 for the same crops, at the same crops/s
#: on a CPU. Anything not listed is :class:`TrainConfig`'s own default.
#: No per-batch progress bars in the course, and one log line per epoch (``log_style="compact"``):
#: a training reads as a table a learner can scan. A notebook cell that trains
#: for minutes sent thousands of widget messages, which overflowed the kernel's output queue
#: under nbval on a loaded machine ("Timeout of 5 seconds exceeded waiting for output").
COURSE_TRAINING = {"epochs": 30, "batch_size": 16, "learning_rate": 0.002, "segment_seconds": 3.0,
                   "crops_per_track": 2, "early_stopping_patience": 4, "lr_patience": 1, "progress": False,
                   "log_style": "compact"}
#: The course trains without augmentation: at its budget (a few thousand crops per network) the
#: masks and gains slow learning more than they regularise (notebook 03's ablation measures it).
COURSE_AUGMENT = {"freq_masks": 0, "time_masks": 0, "gain_db": 0.0, "mixup_alpha": 0.0}
#: What notebook 03's ablation switches on: one SpecAugment frequency mask of up to 6 of the 64
#: bands (the share 12 of 128 would be), one time mask of up to 20 frames (0.46 s) and a random
#: gain of +-6 dB per crop.
ABLATION_AUGMENT = {"freq_masks": 1, "freq_mask_bands": 6, "time_masks": 1, "time_mask_frames": 20, "gain_db": 6.0,
                    "mixup_alpha": 0.0}
#: The course's Random Forest (notebooks 02, 05, 07, 08, ``muzo train --architecture rf``):
#: 200 trees, where :class:`~muzo_lib.models.forest.MusicGenreClassifier`'s own default is
#: :data:`~muzo_lib.models.forest.FOREST_TREES` (300). Anything not listed is the estimator's default.
COURSE_FOREST = {"n_estimators": 200}


def course_mel_config(n_mels: int | None = None, **overrides) -> MelConfig:
    """The course's log-mel settings (:data:`COURSE_MEL`) with overrides on top; ``None``
    keeps the course default, so a notebook passes its ``n_mels = None`` parameter through.

    Example:
        >>> course_mel_config(n_mels).n_mels      # 64, or what -p n_mels gave
    """
    given = {k: v for k, v in {"n_mels": n_mels, **overrides}.items() if v is not None}
    return MelConfig(**{**COURSE_MEL.to_dict(), **given})


def course_train_config(**overrides) -> TrainConfig:
    """The course's :class:`TrainConfig`, with ``overrides`` on top.

    Args:
        **overrides: any :class:`TrainConfig` field (``epochs``, ``learning_rate``,
            ``device``...) or :class:`AugmentConfig` field (``freq_masks``, ``gain_db``,
            ``mixup_alpha``...). ``None`` keeps the course default, and ``device=""``
            means "CUDA when present", so a notebook can pass its parameters straight through.

    Raises:
        TypeError: an override that is neither kind of field.

    Example:
        >>> course_train_config(epochs=epochs, learning_rate=learning_rate, seed=seed)
    """
    train_fields, augment_fields = set(TrainConfig.__dataclass_fields__), set(AugmentConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - train_fields - augment_fields)
    if unknown:
        raise TypeError(f"course_train_config: unknown setting(s) {unknown}")
    given = {k: v for k, v in overrides.items() if v is not None and not (k == "device" and v == "")}
    base = given.pop("augment", COURSE_AUGMENT)
    base = base.to_dict() if isinstance(base, AugmentConfig) else dict(base)
    augment = {**base, **{k: v for k, v in given.items() if k in augment_fields}}
    train = {**COURSE_TRAINING, **{k: v for k, v in given.items() if k in train_fields}}
    return TrainConfig(**{**train, "augment": AugmentConfig(**augment)})


class _CourseFiles(Mapping):
    """``{kind: file relative to the run folder}``, read from the registry each time (so a kind
    registered later is in it too)."""

    def __getitem__(self, name: str) -> str:
        if name not in self._names():
            raise KeyError(name)
        return model_kind(name).course_file

    def __iter__(self):
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @staticmethod
    def _names() -> list[str]:
        return [k.name for k in trainable_kinds() if k.course_file]


#: Where the course notebooks leave each model, relative to the run folder (02: the Random
#: Forest, 03: the CNN, 04: the hybrid, 05: musicnn): each kind's
#: :attr:`~muzo_lib.models.kinds.ModelKind.course_file`.
COURSE_MODELS = _CourseFiles()


def course_model_path(run, architecture: str) -> Path:
    """The file where the course keeps ``architecture``'s model for this run."""
    kind = model_kind(architecture)
    if not kind.course_file:
        raise ValueError(f"the course keeps no {architecture} model")
    return Path(run.run_dir) / kind.course_file



def ensure_course_model(run, architecture: str, **train_kwargs) -> Path:
    """The run's model of ``architecture``, trained now (with :func:`train_member` and
    ``train_kwargs``; the course's :data:`COURSE_MEL` unless ``mel_config`` is given) only if
    an earlier notebook did not leave a usable one: missing, unreadable, or trained on other
    classes than this run's.

    Returns:
        The model file's path (see :data:`COURSE_MODELS`).
    """
    from muzo_lib.inference.prediction import load_model

    path = course_model_path(run, architecture)
    if path.is_file():
        try:
            model = load_model(path, device="cpu")
            if model.classes == list(run.classes) and model.kind == architecture:
                return path
        except (ValueError, OSError):
            pass
    train_member(run, architecture, path=None, **{"mel_config": COURSE_MEL, **train_kwargs})
    return path


def train_member(run, architecture: str, path: str | os.PathLike | None = None, seed: int | None = None,
                 train_config=None, mel_config=None, model_options: dict | None = None,
                 rf_params: dict | None = None, progress: bool = True, resume: bool | str = False,
                 levels: str = "genre") -> dict:
    """Train one model of any kind on a run's train split (selected on valid) and save it.

    Args:
        run: a :class:`muzo_lib.data.runs.RunData`.
        architecture: a kind of :mod:`muzo_lib.models.kinds`: ``"cnn"``, ``"hybrid"`` (networks,
            trained by :func:`train_on_run`), ``"rf"`` (a Random Forest on the run's cached
            hand-made features, as notebook 02), ``"musicnn"``, or a registered one.
        path: the model file to write (atomically); ``None``: the course's place in the
            run (:data:`COURSE_MODELS`; networks also write ``metrics/<architecture>.json``).
        seed: seeds weights, crops and forest; default: the run's split seed.
        train_config: a :class:`muzo_lib.training.loop.TrainConfig` (default: :func:`course_train_config`).
        mel_config: the log-mel settings (library defaults if ``None``).
        model_options: overrides of the network's config fields (e.g. ``{"rnn_hidden": 64}``).
        rf_params: :class:`MusicGenreClassifier` settings on top of :data:`COURSE_FOREST`.
        resume: networks: continue a killed training from the last checkpoint kept next to
            ``path`` (``cnn.pt`` -> ``cnn.last.pt``), see :func:`muzo_lib.training.loop.fit`.
        levels: ``"genre"`` or ``"both"`` (genre and subgenre, see :func:`train_on_run`; the
            forest then learns ``genre/subgenre`` classes and sums them per genre).

    Returns:
        dict: ``architecture``, ``path``, ``parameters`` (trainable weights; trees for the
        forest), ``training_time`` (s), ``valid`` and ``test`` (:func:`classification_metrics`
        at track level, percent); networks also ``seconds_per_epoch`` and ``history``.
    """
    kind = model_kind(architecture)
    if seed is None:
        seed = int(_run_seed(run))
    return kind.function("train")(run, path, seed, architecture=kind.name, train_config=train_config,
                                  mel_config=mel_config, model_options=model_options, rf_params=rf_params,
                                  progress=progress, resume=resume, levels=levels)


def train_network(run, path, seed: int, architecture: str = "cnn", train_config=None, mel_config=None,
                  model_options: dict | None = None, progress: bool = True, resume: bool | str = False,
                  levels: str = "genre", **_) -> dict:
    """The ``cnn`` and ``hybrid`` kinds' training (:func:`train_member`'s arguments): :func:`train_on_run`."""
    cfg = train_config or course_train_config()
    cfg = type(cfg)(**{**cfg.to_dict(), "progress": progress})
    mel = mel_config or MelConfig()
    out = train_on_run(run, architecture if path is None else Path(path).stem, architecture, mel, cfg,
                       model_options=model_options, seed=seed, save=path is None, checkpoint_path=path,
                       resume=resume, levels=levels)
    result = out.training
    target = Path(out.checkpoint_path)
    return {"architecture": architecture, "path": str(target), "parameters": out.record["parameters"],
            "seconds_per_epoch": float(np.mean(result.history["epoch_time"])),
            "training_time": result.training_time, "epochs_trained": result.epochs_trained,
            "history": result.history, "valid": out.valid["metrics"] if out.valid else None,
            "test": {**out.test["metrics"], "accuracy_ci": out.record["accuracy_ci"],
                     "macro_f1_ci": out.record["macro_f1_ci"]} if out.test else None,
            "levels": out.record.get("levels")}


@dataclass
class TrainedNetwork:
    """What :func:`train_on_run` (and :func:`reuse_course_network`) give back.

    ``record`` is what ``metrics/<name>.json`` holds (:func:`muzo_lib.data.runs.score_record`: test
    scores on top); ``valid`` and ``test`` are :func:`~muzo_lib.training.loop.evaluate`'s dicts (their
    own ``"metrics"`` are :func:`~muzo_lib.evaluation.metrics.classification_metrics`), ``None`` for an
    empty split; ``training`` is ``None`` when nothing was trained (a reused network).
    """
    model: torch.nn.Module
    record: dict
    valid: dict | None
    test: dict | None
    tracks: dict                   # {split: TrackSet}
    checkpoint_path: Path | None
    metrics_path: Path | None
    training: TrainResult | None = None

    def to_dict(self) -> dict:
        """JSON-ready: the record, the files, and the training facts (no weights, no arrays)."""
        return {"record": self.record, "checkpoint_path": self.checkpoint_path and str(self.checkpoint_path),
                "metrics_path": self.metrics_path and str(self.metrics_path),
                "training": self.training.to_dict() if self.training else None,
                "tracks": {split: len(t) for split, t in self.tracks.items()}}


def train_on_run(run, name: str = "cnn", architecture: str = "cnn", mel_config: MelConfig | None = None,
                 train_config: TrainConfig | None = None, model_options: dict | None = None,
                 logmels: Mapping | None = None, seed: int = 0, save: bool = True,
                 checkpoint_path: str | os.PathLike | None = None, extra: dict | None = None,
                 resume: bool | str = False, levels: str = "genre", subgenre_weight: float | None = None,
                 tensorboard: bool = True) -> TrainedNetwork:
    """Train a network on a run's cached log-mels, test it, and save it into the run.

    Trains on the ``train`` split, picks the epoch on ``valid``, scores ``test`` at track
    level (when the run has a test split). Writes ``<run_dir>/models/<name>.pt``
    (checkpoint) and ``<run_dir>/metrics/<name>.json`` (test ``accuracy``/``macro_f1`` on
    top) when ``save``.

    Args:
        run: a :class:`~muzo_lib.data.runs.RunData`.
        name: file stem for the checkpoint and metrics.
        architecture: ``"cnn"`` or ``"hybrid"``.
        mel_config: log-mel settings (default :class:`MelConfig`).
        train_config: a :class:`~muzo_lib.training.loop.TrainConfig` (its seed is replaced by ``seed``);
            default: :func:`course_train_config`.
        model_options: model config overrides (``{"head": "flatten"}``, ``{"channels": ...}``).
        logmels: ``run.logmels(mel_config)`` if already loaded.
        seed: seeds the weights and training.
        checkpoint_path: write the model file here instead (also when ``save`` is false).
        extra: values kept in the model file (e.g. the seed API's ``duration``).
        resume: continue a killed training from its last checkpoint (see :func:`~muzo_lib.training.loop.fit`).
        levels: ``"genre"``, or ``"both"``: a genre head and a subgenre head on the shared body
            (:mod:`muzo_lib.models.hierarchy`); the file then carries the class tree, and the metrics a
            ``levels`` entry with the two-level scores of every decoder.
        subgenre_weight: weight of the subgenre loss (default :data:`~muzo_lib.models.hierarchy.SUBGENRE_WEIGHT`).
        tensorboard: write TensorBoard event files to ``<run_dir>/tensorboard/<name>/`` (where
            ``tensorboard`` is installed; see :mod:`muzo_lib.training.tensorboard`).

    Returns:
        a :class:`TrainedNetwork` (``training``: the :class:`~muzo_lib.training.loop.TrainResult`).
    """
    mel = mel_config or MelConfig()
    cfg = train_config or course_train_config()
    cfg = TrainConfig(**{**asdict(cfg), "seed": seed})
    logmels = logmels if logmels is not None else run.logmels(mel, progress=cfg.progress)
    tracks = {s: TrackSet.from_run(run, logmels, s) for s in ("train", "valid", "test")}
    objective, outputs = _two_level(run, tracks, logmels, levels, subgenre_weight)
    config_class = ARCHITECTURES[architecture][0]
    options = {"n_classes": len(outputs), "n_mels": mel.n_mels, **(model_options or {})}
    if architecture == "cnn" and options.get("head") == "flatten":
        options.setdefault("input_frames", mel.frames(cfg.segment_seconds))
    seed_everything(seed)
    model = build_model(config_class(**options))
    if hasattr(model, "load_pretrained"):     # a pretrained body (musicnn-finetune): its weights, the head's seeded ones
        model.load_pretrained()
    if checkpoint_path is not None:
        checkpoint = Path(checkpoint_path).expanduser()
    else:
        checkpoint = run.run_dir / "models" / f"{name}.pt" if save else None
    extra = {"model_name": name, **(extra or {})}
    if objective is not None:
        extra.update(class_tree=objective.tree.to_dict(), subgenre_weight=objective.subgenre_weight)
    result = fit(model, tracks["train"], tracks["valid"], outputs, mel, cfg, checkpoint_path=checkpoint,
                 extra=extra, resume=resume, objective=objective,
                 tensorboard_dir=run.run_dir / "tensorboard" / name if tensorboard else None)
    frames = mel.frames(cfg.segment_seconds)

    def score(split):
        if not len(tracks[split]):
            return None
        return evaluate(model, tracks[split], run.classes, frames, cfg.device, cfg.eval_batch_size,
                        cfg.mixed_precision, objective=objective)

    valid, test = score("valid"), score("test")
    test_accuracy = test["accuracy"] if test else None
    if checkpoint is not None:  # rewrite with the history and test scores alongside the weights
        save_checkpoint(checkpoint, model, mel, outputs, cfg.segment_seconds,
                        extra={**extra, "history": result.history, "test_accuracy": test_accuracy})
    test_metrics = test["metrics"] if test else {"macro_f1": None, "per_class": None, "confusion": None}
    ci = metric_intervals(test["labels"], test["predictions"], len(run.classes), seed=seed) if test else None
    scores = {"accuracy": test_accuracy, "macro_f1": test_metrics["macro_f1"], "accuracy_ci": ci and ci["accuracy"],
              "macro_f1_ci": ci and ci["macro_f1"], "n": len(tracks["test"])}
    record = score_record(
        name, scores, architecture=architecture, segment_accuracy=test["segment_accuracy"] if test else None,
        valid_accuracy=valid["accuracy"] if valid else None, parameters=count_parameters(model),
        model_config=config_to_dict(model.config), train_config={**asdict(cfg), "device": str(cfg.device)},
        mel_config=mel.to_dict(), classes=run.classes, best_epoch=result.best_epoch,
        epochs_trained=result.epochs_trained, training_time_s=result.training_time,
        train_crops_per_s=result.segments_per_second, precision=result.precision, history=result.history,
        test_per_class=test_metrics["per_class"], test_confusion=test_metrics["confusion"], seed=seed)
    if objective is not None:
        record["levels"] = two_level_report(objective, test, seed) if test else {"class_tree": objective.tree.to_dict()}
    metrics_path = save_metrics(run.run_dir, name, record) if save else None
    return TrainedNetwork(model=model, record=record, valid=valid, test=test, tracks=tracks,
                          checkpoint_path=checkpoint, metrics_path=metrics_path, training=result)


def reuse_course_network(run, architecture: str, mel_config: MelConfig | None = None,
                         train_config: TrainConfig | None = None, seed: int = 0, logmels: Mapping | None = None
                         ) -> TrainedNetwork | None:
    """The run's genre-only course network (03's CNN, 04's hybrid), scored on the test split,
    when it was trained on this run with exactly these settings; ``None`` otherwise.

    A later notebook that needs the same model (06's genre-only baseline) takes it instead
    of training it a second time. Same settings means the same :class:`TrainConfig` (seed
    included), log-mel settings, default network config, classes and test-split size, as
    recorded in ``metrics/<architecture>.json``; a missing or unreadable file is not reused.

    Returns:
        a :class:`TrainedNetwork` with ``training`` and ``valid`` ``None`` (no training happened),
        ``record`` read from the metrics file.
    """
    import json

    from muzo_lib.training.checkpoints import CheckpointError, load_checkpoint

    mel = mel_config or COURSE_MEL
    cfg = TrainConfig(**{**asdict(train_config or course_train_config()), "seed": seed})
    metrics_path = run.run_dir / "metrics" / f"{architecture}.json"
    checkpoint = course_model_path(run, architecture)
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError):
        return None
    default_config = ARCHITECTURES[architecture][0](n_classes=len(run.classes), n_mels=mel.n_mels)
    same = (metrics.get("train_config") == json.loads(json.dumps({**asdict(cfg), "device": str(cfg.device)}))
            and metrics.get("mel_config") == json.loads(json.dumps(mel.to_dict()))
            and metrics.get("model_config") == json.loads(json.dumps(config_to_dict(default_config)))
            and metrics.get("classes") == list(run.classes) and "levels" not in metrics
            and metrics.get("n") == int((run.tracks.split == "test").sum()))
    if not same:
        return None
    try:
        model = load_checkpoint(checkpoint, architecture=architecture, classes=run.classes).model
    except (CheckpointError, OSError):
        return None
    logmels = logmels if logmels is not None else run.logmels(mel, progress=False)
    tracks = {s: TrackSet.from_run(run, logmels, s) for s in ("train", "valid", "test")}
    test = evaluate(model, tracks["test"], run.classes, mel.frames(cfg.segment_seconds), cfg.device,
                    cfg.eval_batch_size, cfg.mixed_precision)
    return TrainedNetwork(model=model, record=metrics, valid=None, test=test, tracks=tracks,
                          checkpoint_path=checkpoint, metrics_path=metrics_path)


def _two_level(run, tracks: dict, logmels: dict, levels: str, subgenre_weight: float | None):
    """``(objective, output names)``: ``(None, run.classes)`` for one level; for two, the
    :class:`~muzo_lib.models.hierarchy.TwoLevelLoss` and the tracks' labels re-encoded in place."""
    from muzo_lib.models.hierarchy import SUBGENRE_WEIGHT, ClassTree, TwoLevelLoss

    if levels == "genre":
        return None, list(run.classes)
    if levels != "both":
        raise ValueError(f"levels must be 'genre' or 'both', got {levels!r}")
    tree = ClassTree.from_labels(run.tracks.genre, run.tracks.subgenre)
    if not tree.has_subgenres:
        raise ValueError("levels='both' needs subgenres: lay the dataset out as <genre>/<subgenre>/<file> "
                         "(this one has none; train with levels='genre')")
    for split, track_set in tracks.items():
        part = run.subset(split)
        part = part[part.track_id.isin(list(logmels))]
        track_set.labels = tree.encode(part.genre, part.subgenre)
    weight = SUBGENRE_WEIGHT if subgenre_weight is None else subgenre_weight
    return TwoLevelLoss(tree, weight), tree.output_names


def leaf_run(run):
    """The run with ``genre/subgenre`` as its classes (``genre`` alone where the subgenre is
    unspecified): train any genre model on it to get a *flat* model over every subgenre (the
    baseline a two-level model is compared with); same tracks, same split, same cache.
    Read its probabilities back per level with :func:`muzo_lib.models.hierarchy.leaf_levels`."""
    import dataclasses

    tracks = run.tracks.copy()
    subs = tracks.subgenre.fillna("").astype(str)
    tracks["genre"] = [f"{g}/{s}" if s else g for g, s in zip(tracks.genre, subs)]
    tracks["subgenre"] = ""
    return dataclasses.replace(run, tracks=tracks, classes=sorted(tracks.genre.unique()))


def two_level_report(objective, scored: dict, seed: int = 0) -> dict:
    """The two-level scores of an :func:`~muzo_lib.training.loop.evaluate` result with a
    :class:`~muzo_lib.models.hierarchy.TwoLevelLoss`: the class tree, and per decoder the
    :func:`~muzo_lib.models.hierarchy.hierarchical_scores` (percent, with intervals), the subgenre
    confusion counts (rows true) and the share of tracks whose two heads disagree."""
    from muzo_lib.models.hierarchy import DECODERS, DEFAULT_DECODER, decide, hierarchical_scores, inconsistency_rate, subgenre_confusion

    tree = objective.tree
    p_genre, p_sub = tree.split_probabilities(scored["track_probs"])
    labels = scored["encoded_labels"]
    out = {"class_tree": tree.to_dict(), "subgenre_weight": objective.subgenre_weight, "decoder": DEFAULT_DECODER,
           "heads_disagree": 100.0 * inconsistency_rate(p_genre, p_sub, tree), "decoders": {}}
    for method in DECODERS:
        genre, sub, _ = decide(p_genre, p_sub, tree, method)
        out["decoders"][method] = {"scores": hierarchical_scores(labels, genre, sub, tree, seed=seed),
                                   "subgenre_confusion": subgenre_confusion(labels, sub, tree).tolist()}
    return out


def train_forest(run, path, seed: int, architecture: str = "rf", rf_params: dict | None = None,
                 progress: bool = True, levels: str = "genre", **_) -> dict:
    """The ``rf`` kind's training (:func:`train_member`'s arguments): :data:`COURSE_FOREST` and
    ``rf_params`` on the run's cached descriptors; written to ``path`` or the course's place."""
    import time

    from muzo_lib.features.handmade import AudioFeatureExtractor, feature_columns, run_features
    from muzo_lib.models.forest import MusicGenreClassifier
    from muzo_lib.models.hierarchy import leaf_levels

    path = Path(path).expanduser() if path is not None else course_model_path(run, architecture)
    table, _ = run_features(run, AudioFeatureExtractor(), progress=progress)
    features = feature_columns(table)
    params = {**COURSE_FOREST, "random_state": seed, **(rf_params or {})}
    start = time.perf_counter()
    train = table[table.split == "train"]
    tree, leaves = _forest_labels(run, table, levels)
    model = MusicGenreClassifier(**params).fit(train[features], leaves[table.split == "train"])
    seconds = time.perf_counter() - start
    model.save_model(path)
    index = {c: i for i, c in enumerate(run.classes)}
    scores = {}
    for s in ("valid", "test"):
        part = table[table.split == s]
        if len(part):
            p_genre, p_sub = leaf_levels(model.predict_proba(part[features]), [str(c) for c in model.classes_], tree)
            y_true, y_pred = part.genre.map(index).to_numpy(), p_genre.argmax(axis=1)
            scores[s] = classification_metrics(y_true, y_pred, run.classes)
            ci = metric_intervals(y_true, y_pred, len(run.classes), seed=seed)
            scores[s].update(accuracy_ci=ci["accuracy"], macro_f1_ci=ci["macro_f1"])
            if tree is not None and s == "test":
                from muzo_lib.models.hierarchy import TwoLevelLoss

                probs = np.concatenate([p_genre, p_sub], axis=1)
                labels = tree.encode(part.genre, run.tracks.set_index("track_id").subgenre.loc[part.index])
                scores["levels"] = two_level_report(TwoLevelLoss(tree), {"track_probs": probs, "encoded_labels": labels},
                                                    seed)
                scores["levels"]["decoder"] = "marginal"
    return {"architecture": architecture, "path": str(path), "parameters": int(params["n_estimators"]),
            "training_time": seconds, **scores}


def train_embedding_classifier(run, path, seed: int, architecture: str = "musicnn", progress: bool = True,
                               model_options: dict | None = None, **_) -> dict:
    """The ``musicnn`` kind's training: a logistic regression on musicnn embeddings
    (:mod:`muzo_lib.models.pretrained`), saved at ``path`` or, when ``path`` is ``None``, at the
    course's place in the run with its metrics (as networks). ``model_options``:
    ``{"pretrained": "MTT_musicnn"}`` picks the checkpoint (default ``MSD_musicnn``)."""
    from muzo_lib.models.pretrained.classifier import train_embedding_model

    out = train_embedding_model(run, architecture, config=_embedding_config(model_options), seed=seed,
                                progress=progress, save=path is None)
    target = out["model_path"] if path is None else out["model"].save_model(Path(path).expanduser())
    return {"architecture": architecture, "path": str(target), "parameters": None, "valid": out["valid"],
            "test": out["test"]}


def _forest_labels(run, table, levels: str):
    """``(tree or None, labels)``: the forest's classes are ``genre/subgenre`` for two levels
    (``genre`` where the subgenre is unspecified), plain genres for one."""
    from muzo_lib.models.hierarchy import ClassTree

    if levels == "genre":
        return None, table.genre
    tree = ClassTree.from_labels(run.tracks.genre, run.tracks.subgenre)
    if levels != "both" or not tree.has_subgenres:
        raise ValueError("levels must be 'genre', or 'both' on a dataset with <genre>/<subgenre>/<file> folders")
    subs = run.tracks.set_index("track_id").subgenre.loc[table.index].fillna("").astype(str)
    return tree, pd.Series([f"{g}/{s}" if s else g for g, s in zip(table.genre, subs)], index=table.index)


def _run_seed(run) -> int:
    import json

    meta = Path(run.run_dir) / "dataset.json"
    try:
        return int(json.loads(meta.read_text())["settings"]["seed"])
    except (OSError, ValueError, KeyError):
        return 0


# ---------------------------------------------------------------- reading a run back

def member_probabilities(run, members: dict, split: str, progress: bool = False) -> dict[str, np.ndarray]:
    """Each member's track-level probabilities on one split of a run, aligned to ``run.classes``.

    Args:
        run: a :class:`muzo_lib.data.runs.RunData`.
        members: ``{name: Predictor}`` (from :func:`muzo_lib.inference.prediction.load_model`).
        split: ``"train"``, ``"valid"`` or ``"test"``.

    Each member reads the run through its own :meth:`~muzo_lib.models.predictor.Predictor.run_probabilities`
    (networks: the run's cached log-mels made with their own :class:`MelConfig`; Random Forests:
    the cached features; musicnn: the cached embeddings). Rows follow ``run.subset(split)``.
    """
    part = run.subset(split)
    out = {}
    for name, member in members.items():
        probs = member.run_probabilities(run, list(part.track_id), progress=progress)
        out[name] = align_probabilities(probs, member.classes, run.classes)
    return out


def forest_leaf_probabilities(run, model_path, track_ids) -> tuple[np.ndarray, list[str]]:
    """A saved forest's probabilities for ``track_ids`` over its *own* classes, from the run's
    cached descriptors: for a forest on ``genre/subgenre`` classes (trained on :func:`leaf_run`),
    the per-subgenre probabilities that :func:`member_probabilities` sums per genre. Read them
    per level with :func:`muzo_lib.models.hierarchy.leaf_levels`."""
    from muzo_lib.features.handmade import run_features
    from muzo_lib.inference.prediction import load_model

    forest = load_model(model_path)
    table, _ = run_features(run, forest.extractor, progress=False)
    missing = [t for t in track_ids if t not in table.index]
    if missing:
        raise ValueError(f"{len(missing)} tracks have no features: {missing[:3]}")
    probs = forest.model.predict_proba(table.loc[list(track_ids), list(forest.model.feature_names_in_)])
    return probs, [str(c) for c in forest.model.classes_]


def network_summary(metrics_by_name: dict[str, dict]) -> pd.DataFrame:
    """Side-by-side facts of trained networks, from their ``metrics/<name>.json``
    (:func:`train_on_run`): test accuracy and macro F1 (percent, track
    level), trainable parameters, mean seconds per epoch, training crops per second, epochs."""
    rows = {}
    for name, m in metrics_by_name.items():
        rows[name] = {"test accuracy %": m["accuracy"], "test macro F1 %": m["macro_f1"],
                      "parameters": m["parameters"], "s / epoch": float(np.mean(m["history"]["epoch_time"])),
                      "train crops / s": m.get("train_crops_per_s", float("nan")),
                      "epochs": m.get("epochs_trained"), "best epoch": m.get("best_epoch")}
    return pd.DataFrame.from_dict(rows, orient="index")




# ---------------------------------------------------------------- cross-validation

def cross_validate(run, architecture: str, k: int = 5, seed: int = 0, group_by: str = "auto",
                   train_config: TrainConfig | None = None, mel_config: MelConfig | None = None,
                   model_options: dict | None = None, rf_params: dict | None = None, progress: bool = True,
                   log=None, folds=None, logmels: Mapping | None = None, extractor=None) -> CVResult:
    """Grouped k-fold cross-validation of one model kind over all of a run's tracks.

    Each fold is predicted by a model trained on the other folds (networks keep a
    genre-stratified 15% of them aside to choose their epoch; the forest trains on all of
    them), so every
    track is predicted exactly once by a model that never saw it: on a small real dataset
    this scores all its tracks instead of the 10-odd of a test split.

    Args:
        run: a :class:`~muzo_lib.data.runs.RunData` (its own train/valid/test split is ignored).
        architecture: a kind of :mod:`muzo_lib.models.kinds` (``"cnn"``, ``"hybrid"``, ``"rf"``,
            ``"musicnn"``: the embedding classifier's defaults, the embeddings computed once and
            the classifier per fold), trained per fold by the kind's ``cross_validate`` function.
        k: folds; group_by: see :func:`muzo_lib.data.splits.grouped_folds`.
        train_config, mel_config, model_options, rf_params: as :func:`train_member`.
        log: called with one line per fold (e.g. ``print``); ``None``: silent.
        folds: the fold of each of ``run.tracks`` (0..k-1), to compare models on the very same
            folds; default: :func:`muzo_lib.data.splits.grouped_folds` with ``k``, ``seed``, ``group_by``.
        logmels: ``run.logmels(mel_config)`` if already loaded.
        extractor: the forest's :class:`~muzo_lib.features.handmade.AudioFeatureExtractor` (default: its
            defaults, extra descriptors included).

    Returns:
        a :class:`~muzo_lib.evaluation.metrics.CVResult` (``model`` is ``architecture``), rows fold by
        fold, intervals bootstrapped with ``seed``.
    """
    from dataclasses import replace

    from muzo_lib.data.splits import grouped_folds

    kind = model_kind(architecture)
    if folds is None:
        table, info = grouped_folds(run.tracks, k=k, seed=seed, group_by=group_by)
        fold_of, protocol = dict(zip(table.track_id, table.fold)), info.note
    else:
        fold_of = dict(zip(run.tracks.track_id, (int(f) for f in folds)))
        k, protocol = len(set(fold_of.values())), f"{len(set(fold_of.values()))}-fold cross-validation on given folds"
    mel = mel_config or MelConfig()
    cfg = train_config or course_train_config()
    train_fold = kind.function("cross_validate")(run, seed, architecture=kind.name, train_config=cfg, mel_config=mel,
                                                 model_options=model_options, rf_params=rf_params,
                                                 progress=progress, logmels=logmels, extractor=extractor)
    track_ids, genres, fold_rows, prob_rows = [], [], [], []
    in_fold = run.tracks.track_id.map(fold_of).to_numpy()
    genre = run.tracks.set_index("track_id").genre
    for fold in range(k):
        split = np.where(in_fold == fold, "test", "train").astype(object)
        names, probs = train_fold(replace(run, tracks=run.tracks.assign(split=split)), fold)
        if log:
            predicted = np.asarray(probs).argmax(axis=1)
            right = float(np.mean([genre[t] == run.classes[p] for t, p in zip(names, predicted)]))
            log(f"fold {fold + 1}/{k}: {len(names)} tracks, accuracy {100 * right:.1f}%")
        track_ids += list(names)
        genres += [genre[t] for t in names]
        fold_rows += [fold] * len(names)
        prob_rows += [[float(v) for v in row] for row in probs]
    return CVResult.from_predictions(architecture, run.classes, track_ids, genres,
                                     np.asarray(prob_rows).reshape(-1, len(run.classes)), fold_rows, seed=seed,
                                     protocol=protocol)


def network_folds(run, seed: int, architecture: str = "cnn", train_config=None, mel_config=None,
                  model_options: dict | None = None, progress: bool = True, logmels: Mapping | None = None, **_):
    """The ``cnn`` and ``hybrid`` kinds' cross-validation: the run's log-mels once, then per
    fold a network trained on the fold's train tracks less a genre-stratified 15%
    (:func:`_validation_part`) that chooses its epoch."""
    from dataclasses import replace

    mel = mel_config or MelConfig()
    cfg = train_config or course_train_config()
    logmels = logmels if logmels is not None else run.logmels(mel, progress=progress)

    def train_fold(fold_run, fold: int):
        split = fold_run.tracks.split.to_numpy().copy()
        split[_validation_part(fold_run.tracks, split != "test", seed + fold)] = "valid"
        out = train_on_run(replace(fold_run, tracks=fold_run.tracks.assign(split=split)), f"{architecture}_fold{fold}",
                           architecture, mel, cfg, model_options=model_options, logmels=logmels, seed=seed, save=False)
        return out.test["names"], out.test["track_probs"]

    return train_fold


def forest_folds(run, seed: int, rf_params: dict | None = None, progress: bool = True, extractor=None, **_):
    """The ``rf`` kind's cross-validation: per fold a forest on all of the fold's train tracks."""
    return lambda fold_run, fold: _forest_fold(fold_run, seed, rf_params or {}, progress, extractor)


def embedding_folds(run, seed: int, progress: bool = True, model_options: dict | None = None, **_):
    """The ``musicnn`` kind's cross-validation: the frozen network's embeddings once, a classifier per fold."""
    from muzo_lib.models.pretrained.classifier import run_features

    embeddings = run_features(run, _embedding_config(model_options), progress=progress)
    return lambda fold_run, fold: _embedding_fold(fold_run, embeddings, seed)


def _embedding_config(model_options: dict | None):
    """The ``musicnn`` kind's :class:`~muzo_lib.models.pretrained.embeddings.EmbeddingConfig` from its options."""
    from muzo_lib.models.pretrained.embeddings import EmbeddingConfig

    options = dict(model_options or {})
    unknown = sorted(set(options) - {"pretrained"})
    if unknown:
        raise ValueError(f"the musicnn embedding classifier has no option(s) {unknown}")
    return EmbeddingConfig(variant=options.get("pretrained", EmbeddingConfig.variant))


def _embedding_fold(run, embeddings: np.ndarray, seed: int) -> tuple[list[str], np.ndarray]:
    """The embedding classifier (library defaults) fitted on the fold's train rows, predicting its test rows."""
    from muzo_lib.models.pretrained.classifier import EmbeddingClassifier

    split, genres = run.tracks.split.to_numpy(), run.tracks.genre.to_numpy()
    model = EmbeddingClassifier(random_state=seed).fit(embeddings[split == "train"], genres[split == "train"])
    probs = align_probabilities(model.predict_proba(embeddings[split == "test"]), list(model.classes_), run.classes)
    return list(run.tracks.track_id[split == "test"]), probs


def _validation_part(tracks, outside: np.ndarray, seed: int, fraction: float = 0.15) -> np.ndarray:
    """Indices of a genre-stratified ``fraction`` of the tracks outside the test fold, kept aside
    to choose the network's epoch (grouped by artist where artists are known, so no artist
    is on both sides of the epoch choice)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for genre in sorted(set(tracks.genre[outside])):
        rows = np.flatnonzero(outside & (tracks.genre == genre).to_numpy())
        groups = tracks.artist.where(tracks.artist != "", tracks.track_id).to_numpy()[rows]
        names = sorted(set(groups))
        if len(names) < 2:
            continue
        rng.shuffle(names)
        take = set(names[:max(1, int(round(fraction * len(names))))])
        chosen += [r for r, g in zip(rows, groups) if g in take]
    if not chosen:
        raise ValueError("too few tracks outside the test fold to keep any for validation")
    return np.asarray(chosen)


def _forest_fold(run, seed: int, params: dict, progress: bool, extractor=None) -> tuple[list[str], np.ndarray]:
    """Train a forest on a fold's train tracks; probabilities of its test tracks."""
    from muzo_lib.features.handmade import AudioFeatureExtractor, feature_columns, run_features
    from muzo_lib.models.forest import MusicGenreClassifier

    table, _ = run_features(run, extractor or AudioFeatureExtractor(), progress=progress)
    features = feature_columns(table)
    train, test = table[table.split == "train"], table[table.split == "test"]
    model = MusicGenreClassifier(**{**COURSE_FOREST, "random_state": seed, **params}).fit(train[features], train.genre)
    probs = align_probabilities(model.predict_proba(test[features]), model.classes_, run.classes)
    return list(test.index), probs


def cv_record(cv: CVResult, notebook: str = "", settings: dict | None = None) -> dict:
    """What a run keeps of a :func:`cross_validate` result (for :func:`muzo_lib.data.runs.save_cv_metrics`
    and the course summary): :meth:`CVResult.to_dict` without the per-track rows, its
    ``model`` also under ``architecture`` (the key files saved before read), and who made it
    (``notebook``, ``settings``)."""
    return {**cv.to_dict(predictions=False), "architecture": cv.model, "notebook": notebook,
            "settings": settings or {}}


def cv_lines(cv: CVResult | dict, label: str, split: tuple[float, int] | None = None) -> list[str]:
    """Sentences that report a :func:`cross_validate` result (or its saved :func:`cv_record`): pooled
    accuracy and macro F1 with their 95% intervals on how many tracks, then the folds, and,
    given the test split's ``(accuracy, tracks)``, whether that accuracy lies in the interval."""
    from muzo_lib.evaluation.metrics import format_score

    if isinstance(cv, CVResult):
        cv = cv.to_dict(predictions=False)
    folds = ", ".join(f"{f['accuracy']:.0f}% ({f['n']})" for f in cv["per_fold"])
    lines = [f"{label}, {len(cv['per_fold'])}-fold cross-validation: accuracy % "
             f"{format_score(cv['accuracy'], cv['accuracy_ci'], cv['n'])}, macro F1 % "
             f"{format_score(cv['macro_f1'], cv['macro_f1_ci'], cv['n'])} (95% bootstrap intervals over the tracks)",
             f"per fold, accuracy (tracks): {folds}",
             f"protocol: {cv['protocol']}"]
    if split is not None:
        accuracy, n = split
        inside = cv["accuracy_ci"][0] <= accuracy <= cv["accuracy_ci"][1]
        lines.append(f"The test split's {accuracy:.1f}% on {n} tracks is {'inside' if inside else 'outside'} this "
                     f"interval, which rests on {cv['n']} tracks instead of {n}.")
    return lines
