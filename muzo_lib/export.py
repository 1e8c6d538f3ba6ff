"""Export a Muzo network checkpoint to ONNX, to predict with onnxruntime and no PyTorch.

The graph takes log-mel segments ``(batch, n_mels, frames)`` (dB, float32; ``batch``
is dynamic, ``frames`` is the checkpoint's training crop) and returns class
probabilities ``(batch, n_classes)`` (the softmax is inside the graph). The log-mel front
end stays outside, in numpy (:class:`muzo_lib.numpy_frontend.NumpyLogMel`): measured by
``benchmarks/bench_stream.py``, onnxruntime's STFT operator took 2-4x longer than numpy's
FFT for the same log-mel on the 2-core CPU, and it would tie the file to opset 17+.

Everything needed to use the file travels in its metadata (``metadata_props``, strings):

- ``muzo_format`` = ``"muzo-onnx"``, ``muzo_version`` = :data:`VERSION`;
- ``kind``: ``"cnn"`` or ``"hybrid"``; ``classes``: JSON list, the output columns' order;
- ``mel_config``: JSON of :class:`muzo_lib.spectrogram.MelConfig` (rate, FFT, hop, mels, dB range);
- ``segment_seconds`` and ``frames``: the crop each output scores;
- ``model_config``: JSON of the network's config; ``source``: the checkpoint's file name.

Example:
    >>> export_onnx("runs/course/models/cnn.pt", "cnn.onnx")
    >>> from muzo_lib.onnx_predictor import load_onnx_model   # no torch from here on
    >>> load_onnx_model("cnn.onnx").predict_waveforms([y])
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .checkpoints import load_checkpoint
from .models import config_to_dict
from .paths import atomic_write

FORMAT = "muzo-onnx"
VERSION = 1
#: ONNX operator set of exported graphs (onnxruntime >= 1.10 runs it)
OPSET = 17


class _WithSoftmax(nn.Module):
    """The network plus its softmax, in float32: the graph returns probabilities."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(logmels).float(), dim=-1)


def export_onnx(model_path: str | os.PathLike, output: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write the network of checkpoint ``model_path`` as an ONNX file with Muzo metadata.

    Args:
        model_path: a network checkpoint (``.pt``) from training or ``muzo train``.
        output: the ``.onnx`` file to write (atomically: an interrupted export leaves nothing).
        opset: ONNX operator set version.

    Returns:
        The written path.

    Raises:
        muzo_lib.checkpoints.CheckpointError: ``model_path`` is not a network checkpoint.
        ValueError: a two-level (genre + subgenre) network: its two heads need two softmaxes
            and a decoder that the exported graph does not carry yet.
    """
    import onnx

    checkpoint = load_checkpoint(model_path)
    if checkpoint.extra.get("class_tree"):
        raise ValueError(f"{Path(model_path).name} has a genre and a subgenre head: ONNX export covers genre-only "
                         "networks for now (train one with --levels genre to export it)")
    model = _WithSoftmax(checkpoint.model.float().eval().to("cpu"))
    mel = checkpoint.mel_config
    frames = mel.frames(checkpoint.segment_seconds)
    example = torch.zeros(2, mel.n_mels, frames)
    output = Path(output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on LSTM batch sizes and constant folding
        proto = _to_onnx(model, example, opset)
    metadata = {"muzo_format": FORMAT, "muzo_version": str(VERSION), "kind": checkpoint.architecture,
                "classes": json.dumps(list(checkpoint.classes)), "mel_config": json.dumps(mel.to_dict()),
                "segment_seconds": repr(float(checkpoint.segment_seconds)), "frames": str(frames),
                "model_config": json.dumps(config_to_dict(checkpoint.model_config)),
                "source": Path(model_path).name,
                "duration": json.dumps(checkpoint.extra.get("duration") or None)}
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    atomic_write(output, lambda tmp: Path(tmp).write_bytes(proto.SerializeToString()))
    return output


def _to_onnx(model: nn.Module, example: torch.Tensor, opset: int):
    """The TorchScript-based exporter, into memory (small graphs; no onnxscript needed)."""
    import io

    import onnx

    buffer = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(model, (example,), buffer, input_names=["logmels"], output_names=["probabilities"],
                          dynamic_axes={"logmels": {0: "batch"}, "probabilities": {0: "batch"}},
                          opset_version=opset, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())
