"""TensorBoard event files from fit: one point per epoch where tensorboard is installed,
and a run that goes on as before where it is not."""
import sys

import pytest
from test_training import CLASSES, MEL, SMALL, quick, toy_tracks

from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.training import tensorboard as tensorboard_log
from muzo_lib.training.loop import fit, seed_everything


def _fit(tmp_path, epochs=2):
    seed_everything(0)
    return fit(SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)), toy_tracks(), toy_tracks(n_per_class=3, seed=1),
               CLASSES, MEL, quick(epochs=epochs), tensorboard_dir=tmp_path / "tensorboard" / "cnn")


def test_fit_writes_the_history_as_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = _fit(tmp_path, epochs=3)
    folder = tmp_path / "tensorboard" / "cnn"
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    events = EventAccumulator(str(folder)).Reload()
    assert set(events.Tags()["scalars"]) == set(tensorboard_log.SCALARS)
    for tag, key in tensorboard_log.SCALARS.items():
        points = events.Scalars(tag)
        assert [p.step for p in points] == [1, 2, 3]
        assert [p.value for p in points] == pytest.approx(result.history[key], rel=1e-6)   # stored as float32


def test_without_tensorboard_training_goes_on_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)       # as if it were not installed
    monkeypatch.setattr(tensorboard_log, "_said_missing", False)
    said = []
    events = tensorboard_log.EventFiles.open(tmp_path / "tb", said.append)
    assert events.writer is None and len(said) == 1 and not (tmp_path / "tb").exists()
    tensorboard_log.EventFiles.open(tmp_path / "tb", said.append)
    assert len(said) == 1                                                   # said once per process
    result = _fit(tmp_path, epochs=1)
    assert result.epochs_trained == 1 and not (tmp_path / "tensorboard").exists()
