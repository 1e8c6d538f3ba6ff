"""Export a Muzo model to ONNX, to predict with onnxruntime and no PyTorch.

Three kinds of model file export, each to ONE graph whose log-mel front end stays outside,
in numpy (:class:`muzo_lib.features.numpy_frontend.NumpyLogMel`): measured by
``benchmarks/bench_stream.py``, onnxruntime's STFT operator took 2-4x longer than numpy's
FFT for the same log-mel on the 2-core CPU, and it would tie the file to opset 17+.

- a genre-only network (CNN, hybrid; ``.pt``): input ``logmels`` ``(batch, n_mels, frames)``
  (dB, float32; ``batch`` is dynamic, ``frames`` the training crop), output ``probabilities``
  ``(batch, n_classes)`` (the softmax is inside the graph); the predictor averages them over
  each track's segments (``pooling`` = ``"probabilities"``);
- a two-level network (a genre head and a subgenre head; ``.pt``): the same input, two
  outputs, ``probabilities`` (the genre head's softmax, ``(batch, G)``) and
  ``subgenre_probabilities`` (the subgenre head's, ``(batch, S)``); the class tree and the
  decoder travel in the metadata, so the predictor decodes as
  :class:`muzo_lib.inference.prediction.NetworkPredictor` does;
- a classifier on musicnn embeddings (``muzo train --architecture musicnn``, ``.skops``):
  the musicnn network (float32), the mean of its embeddings over each track's 3 s patches,
  and the fitted scaler + logistic regression (or MLP head) as float64 layers
  (:func:`sklearn_head`). Inputs ``logmels`` ``(patches, 96, 187)`` (musicnn's
  ``log10(1 + 10000 mel power)``, not dB) and ``track_weights`` ``(tracks, patches)`` (row ``i``
  holds ``1 / n_i`` on track ``i``'s patches: the pooling over patches is inside the graph,
  ``pooling`` = ``"embeddings"``); output ``probabilities`` ``(tracks, n_classes)``.

Everything needed to use the file travels in its metadata (``metadata_props``, strings):

- ``muzo_format`` = ``"muzo-onnx"``, ``muzo_version`` = :data:`VERSION`;
- ``kind``: ``"cnn"``, ``"hybrid"`` or ``"musicnn"``; ``classes``: JSON list, the genre
  output's columns;
- ``class_tree`` and ``decoder`` (two-level networks only): JSON of
  :meth:`muzo_lib.models.hierarchy.ClassTree.to_dict` (``subgenres`` is the order of the
  ``subgenre_probabilities`` columns) and the decoder name;
- ``mel_config``: JSON of :class:`muzo_lib.features.spectrogram.MelConfig` (rate, FFT, hop, mels, dB
  range), plus ``scale`` = ``"musicnn"`` for musicnn's log compression;
- ``segment_seconds`` and ``frames``: the crop each segment covers; ``segmenting``:
  ``"track"`` (:func:`~muzo_lib.features.numpy_frontend.track_segments`) or ``"patches"``
  (:func:`~muzo_lib.features.numpy_frontend.whole_patches`, musicnn's); ``pooling`` (above);
- ``model_config``: JSON of the network's config (for musicnn: variant, layer, head);
  ``source``: the model file's name; ``duration``: seconds read per file as trained (null: all).

Example:
    >>> export_onnx("runs/course/models/cnn.pt", "cnn.onnx")
    >>> from muzo_lib.inference.onnx_predictor import load_onnx_model   # no torch from here on
    >>> load_onnx_model("cnn.onnx").predict_waveforms([y])
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from muzo_lib.io.paths import atomic_write
from muzo_lib.models.hierarchy import DEFAULT_DECODER, ClassTree, TwoLevelLoss
from muzo_lib.models.kinds import kind_of_file
from muzo_lib.models.networks import config_to_dict
from muzo_lib.training.checkpoints import CheckpointError, load_checkpoint

FORMAT = "muzo-onnx"
VERSION = 2    # 2: two-level networks and musicnn embedding classifiers (1: genre-only networks)
#: ONNX operator set of exported graphs (onnxruntime >= 1.10 runs it)
OPSET = 17


class _WithSoftmax(nn.Module):
    """The network plus its softmax, in float32: the graph returns probabilities. A two-level
    network's ``G + S`` logits give two outputs, the genre and the subgenre softmax
    (:meth:`muzo_lib.models.hierarchy.TwoLevelLoss.probabilities`, as the torch predictor computes them)."""

    def __init__(self, model: nn.Module, tree: ClassTree | None = None):
        super().__init__()
        self.model = model
        self.n_genres = None if tree is None else len(tree.genres)
        self.levels = None if tree is None else TwoLevelLoss(tree).probabilities

    def forward(self, logmels: torch.Tensor):
        logits = self.model(logmels).float()
        if self.levels is None:
            return torch.softmax(logits, dim=-1)
        both = self.levels(logits)
        return both[:, :self.n_genres], both[:, self.n_genres:]


def export_onnx(model_path: str | os.PathLike, output: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write the model of ``model_path`` as an ONNX file with Muzo metadata (see the module doc).

    Args:
        model_path: a network checkpoint (``.pt``) from training or ``muzo train``, genre-only
            or two-level, or a musicnn embedding classifier (``.skops``, ``muzo train
            --architecture musicnn``).
        output: the ``.onnx`` file to write (atomically: an interrupted export leaves nothing).
        opset: ONNX operator set version.

    Returns:
        The written path.

    Raises:
        muzo_lib.training.checkpoints.CheckpointError: ``model_path`` is neither a network checkpoint nor
            a musicnn embedding classifier.
    """
    import onnx

    kind = kind_of_file(model_path)  # the exporter is the file's kind's (muzo_lib.models.kinds)
    if kind.export is None:
        raise CheckpointError(f"{Path(model_path).name}: {kind.name} models ({kind.description}) have no ONNX export")
    proto, metadata = kind.function("export")(model_path, opset)
    onnx.helper.set_model_props(proto, {"muzo_format": FORMAT, "muzo_version": str(VERSION), **metadata,
                                        "source": Path(model_path).name})
    output = Path(output)
    onnx.checker.check_model(proto)
    atomic_write(output, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    return output


def network_graph(model_path, opset: int) -> tuple:
    """A CNN or hybrid checkpoint, genre-only or two-level: ``(ModelProto, metadata)``."""
    checkpoint = load_checkpoint(model_path)
    mel = checkpoint.mel_config
    frames = mel.frames(checkpoint.segment_seconds)
    metadata = {"kind": checkpoint.architecture, "classes": json.dumps(list(checkpoint.classes)),
                "mel_config": json.dumps(mel.to_dict()), "segment_seconds": repr(float(checkpoint.segment_seconds)),
                "frames": str(frames), "segmenting": "track", "pooling": "probabilities",
                "model_config": json.dumps(config_to_dict(checkpoint.model_config)),
                "duration": json.dumps(checkpoint.extra.get("duration") or None)}
    tree, outputs = None, ["probabilities"]
    if checkpoint.extra.get("class_tree"):  # two levels: the genre head, then the subgenre head
        tree = ClassTree.from_dict(checkpoint.extra["class_tree"])
        if tree.output_names != list(checkpoint.classes):
            raise ValueError(f"{Path(model_path).name}: its class tree does not match its {len(checkpoint.classes)} outputs")
        metadata |= {"classes": json.dumps(list(tree.genres)), "class_tree": json.dumps(tree.to_dict()),
                     "decoder": checkpoint.extra.get("decoder", DEFAULT_DECODER)}
        outputs.append("subgenre_probabilities")
    model = _WithSoftmax(checkpoint.model.float().eval().to("cpu"), tree)
    return _to_onnx(model, (torch.zeros(2, mel.n_mels, frames),), ["logmels"], outputs, opset), metadata


class _EmbeddingGraph(nn.Module):
    """musicnn, the mean of each track's patch embeddings, and the folded classifier head.

    The same steps as :class:`muzo_lib.models.pretrained.classifier.EmbeddingPredictor`: per-patch
    outputs of :class:`~muzo_lib.models.pretrained.musicnn.FoldedMusicnn` (float32), the ``layer``'s
    arrays averaged over the track's patches (:func:`~muzo_lib.models.pretrained.embeddings.track_features`),
    then the scikit-learn pipeline's probabilities (:func:`sklearn_head`).
    """

    def __init__(self, network: nn.Module, outputs: tuple[str, ...], head: nn.Module):
        super().__init__()
        self.network, self.outputs, self.head = network, outputs, head

    def forward(self, logmels: torch.Tensor, track_weights: torch.Tensor) -> torch.Tensor:
        out = self.network(logmels.transpose(1, 2))                    # musicnn takes (patches, frames, bands)
        features = torch.cat([getattr(out, name) for name in self.outputs], dim=1)
        logits = self.head((track_weights @ features).double())       # the head in float64, as scikit-learn
        return torch.softmax(logits, dim=-1).float()


def embedding_graph(model_path, opset: int) -> tuple:
    """A musicnn embedding classifier (``.skops``): ``(ModelProto, metadata)``."""
    from muzo_lib.models.pretrained.classifier import EmbeddingClassifier
    from muzo_lib.models.pretrained.embeddings import LAYERS, MUSICNN_MEL
    from muzo_lib.models.pretrained.musicnn import PATCH_FRAMES, FoldedMusicnn, load_musicnn

    classifier = EmbeddingClassifier.load_model(model_path)
    network = FoldedMusicnn(load_musicnn(classifier.variant), torch.float32)
    model = _EmbeddingGraph(network, LAYERS[classifier.layer], sklearn_head(classifier.pipeline_)).eval()
    mel = MUSICNN_MEL
    metadata = {"kind": "musicnn", "classes": json.dumps([str(c) for c in classifier.classes_]),
                "mel_config": json.dumps({**mel.to_dict(), "scale": "musicnn"}),
                "segment_seconds": repr(PATCH_FRAMES * mel.hop_length / mel.sample_rate), "frames": str(PATCH_FRAMES),
                "segmenting": "patches", "pooling": "embeddings",
                "model_config": json.dumps({"variant": classifier.variant, "layer": classifier.layer,
                                            "head": classifier.head, "embedding_dims": int(classifier.n_features_in_)}),
                "duration": "null"}
    example = (torch.zeros(3, mel.n_mels, PATCH_FRAMES), torch.full((2, 3), 1 / 3))
    return _to_onnx(model, example, ["logmels", "track_weights"], ["probabilities"], opset,
                    {"logmels": {0: "patches"}, "track_weights": {0: "tracks", 1: "patches"},
                     "probabilities": {0: "tracks"}}), metadata


class _Standardize(nn.Module):
    """``(x - mean) / scale``, as ``StandardScaler.transform`` computes it (float64)."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(np.asarray(mean, dtype=np.float64)))
        self.register_buffer("scale", torch.from_numpy(np.asarray(scale, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


def sklearn_head(pipeline) -> nn.Sequential:
    """A fitted ``StandardScaler`` + ``LogisticRegression`` (or ``MLPClassifier``) pipeline as
    float64 torch layers giving the logits whose softmax is its ``predict_proba``.

    The layers compute in float64 and in scikit-learn's order, the scaler as its own layer:
    folding it into the first linear layer (``W / scale``, ``b - W mean / scale``) cancels
    catastrophically when a feature barely varied in training (measured on a musicnn model
    fitted on six tones, ``scale`` down to 1.7e-13: the folded float32 head said 0.697 where
    scikit-learn said 0.668 for the same embedding). A binary model's one logit ``z``
    (scikit-learn's sigmoid) becomes the two logits ``(0, z)``, whose softmax is
    ``(1 - sigmoid(z), sigmoid(z))``.

    Raises:
        ValueError: another pipeline shape (a one-versus-rest logistic regression, say).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    scaler, final = pipeline[0], pipeline[-1]
    if len(pipeline) != 2 or not isinstance(scaler, StandardScaler):
        raise ValueError("ONNX export takes a StandardScaler + classifier pipeline; this one is "
                         f"{[type(s).__name__ for s in pipeline]}")
    if isinstance(final, LogisticRegression):
        if getattr(final, "multi_class", "auto") == "ovr" and len(final.classes_) > 2:
            raise ValueError("ONNX export takes a multinomial logistic regression, not a one-versus-rest one")
        weights, biases, activation = [final.coef_.T], [final.intercept_], None
    elif isinstance(final, MLPClassifier):
        weights, biases, activation = list(final.coefs_), list(final.intercepts_), final.activation
    else:
        raise ValueError(f"ONNX export takes a logistic regression or an MLP head, not a {type(final).__name__}")
    dims = weights[0].shape[0]
    layers: list[nn.Module] = [_Standardize(scaler.mean_ if scaler.with_mean else np.zeros(dims),
                                            scaler.scale_ if scaler.scale_ is not None else np.ones(dims))]
    if weights[-1].shape[1] == 1:  # binary: sigmoid(z) = softmax((0, z))[1]
        weights[-1] = np.concatenate([np.zeros_like(weights[-1]), weights[-1]], axis=1)
        biases[-1] = np.concatenate([[0.0], biases[-1]])
    activations = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}
    for i, (w, b) in enumerate(zip(weights, biases)):
        linear = nn.Linear(*w.shape, dtype=torch.float64)
        linear.weight.data = torch.from_numpy(np.ascontiguousarray(w.T, dtype=np.float64))
        linear.bias.data = torch.from_numpy(np.asarray(b, dtype=np.float64))
        layers.append(linear)
        if i < len(weights) - 1:
            layers.append(activations[activation]())
    return nn.Sequential(*layers).requires_grad_(False)


def _to_onnx(model: nn.Module, example: tuple, inputs: list[str], outputs: list[str], opset: int,
             dynamic_axes: dict | None = None):
    """The TorchScript-based exporter, into memory (small graphs; no onnxscript needed)."""
    import io

    import onnx

    buffer = io.BytesIO()
    dynamic_axes = dynamic_axes or {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and constant folding
        torch.onnx.export(model, example, buffer, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())
