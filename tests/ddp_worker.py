"""One training job that tests/test_distributed.py runs alone and under torchrun (gloo, CPU).

``python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py OUT_DIR``
trains two networks on toy log-mels with the same *global* batch as the single-process
run of :func:`train_both` and writes rank 0's results to ``OUT_DIR/result.json``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from muzo_lib.features.augment import AugmentConfig
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.training import distributed
from muzo_lib.training.loop import TrackSet, TrainConfig, fit, seed_everything

MEL = MelConfig(n_mels=32)
CLASSES = ["low", "mid", "high"]
GLOBAL_BATCH = 8


def toy_tracks(n_per_class: int, seed: int) -> TrackSet:
    """Log-mels whose loud band depends on the class (as in test_training)."""
    rng = np.random.default_rng(seed)
    logmels, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            x = rng.normal(-60, 3, (32, 200 + int(rng.integers(0, 50))))
            x[c * 10:c * 10 + 8] += 40
            logmels.append(x.astype(np.float16))
            labels.append(c)
    return TrackSet(logmels, labels, [f"t{i}" for i in range(len(labels))])


class BandModel(nn.Module):
    """A network without BatchNorm or dropout: its gradient over a batch does not depend on
    how the batch is split over processes, so DDP must reproduce one process exactly."""

    def __init__(self):
        super().__init__()
        self.config = CNNConfig(n_classes=3, n_mels=32)
        self.conv = nn.Conv1d(32, 8, 5, padding=2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x / 40)).mean(dim=-1))


def config(world_size: int, **kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=GLOBAL_BATCH // world_size, segment_seconds=1.0, crops_per_track=2,
                learning_rate=3e-3, progress=False, verbose=False, augment=AugmentConfig.off(), device="cpu",
                mixed_precision=False)
    return TrainConfig(**{**base, **kw})


def train_both(world_size: int, out_dir: Path) -> dict:
    """Train the BatchNorm-free model and a small SpectrogramCNN (BatchNorm + dropout);
    the CNN writes its checkpoints into ``out_dir``."""
    train, valid = toy_tracks(6, 0), toy_tracks(3, 1)
    seed_everything(0)
    plain = fit(BandModel(), train, valid, CLASSES, MEL, config(world_size))
    seed_everything(0)
    cnn_model = SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 8, 8, 8), hidden=16, dropout=0.0))
    cnn = fit(cnn_model, train, valid, CLASSES, MEL, config(world_size, epochs=6, learning_rate=1e-2),
              checkpoint_path=out_dir / "cnn.pt")
    return {"plain": plain.history, "cnn": cnn.history, "cnn_effective_batch": cnn.effective_batch,
            "world_size": cnn.world_size}


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = Path(sys.argv[1])
    result = train_both(distributed.current().world_size if distributed.init_distributed("cpu").active else 1, out)
    if distributed.current().is_main:
        (out / "result.json").write_text(json.dumps(result))
    distributed.shutdown()
