"""The networks: :class:`SpectrogramCNN`, :class:`HybridCNNRNN` and :class:`AttentionPooling`.

Each network takes log-mel spectrograms in dB, shaped ``(batch, n_mels, frames)`` (or
``(batch, 1, n_mels, frames)``), and returns class logits ``(batch, n_classes)``. Each
is built from a plain config dataclass (nanoGPT style) that is saved next to the
weights, so a checkpoint alone rebuilds the network (:func:`build_model`).

Example:
    >>> model = SpectrogramCNN(CNNConfig(n_classes=6))               # pooled head
    >>> model(torch.randn(4, 128, 130)).shape                        # 4 crops of 3 s
    torch.Size([4, 6])
    >>> flat = SpectrogramCNN(CNNConfig(n_classes=10, head="flatten", input_frames=1292))
    >>> count_parameters(flat) // 1_000_000                          # the seed document's 30 s network
    84
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

#: The seed document's filters per convolution block.
SEED_CHANNELS = (32, 64, 128, 256)


@dataclass
class CNNConfig:
    """Settings of a :class:`SpectrogramCNN`.

    Attributes:
        n_classes: output classes.
        n_mels: mel bands of the input (its height).
        head: ``"pooled"`` (default: average over frequency, mean + max over time, a
            small dense layer; any input length) or ``"flatten"`` (the seed document's
            Flatten -> Dense 512 -> Dense 128 head; needs exactly ``input_frames`` frames;
            files from before the rename say ``"seed"``, read as ``"flatten"``).
        channels: filters of the four Conv2D + BatchNorm + ReLU + MaxPool(2x2) blocks.
            ``None`` gives the seed's ``(32, 64, 128, 256)`` for both heads (``(16, 32, 64,
            128)`` trains about 2.7x faster on 2 CPU cores: a knob for slow machines).
        hidden: units of the pooled head's dense layer.
        dropout: dropout probability before each dense layer (0.5 as in the seed).
        input_frames: frames per input, for the flatten head's size (130 = 3 s,
            1292 = 30 s at 22050 Hz and hop 512). Ignored by the pooled head.
    """
    n_classes: int = 10
    n_mels: int = 128
    head: str = "pooled"
    channels: tuple[int, ...] | None = None
    hidden: int = 128
    dropout: float = 0.5
    input_frames: int = 130

    architecture = "cnn"  # class attribute: not a field, not saved twice

    def __post_init__(self):
        if self.head == "seed":  # the name before 0.2: same network
            self.head = "flatten"
        if self.head not in ("pooled", "flatten"):
            raise ValueError(f"CNNConfig.head must be 'pooled' or 'flatten', got {self.head!r}")
        if self.channels is None:
            self.channels = SEED_CHANNELS
        self.channels = tuple(int(c) for c in self.channels)
        _check_positive(self, "n_classes", "n_mels", "hidden", "input_frames")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"CNNConfig.channels must be four positive filter counts, got {self.channels}")
        if self.head == "flatten" and (self.n_mels < 16 or self.input_frames < 16):
            raise ValueError("the flatten head needs at least 16 mel bands and 16 frames (four 2x2 poolings)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass
class HybridConfig:
    """Settings of a :class:`HybridCNNRNN`.

    Attributes:
        n_classes: output classes.
        n_mels: mel bands of the input.
        channels: filters of the three Conv2D + BatchNorm + ReLU + MaxPool blocks.
        time_pool: pooling factor along time in each block (frequency is always halved);
            ``(2, 2, 1)`` turns 3 s (130 frames) into 32 steps of ~93 ms for the LSTM.
        rnn_hidden: hidden units per direction of the bidirectional LSTM (128 as in the seed).
        rnn_layers: stacked LSTM layers.
        attention_dim: size of the attention scorer's hidden layer.
        dense: units of the dense layer after attention pooling.
        dropout: dropout probability.
    """
    n_classes: int = 10
    n_mels: int = 128
    channels: tuple[int, ...] = (16, 32, 64)
    time_pool: tuple[int, ...] = (2, 2, 1)
    rnn_hidden: int = 128
    rnn_layers: int = 1
    attention_dim: int = 64
    dense: int = 128
    dropout: float = 0.5

    architecture = "hybrid"

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.time_pool = tuple(int(p) for p in self.time_pool)
        _check_positive(self, "n_classes", "n_mels", "rnn_hidden", "rnn_layers", "attention_dim", "dense")
        if len(self.channels) != 3 or len(self.time_pool) != 3 or min(self.channels + self.time_pool) < 1:
            raise ValueError("HybridConfig.channels and time_pool need three positive values each")
        if self.n_mels < 8:
            raise ValueError("the hybrid model needs at least 8 mel bands (three frequency poolings)")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def _check_positive(config, *names):
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{type(config).__name__}.{name} must be a positive integer, got {value!r}")


def conv_block(c_in: int, c_out: int, pool=(2, 2)) -> nn.Sequential:
    """Conv2D 3x3 + BatchNorm + ReLU + MaxPool: the unit both networks stack.

    The ReLU runs after the pooling: ReLU is monotonic, so ``relu(max(x)) == max(relu(x))``
    and the gradients agree; the network is the seed's. The ReLU then reads and writes a
    quarter of the values, which matters on a CPU, where the first block's 32 full-size
    channels are the most memory traffic of the whole network (``benchmarks/bench_cnn.py``
    times both orders)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.MaxPool2d(pool), nn.ReLU(inplace=True))


class _InputNorm(nn.Module):
    """Per-mel-band BatchNorm of the dB input: learns each band's level and spread, so the
    network sees inputs near 0 +- 1 without hand-set constants (dB values span ~80)."""

    def __init__(self, n_mels: int):
        super().__init__()
        self.norm = nn.BatchNorm1d(n_mels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:  # (batch, 1, n_mels, frames)
            x = x.squeeze(1)
        if x.dim() != 3:
            raise ValueError(f"expected log-mels shaped (batch, n_mels, frames), got {tuple(x.shape)}")
        return self.norm(x.float()).unsqueeze(1)


class SpectrogramCNN(nn.Module):
    """Four convolution blocks over a log-mel image, then a classification head.

    ``head="flatten"`` is the seed document's network exactly: blocks of 32/64/128/256
    filters, Flatten, Dense 512 + ReLU + Dropout, Dense 128 + ReLU + Dropout, Dense
    n_classes. On a 30 s input (128 x 1292) the flatten has 256 x 8 x 80 = 163,840
    values and the first dense layer alone holds 84 M weights: it memorises
    positions in time, needs a fixed input length, and overfits small datasets.

    ``head="pooled"`` (default) averages the last block over frequency and takes the mean
    and the max over time, so it has a few hundred thousand parameters in all and
    accepts any number of frames (a 3 s crop in training, a whole track in prediction).

    Args:
        config: a :class:`CNNConfig`; keyword arguments override its fields.

    Input: ``(batch, n_mels, frames)`` dB log-mels (float32). Output: logits ``(batch, n_classes)``.
    """

    def __init__(self, config: CNNConfig | None = None, **overrides):
        super().__init__()
        self.config = config = _with_overrides(config or CNNConfig(), overrides)
        self.input_norm = _InputNorm(config.n_mels)
        c = config.channels
        self.features = nn.Sequential(conv_block(1, c[0]), conv_block(c[0], c[1]),
                                      conv_block(c[1], c[2]), conv_block(c[2], c[3]))
        if config.head == "flatten":
            flat = c[3] * (config.n_mels // 16) * (config.input_frames // 16)
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(flat, 512), nn.ReLU(inplace=True), nn.Dropout(config.dropout),
                nn.Linear(512, 128), nn.ReLU(inplace=True), nn.Dropout(config.dropout),
                nn.Linear(128, config.n_classes))
        else:
            self.head = nn.Sequential(
                nn.Dropout(config.dropout), nn.Linear(2 * c[3], config.hidden), nn.ReLU(inplace=True),
                nn.Dropout(config.dropout), nn.Linear(config.hidden, config.n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.input_norm(x))
        if self.config.head == "flatten":
            if x.shape[-1] != self.config.input_frames // 16:
                raise ValueError(f"the flatten head needs inputs of {self.config.input_frames} frames; "
                                 f"got {x.shape[-1] * 16}-ish (use head='pooled' for any length)")
            return self.head(x)
        x = x.mean(dim=2)                                        # (batch, channels, time)
        return self.head(torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1))


class AttentionPooling(nn.Module):
    """Weighted average over time steps, the weights learned: ``softmax(v . tanh(W h_t))``.

    Args:
        dim: features per time step.
        hidden: size of the scorer's hidden layer.

    ``forward(x)`` takes ``(batch, steps, dim)`` and returns ``(pooled (batch, dim),
    weights (batch, steps))``; each row of weights sums to 1 and says how much each time
    step contributed (the notebook draws them over the spectrogram).
    """

    def __init__(self, dim: int, hidden: int = 64):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1, bias=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = torch.softmax(self.score(x).squeeze(-1).float(), dim=-1)
        return torch.einsum("bt,btd->bd", weights.to(x.dtype), x), weights


class HybridCNNRNN(nn.Module):
    """CNN front + bidirectional LSTM + attention pooling, as the seed document describes.

    Three Conv2D + BatchNorm + ReLU + MaxPool blocks find local patterns (onsets,
    harmonics); their output is read as a sequence of time steps, each described by
    ``channels x remaining mel bands`` features; a bidirectional LSTM
    (``rnn_hidden`` units per direction) links the steps; :class:`AttentionPooling`
    weights and averages them; Dense + ReLU + Dropout and a final Dense give the logits.

    Args:
        config: a :class:`HybridConfig`; keyword arguments override its fields.

    ``forward(x, return_attention=False)``: ``x`` is ``(batch, n_mels, frames)``; returns
    logits ``(batch, n_classes)``, or ``(logits, weights (batch, steps))`` when
    ``return_attention``. :meth:`frames_per_step` maps a step back to input frames.
    """

    def __init__(self, config: HybridConfig | None = None, **overrides):
        super().__init__()
        self.config = config = _with_overrides(config or HybridConfig(), overrides)
        self.input_norm = _InputNorm(config.n_mels)
        c, p = config.channels, config.time_pool
        self.features = nn.Sequential(conv_block(1, c[0], (2, p[0])), conv_block(c[0], c[1], (2, p[1])),
                                      conv_block(c[1], c[2], (2, p[2])))
        self.rnn = nn.LSTM(c[2] * (config.n_mels // 8), config.rnn_hidden, num_layers=config.rnn_layers,
                           batch_first=True, bidirectional=True,
                           dropout=config.dropout if config.rnn_layers > 1 else 0.0)
        self.attention = AttentionPooling(2 * config.rnn_hidden, config.attention_dim)
        self.head = nn.Sequential(nn.Linear(2 * config.rnn_hidden, config.dense), nn.ReLU(inplace=True),
                                  nn.Dropout(config.dropout), nn.Linear(config.dense, config.n_classes))

    def frames_per_step(self) -> int:
        """Input frames covered by one LSTM time step."""
        steps = 1
        for p in self.config.time_pool:
            steps *= p
        return steps

    def forward(self, x: torch.Tensor, return_attention: bool = False):
        x = self.features(self.input_norm(x))                      # (batch, C, mels/8, steps)
        if x.shape[-1] < 1:
            raise ValueError(f"input too short: needs at least {self.frames_per_step()} frames")
        x = x.flatten(1, 2).transpose(1, 2).contiguous()           # (batch, steps, features)
        out, _ = self.rnn(x)
        pooled, weights = self.attention(out)
        logits = self.head(pooled)
        return (logits, weights) if return_attention else logits


from muzo_lib.models.pretrained.finetune import FinetuneConfig, MusicnnClassifier  # noqa: E402  (musicnn's body + a new head)

ARCHITECTURES = {"cnn": (CNNConfig, SpectrogramCNN), "hybrid": (HybridConfig, HybridCNNRNN),
                 "musicnn-finetune": (FinetuneConfig, MusicnnClassifier)}


def config_to_dict(config) -> dict:
    """A config as plain JSON-able values, with its ``architecture`` name."""
    values = asdict(config)
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
    return {"architecture": config.architecture, **values}


def config_from_dict(values: dict):
    """The config dataclass a :func:`config_to_dict` dict describes.

    Raises:
        ValueError: unknown architecture or fields (a file from another version or project).
    """
    values = dict(values)
    name = values.pop("architecture", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; expected one of {sorted(ARCHITECTURES)}")
    config_class = ARCHITECTURES[name][0]
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{name} config has unknown fields {unknown}")
    return config_class(**values)


def build_model(config) -> nn.Module:
    """The network a config (dataclass or :func:`config_to_dict` dict) describes."""
    if isinstance(config, dict):
        config = config_from_dict(config)
    return ARCHITECTURES[config.architecture][1](config)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _with_overrides(config, overrides: dict):
    if not overrides:
        return config
    return type(config)(**{**asdict(config), **overrides})
