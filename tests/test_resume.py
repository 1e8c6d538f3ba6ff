"""Checkpoints written during training, resuming a killed run, and stopping on a
non-finite loss (issue 10, items 2 and 6); the loop's state saved whole (issue 19)."""
import dataclasses

import numpy as np
import pytest
import torch
from test_training import CLASSES, MEL, SMALL, quick, toy_tracks

from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.training import loop as training
from muzo_lib.training.checkpoints import (
    CheckpointError,
    last_checkpoint_path,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
)
from muzo_lib.training.loop import NonFiniteLossError, TrackSet, TrainConfig, fit, seed_everything
from muzo_lib.training.state import TrainState


def _model(seed=0):
    seed_everything(seed)
    return SpectrogramCNN(CNNConfig(n_classes=3, **SMALL))


def _data():
    return toy_tracks(seed=0), toy_tracks(n_per_class=3, seed=1)


def _without_time(history):
    return {k: v for k, v in history.items() if k != "epoch_time"}


def test_best_and_last_checkpoints_are_written_every_epoch_and_both_predict(tmp_path, monkeypatch):
    written = []
    real_save = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", lambda path, *a, **k: written.append(path.name if hasattr(
        path, "name") else str(path)) or real_save(path, *a, **k))
    train, valid = _data()
    fit(_model(), train, valid, CLASSES, MEL, quick(epochs=3), checkpoint_path=tmp_path / "cnn.pt")
    assert written.count("cnn.last.pt") == 3 and "cnn.pt" in written        # the last one after every epoch
    best, last = load_checkpoint(tmp_path / "cnn.pt"), load_checkpoint(tmp_path / "cnn.last.pt")
    assert last.extra["epoch"] == 3 and 1 <= best.extra["epoch"] <= 3 and best.classes == last.classes == CLASSES
    state = load_training_state(tmp_path / "cnn.last.pt")   # weights_only=True inside: nothing unpickled
    assert state["epoch"] == 3 and len(state["history"]["val_loss"]) == 3 and state["optimizer"]["state"]
    with pytest.raises(CheckpointError, match="no training state"):
        load_training_state(tmp_path / "cnn.pt")


def _bumpy(real_evaluate, first_epoch=1, kill_at=None):
    """``evaluate`` with the validation loss raised by 0.5 at epochs 2-3 (so the LR is cut
    and the kept epoch is not the last), killed by Ctrl-C at epoch ``kill_at``."""
    epochs = iter(range(first_epoch, 100))

    def scored(*args, **kwargs):
        epoch = next(epochs)
        if epoch == kill_at:
            raise KeyboardInterrupt
        out = real_evaluate(*args, **kwargs)
        return {**out, "loss": out["loss"] + (0.5 if epoch in (2, 3) else 0.0)}

    return scored


def test_a_killed_run_resumes_to_the_same_weights_and_history(tmp_path, monkeypatch):
    train, valid = _data()
    config = quick(epochs=5, lr_patience=1, augment=training.AugmentConfig(mixup_alpha=0.4))   # every RNG in use
    real_evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", _bumpy(real_evaluate))
    model = _model()
    whole = fit(model, train, valid, CLASSES, MEL, config, checkpoint_path=tmp_path / "a.pt")
    reference = {k: v.clone() for k, v in model.state_dict().items()}
    assert whole.history["lr"][-1] < config.learning_rate            # the schedule acted

    monkeypatch.setattr(training, "evaluate", _bumpy(real_evaluate, kill_at=3))   # Ctrl-C in epoch 3
    with pytest.raises(KeyboardInterrupt):
        fit(_model(), train, valid, CLASSES, MEL, config, checkpoint_path=tmp_path / "b.pt")
    state = load_training_state(tmp_path / "b.last.pt")
    assert state["epoch"] == 2 and state["best_epoch"] == 1 and state["best_state_dict"] is not None

    monkeypatch.setattr(training, "evaluate", _bumpy(real_evaluate, first_epoch=3))
    torch.manual_seed(123)                                             # the global RNG moved on meanwhile
    resumed_model = _model(seed=7)                                     # other initial weights: all must be restored
    resumed = fit(resumed_model, train, valid, CLASSES, MEL, config, checkpoint_path=tmp_path / "b.pt", resume=True)
    assert resumed.resumed_after_epoch == 2 and resumed.epochs_trained == whole.epochs_trained
    assert _without_time(resumed.history) == _without_time(whole.history)
    assert resumed.best_epoch == whole.best_epoch
    assert all(torch.equal(reference[k], v) for k, v in resumed_model.state_dict().items())
    assert load_checkpoint(tmp_path / "b.pt").extra["epoch"] == whole.best_epoch


def test_resume_can_extend_a_finished_run_and_refuses_foreign_or_missing_state(tmp_path, capsys):
    train, valid = _data()
    path = tmp_path / "cnn.pt"
    fit(_model(), train, valid, CLASSES, MEL, quick(epochs=2), checkpoint_path=path)
    more = fit(_model(), train, valid, CLASSES, MEL, quick(epochs=3), checkpoint_path=path, resume=True)
    assert more.history["epoch"] == [1.0, 2.0, 3.0] and more.resumed_after_epoch == 2
    assert fit(_model(), train, valid, CLASSES, MEL, quick(epochs=1), checkpoint_path=tmp_path / "new.pt",
               resume="auto").resumed_after_epoch == 0                  # "auto" starts afresh when nothing is there
    capsys.readouterr()
    fresh = fit(_model(), train, valid, CLASSES, MEL, quick(epochs=1, verbose=True), checkpoint_path=path)
    assert fresh.resumed_after_epoch == 0 and load_training_state(last_checkpoint_path(path))["epoch"] == 1
    assert "cnn.last.pt" in capsys.readouterr().out          # the earlier run's file it replaces is named
    with pytest.raises(CheckpointError, match="nothing to resume"):
        fit(_model(), train, valid, CLASSES, MEL, quick(), checkpoint_path=tmp_path / "other.pt", resume=True)
    with pytest.raises(CheckpointError, match="trained on classes"):
        fit(_model(), train, valid, ["a", "b", "c"], MEL, quick(epochs=3), checkpoint_path=path, resume=True)
    with pytest.raises(ValueError, match="needs checkpoint_path"):
        fit(_model(), train, valid, CLASSES, MEL, quick(), resume=True)


def _nan_after(model, n):
    """``model`` whose training forward turns NaN after ``n`` calls (a diverging run); its
    weights and their names stay those of the network, so its checkpoints load as usual."""
    forward, calls = model.forward, []

    def diverging(x):
        out = forward(x)
        if model.training:
            calls.append(1)
            if len(calls) > n:
                return out * float("nan")
        return out

    model.forward = diverging
    return model


def test_a_non_finite_training_loss_stops_at_once_and_keeps_the_last_good_epoch(tmp_path):
    train, valid = _data()
    steps_per_epoch = int(np.ceil(len(train) * 2 / 8))
    model = _nan_after(_model(), n=steps_per_epoch + 1)                 # epoch 1 fine, NaN at epoch 2 step 2
    path = tmp_path / "cnn.pt"
    with pytest.raises(NonFiniteLossError) as err:
        fit(model, train, valid, CLASSES, MEL, quick(epochs=4), checkpoint_path=path)
    stop = err.value
    assert (stop.what, stop.epoch, stop.step, stop.kept_epoch) == ("training loss", 2, 2, 1) and np.isnan(stop.value)
    assert "\n" not in str(stop) and str(path) in str(stop)     # one line, naming the kept checkpoint
    assert load_training_state(last_checkpoint_path(path))["epoch"] == 1
    kept = load_checkpoint(path)
    assert kept.extra["epoch"] == 1 and all(torch.isfinite(v).all() for v in kept.model.state_dict().values())
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())   # the kept weights are back in memory


def test_a_non_finite_validation_loss_stops_with_nothing_saved(tmp_path):
    train, valid = _data()
    bad = TrackSet([np.full_like(m, np.inf) if i == 0 else m for i, m in enumerate(valid.logmels)],
                   valid.labels, valid.names)
    with pytest.raises(NonFiniteLossError) as err:
        fit(_model(), train, bad, CLASSES, MEL, quick(epochs=2), checkpoint_path=tmp_path / "cnn.pt")
    stop = err.value
    assert (stop.what, stop.epoch, stop.step, stop.kept_epoch) == ("validation loss", 1, None, 0)
    assert np.isnan(stop.value) and "\n" not in str(stop)
    assert not (tmp_path / "cnn.pt").exists() and not (tmp_path / "cnn.last.pt").exists()


def test_the_summary_reports_the_kept_checkpoints_own_score(capsys, monkeypatch):
    """The result separates the kept epoch's scores from the best of any epoch; the summary
    line prints both, each from the result (its numbers, not its wording, are checked)."""
    scores = iter([(1.0, 20.0), (0.9, 40.0), (0.8, 30.0)])            # loss picks epoch 3; accuracy peaked at 2
    real_evaluate = training.evaluate

    def scripted(*args, **kwargs):
        loss, acc = next(scores)
        return {**real_evaluate(*args, **kwargs), "loss": loss, "accuracy": acc}

    monkeypatch.setattr(training, "evaluate", scripted)
    train, valid = _data()
    result = fit(_model(), train, valid, CLASSES, MEL, quick(epochs=3, verbose=True))
    out = capsys.readouterr().out
    assert result.best_epoch == 3 and result.best_val_acc == 30.0 and result.max_val_acc == 40.0
    assert result.best_val_loss == result.min_val_loss == 0.8 and result.kept_val_acc == 30.0
    summary = out.splitlines()[-1]
    assert "epoch 3" in summary and "30.00%" in summary and "40.00%" in summary and "epoch 2" in summary


def test_train_config_round_trips_through_the_resume_state(tmp_path):
    train, valid = _data()
    fit(_model(), train, valid, CLASSES, MEL, quick(epochs=1), checkpoint_path=tmp_path / "m.pt")
    stored = load_training_state(tmp_path / "m.last.pt")["train_config"]
    assert TrainConfig(**stored) == quick(epochs=1)


# ---------------------------------------------------------------- the loop's state, saved whole

def _state_after_two_epochs():
    model = _model()
    state = TrainState()
    for epoch, (loss, acc) in enumerate([(1.0, 40.0), (1.2, 50.0)], 1):
        state.record(epoch=epoch, train_loss=1.5, train_acc=30.0, val_loss=loss, val_acc=acc, val_segment_acc=acc,
                     val_macro_f1=acc, lr=1e-3, epoch_time=0.5)
        state.judge(loss, model)
        with torch.no_grad():
            next(model.parameters()).add_(1.0)                           # the last weights differ from the kept
    state.micro_batch = 4
    return model, state


def test_the_train_state_round_trips_through_the_last_checkpoint_whole(tmp_path):
    model, state = _state_after_two_epochs()
    assert state.best_epoch == 1 and state.bad_epochs == 1
    assert set(state.to_resume()) == {f.name for f in dataclasses.fields(TrainState)}   # every field is saved
    save_checkpoint(tmp_path / "m.last.pt", model, MEL, CLASSES, 1.0, resume=state.to_resume())
    back = TrainState.from_resume(load_training_state(tmp_path / "m.last.pt"))
    assert {f.name: getattr(back, f.name) for f in dataclasses.fields(TrainState) if f.name != "best_state_dict"} == \
        {f.name: getattr(state, f.name) for f in dataclasses.fields(TrainState) if f.name != "best_state_dict"}
    assert back.best_state_dict.keys() == state.best_state_dict.keys()
    assert all(torch.equal(back.best_state_dict[k], v) for k, v in state.best_state_dict.items())
    assert not torch.equal(next(iter(back.best_state_dict.values())), next(iter(model.state_dict().values())))


def test_a_resume_file_written_before_a_field_existed_still_resumes(tmp_path):
    train, valid = _data()
    path = tmp_path / "cnn.pt"
    fit(_model(), train, valid, CLASSES, MEL, quick(epochs=2), checkpoint_path=path)
    payload = torch.load(last_checkpoint_path(path), weights_only=True)
    del payload["resume"]["micro_batch"]                               # what the code before TrainState wrote
    torch.save(payload, last_checkpoint_path(path))
    assert TrainState.from_resume(load_training_state(last_checkpoint_path(path))).micro_batch is None
    more = fit(_model(), train, valid, CLASSES, MEL, quick(epochs=3), checkpoint_path=path, resume=True)
    assert more.resumed_after_epoch == 2 and more.history["epoch"] == [1.0, 2.0, 3.0]


class _CountingOOM(torch.nn.Module):
    """Fails like CUDA's allocator for batches above ``limit``, counting the failures in training."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit, self.config, self.failures = inner, limit, inner.config, 0

    def forward(self, x):
        if x.shape[0] > self.limit:
            self.failures += self.training
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_a_resumed_run_keeps_the_micro_batch_that_out_of_memory_settled_on(tmp_path):
    train, valid = _data()
    path = tmp_path / "cnn.pt"
    first = _CountingOOM(_model(), limit=3)
    fit(first, train, valid, CLASSES, MEL, quick(epochs=1, batch_size=8), checkpoint_path=path)
    assert first.failures == 2 and load_training_state(last_checkpoint_path(path))["micro_batch"] == 2
    again = _CountingOOM(_model(), limit=3)
    result = fit(again, train, valid, CLASSES, MEL, quick(epochs=2, batch_size=8), checkpoint_path=path, resume=True)
    assert again.failures == 0 and result.effective_batch == 8
