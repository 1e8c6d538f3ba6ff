"""musicnn fine-tuned for genres: the pretrained body with a new head, trained by ``fit`` like any network.

:class:`MusicnnClassifier` is :class:`~muzo_lib.models.pretrained.musicnn.Musicnn` with its
50-tag output layer replaced by a new head (dropout + one dense layer) over the 200-unit
penultimate embedding (or, with ``features="pooled"``, over the 753 + 753 mean- and max-pooled
front/mid-end channels, the back end then unused and frozen), one output per genre. It is a network like
:class:`~muzo_lib.models.networks.SpectrogramCNN`: its config dataclass is saved next to its
weights, it takes the shared dB log-mel ``(batch, 96, frames)`` made with musicnn's front-end
settings (:data:`MUSICNN_INPUT`: 16 kHz, FFT 512, hop 256, 96 bands, no ``top_db``), and
``fit`` trains it on the same cached crops, augmentation, early stopping, checkpoints and
resume as the others. Its first step turns dB back into musicnn's own scale,
``log10(1 + 10000 x)`` of the mel power (computed in float32), so the cache, ``muzo predict``,
``muzo listen`` and the ONNX export need nothing of their own.

What trains (``finetune``), the rest frozen (no gradient, kept in eval mode so its
batch-norms keep the pretrained statistics, and skipped by ``fit``'s batch-norm recalibration):

- ``"head"``: the new head only (the frozen-embedding classifier, trained end to end on crops);
- ``"top"``: the head and the last block before it: musicnn's back end (the batch-norm of the
  pooled features, the 200-unit dense layer and its batch-norm), or with ``features="pooled"``
  the three mid-end convolutions and their batch-norms;
- ``"all"``: every layer it uses, the input batch-norm included.

:meth:`MusicnnClassifier.param_groups` gives ``fit`` two learning rates: the head's, and
``body_lr_factor`` times it for the pretrained layers that train (discriminative rates).

Example:
    >>> model = MusicnnClassifier(FinetuneConfig(n_classes=6, finetune="top"))
    >>> model.load_pretrained()                     # the chosen checkpoint's weights into the body
    >>> model(torch.zeros(4, 96, 187)).shape
    torch.Size([4, 6])
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

from muzo_lib.features.spectrogram import MelConfig

from .musicnn import HOP_LENGTH, N_FFT, N_MELS, PATCH_FRAMES, SAMPLE_RATE, Musicnn, MusicnnConfig, check_variant, load_musicnn

#: The dB log-mel the network takes: musicnn's framing, every value kept (no ``top_db``).
MUSICNN_INPUT = MelConfig(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, top_db=None)
#: Crop length that gives musicnn's 187-frame (3 s) patch with the shared centred framing, s.
PATCH_SECONDS = (PATCH_FRAMES - 1) * HOP_LENGTH / SAMPLE_RATE
#: The body's layers (module names of :class:`Musicnn`): front end, mid end, back end.
_FRONTEND = ("input_bn", "timbral", "timbral_bn", "temporal", "temporal_bn")
_MIDEND, _BACKEND = ("midend", "midend_bn"), ("pool_bn", "dense", "dense_bn")
#: What each ``finetune`` mode trains besides the head, per ``features`` (``None``: every part it uses).
TRAINED_PARTS = {"head": (), "top": {"penultimate": _BACKEND, "pooled": _MIDEND}, "all": None}
FEATURES = {"penultimate": 200, "pooled": 2 * MusicnnConfig().pooled_channels}   # the head's input width
_DB_TO_LN_POWER = math.log(10.0) / 10.0


@dataclass
class FinetuneConfig:
    """Settings of a :class:`MusicnnClassifier`.

    Attributes:
        n_classes: output classes.
        n_mels: mel bands of the input (musicnn's 96; any other is refused).
        pretrained: the checkpoint the body starts from: ``"MSD_musicnn"`` (default) or
            ``"MTT_musicnn"`` (the VGG checkpoints are not ported yet: refused in one line).
        finetune: ``"head"``, ``"top"`` (default) or ``"all"``: what trains (module doc).
        features: what the head reads: ``"penultimate"`` (default, 200 units) or ``"pooled"``
            (1506: the mean over time of the 753 front/mid-end channels, then their max).
        body_lr_factor: the pretrained layers' learning rate as a multiple of the head's
            (``TrainConfig.learning_rate``), in (0, 1]; 0.1 by default.
        dropout: dropout probability before the head's dense layer.
    """
    n_classes: int = 10
    n_mels: int = N_MELS
    pretrained: str = "MSD_musicnn"
    finetune: str = "top"
    features: str = "penultimate"
    body_lr_factor: float = 0.1
    dropout: float = 0.5

    architecture = "musicnn-finetune"  # class attribute: not a field, not saved twice
    input_mel = MUSICNN_INPUT          # the front end it needs, whoever builds it (the seed API reads it)

    def __post_init__(self):
        check_variant(self.pretrained)
        if self.finetune not in TRAINED_PARTS:
            raise ValueError(f"unknown finetune mode {self.finetune!r}; choose one of {list(TRAINED_PARTS)}")
        if self.features not in FEATURES:
            raise ValueError(f"unknown finetune features {self.features!r}; choose one of {list(FEATURES)}")
        if self.n_mels != N_MELS:
            raise ValueError(f"musicnn takes {N_MELS} mel bands, got n_mels={self.n_mels}")
        if int(self.n_classes) < 1:
            raise ValueError(f"FinetuneConfig.n_classes must be at least 1, got {self.n_classes}")
        if not 0 < self.body_lr_factor <= 1:
            raise ValueError(f"body_lr_factor must be in (0, 1], got {self.body_lr_factor}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class MusicnnClassifier(nn.Module):
    """musicnn's body + a new genre head: dB log-mels ``(batch, 96, frames)`` -> logits ``(batch, n_classes)``.

    Built with random weights (so a saved checkpoint rebuilds it without the ``musicnn``
    package); :meth:`load_pretrained` puts the chosen checkpoint's weights into the body.
    """

    def __init__(self, config: FinetuneConfig | None = None):
        super().__init__()
        self.config = config = config or FinetuneConfig()
        self.body = Musicnn(MusicnnConfig())
        self.body.output = nn.Identity()            # the 50-tag layer is replaced by the head
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(FEATURES[config.features], config.n_classes))
        trained = TRAINED_PARTS[config.finetune]
        trained = trained.get(config.features) if isinstance(trained, dict) else trained
        unused = _BACKEND if config.features == "pooled" else ()
        for name, part in self.body.named_children():
            part.requires_grad_((trained is None or name in trained) and name not in unused)

    def load_pretrained(self) -> MusicnnClassifier:
        """Copy the weights of ``config.pretrained`` into the body (read from the ``musicnn`` package)."""
        state = {k: v for k, v in load_musicnn(self.config.pretrained).state_dict().items() if not k.startswith("output.")}
        self.body.load_state_dict(state)
        return self

    def frozen_parts(self) -> list[nn.Module]:
        """The body's modules that do not train in this mode (kept in eval mode)."""
        return [m for m in self.body.children() if not any(p.requires_grad for p in m.parameters())]

    def train(self, mode: bool = True) -> MusicnnClassifier:
        """As ``nn.Module.train``, but frozen parts stay in eval mode: their batch-norms keep
        the pretrained running statistics instead of drifting to this dataset's batches."""
        super().train(mode)
        for part in self.frozen_parts():
            part.eval()
        return self

    def param_groups(self, lr: float) -> list[dict]:
        """AdamW parameter groups: the head at ``lr`` first (the rate ``fit`` logs), then the
        trainable pretrained layers at ``lr * body_lr_factor``; frozen weights are left out."""
        body = [p for p in self.body.parameters() if p.requires_grad]
        groups = [{"params": list(self.head.parameters()), "lr": lr, "name": "head"}]
        if body:
            groups.append({"params": body, "lr": lr * self.config.body_lr_factor, "name": "body"})
        return groups

    def musicnn_input(self, logmels: torch.Tensor) -> torch.Tensor:
        """dB log-mels ``(batch, [1,] 96, frames)`` -> musicnn's ``log10(1 + 10000 x)`` patches ``(batch, frames, 96)``."""
        if logmels.ndim == 4:
            logmels = logmels.squeeze(1)
        if logmels.ndim != 3 or logmels.shape[1] != self.config.n_mels:
            raise ValueError(f"MusicnnClassifier takes (batch, {self.config.n_mels}, frames) dB log-mels, "
                             f"got shape {tuple(logmels.shape)}")
        with torch.autocast(device_type=logmels.device.type, enabled=False):
            power = torch.exp(logmels.float() * _DB_TO_LN_POWER)
            return torch.log10(10000.0 * power + 1.0).transpose(1, 2)

    def embedding(self, logmels: torch.Tensor) -> torch.Tensor:
        """What the head reads, ``(batch, 200)`` penultimate or ``(batch, 1506)`` pooled, of dB log-mels.

        Frozen layers run without autograd: no activations kept for a backward pass that
        would not reach them."""
        body, x, parts = self.body, self.musicnn_input(logmels), set(self.trained_parts())
        with _grad_if(parts & set(_FRONTEND)):
            front = body.frontend(x)
        with _grad_if(parts & set(_FRONTEND + _MIDEND)):
            features = body.midend_features(front)
        if self.config.features == "pooled":
            return torch.cat([features.mean(dim=2), features.amax(dim=2)], dim=1)
        with _grad_if(parts):
            return body._backend(features).penultimate

    def trained_parts(self) -> list[str]:
        """Names of the body's layers that train in this mode."""
        return [n for n, m in self.body.named_children() if any(p.requires_grad for p in m.parameters())]

    def forward(self, logmels: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(logmels))


def _grad_if(trained) -> contextlib.AbstractContextManager:
    """Autograd on when any layer up to here trains (``trained`` non-empty), else ``no_grad``."""
    return contextlib.nullcontext() if trained else torch.no_grad()
