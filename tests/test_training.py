"""The training loop: crops, segments, augmentation, precision, OOM recovery, early stopping,
checkpoints, determinism."""
import numpy as np
import pytest
import torch
from helpers import tiny_dataset
from torch import nn

from muzo_lib.features.augment import AugmentConfig, mixup, random_gain, spec_augment
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.models import devices
from muzo_lib.models.devices import autocast_dtype
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.training import loop as training
from muzo_lib.training.checkpoints import (
    CheckpointError,
    last_checkpoint_path,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
)
from muzo_lib.training.loop import (
    CropDataset,
    TrackSet,
    TrainConfig,
    evaluate,
    fit,
    seed_everything,
    track_segments,
)

MEL = MelConfig(n_mels=32)
CLASSES = ["low", "mid", "high"]
SMALL = dict(n_mels=32, channels=(4, 8, 8, 8), hidden=16)


def toy_tracks(n_per_class=6, frames=200, seed=0):
    """Log-mels whose loud band depends on the class: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    logmels, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            x = rng.normal(-60, 3, (32, frames + int(rng.integers(0, 50))))
            x[c * 10:c * 10 + 8] += 40
            logmels.append(x.astype(np.float16)); labels.append(c)
    return TrackSet(logmels, labels, [f"t{i}" for i in range(len(labels))])


def quick(**kw):
    base = dict(epochs=3, batch_size=8, segment_seconds=1.0, crops_per_track=2, progress=False, verbose=False,
                learning_rate=3e-3)
    return TrainConfig(**{**base, **kw})


def test_track_segments_cover_the_tail_and_pad_with_silence():
    logmel = np.arange(2 * 105, dtype=np.float32).reshape(2, 105)
    segs = track_segments(logmel, 40)
    assert segs.shape == (3, 2, 40)                      # 0-40, 40-80, and 65-105 for the 25-frame tail
    assert np.array_equal(segs[-1], logmel[:, 65:])
    short = track_segments(np.full((2, 10), -30.0, np.float32), 40)
    assert short.shape == (1, 2, 40) and short.min() == -30.0 and short.max() == -30.0   # not 0 dB


def test_crops_are_repeatable_per_epoch_and_change_between_epochs():
    data = CropDataset(toy_tracks(), frames=43, crops_per_track=2, seed=1)
    data.set_epoch(1); a = [data[i][0] for i in range(5)]
    data.set_epoch(1); b = [data[i][0] for i in range(5)]
    data.set_epoch(2); c = [data[i][0] for i in range(5)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert len(data) == 36 and a[0].shape == (32, 43)


def test_spec_augment_gain_and_mixup():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 32, 50)
    masked = spec_augment(x, 2, 10, 1, g)
    changed_bands = (masked != x).any(dim=2)
    assert changed_bands.any() and (changed_bands.sum(dim=1) <= 20).all()
    assert torch.all(masked[(masked != x)] == x.amin(dim=(1, 2), keepdim=True).expand_as(x)[(masked != x)])
    shifted = random_gain(x, 6.0, g)
    offsets = (shifted - x).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets)) and offsets.abs().max() <= 6.0
    targets = torch.eye(3)[torch.tensor([0, 1, 2, 0])]
    mixed, soft = mixup(x, targets, 0.4, g)
    assert torch.allclose(soft.sum(dim=1), torch.ones(4)) and not torch.equal(mixed, x)


def test_precision_is_decided_from_the_device_and_cpu(monkeypatch):
    cpu = torch.device("cpu")
    assert autocast_dtype(cpu, False) is None
    assert autocast_dtype(cpu, True) == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert autocast_dtype(cpu, "auto") is None            # emulated bf16 would be slower than float32
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype(cpu, "auto") == torch.bfloat16


def test_bf16_is_not_native_when_pytorch_is_held_to_avx2():
    """The emulation of an AVX2-only machine (ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA) must
    also switch the run-time bf16 choice off, or autocast would emulate bf16 there."""
    assert devices._isa_allows_bf16({}, "AVX512")
    assert devices._isa_allows_bf16({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "AVX512")
    assert devices._isa_allows_bf16({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "AVX512")
    assert not devices._isa_allows_bf16({}, "AVX2")
    assert not devices._isa_allows_bf16({"ONEDNN_MAX_CPU_ISA": "AVX2"}, "AVX512")
    assert not devices._isa_allows_bf16({"DNNL_MAX_CPU_ISA": "avx512_core"}, "AVX512")


def test_channels_last_on_every_cpu_and_on_a_gpu_with_mixed_precision():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert devices.use_channels_last(cpu, None) and devices.use_channels_last(cpu, torch.bfloat16)
    assert not devices.use_channels_last(cuda, None) and devices.use_channels_last(cuda, torch.float16)
    assert not devices.use_channels_last(cpu, None, False) and devices.use_channels_last(cuda, None, True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_one_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        devices.resolve_device("cuda")


def test_fit_learns_and_a_cpu_run_repeats_exactly(tmp_path):
    train, valid = toy_tracks(seed=0), toy_tracks(n_per_class=3, seed=1)
    runs = []
    for _ in range(2):
        seed_everything(0)
        model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL))
        runs.append(fit(model, train, valid, CLASSES, MEL, quick(epochs=4), checkpoint_path=tmp_path / "m.pt"))
    assert runs[0].history == {k: v for k, v in runs[1].history.items() if k != "epoch_time"} | \
        {"epoch_time": runs[0].history["epoch_time"]}
    assert runs[0].best_val_acc > 100 / 3
    scores = evaluate(model, valid, CLASSES, MEL.frames(1.0))
    assert scores["track_probs"].shape == (9, 3)
    assert scores["accuracy"] == pytest.approx(100 * np.mean(scores["predictions"] == scores["labels"]))


def test_early_stopping_and_lr_cut_when_nothing_improves(capsys, monkeypatch):
    real_evaluate = training.evaluate
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: {**real_evaluate(*a, **k), "loss": 1.0})  # a plateau
    seed_everything(0)
    model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL))
    result = fit(model, toy_tracks(), toy_tracks(seed=1), CLASSES, MEL,
                 quick(epochs=6, early_stopping_patience=2, lr_patience=0, verbose=True))
    out = capsys.readouterr().out
    assert result.stopped_early and result.epochs_trained == 3 and result.best_epoch == 1
    assert result.history["lr"] == [3e-3, 3e-3, 1.5e-3]   # the LR each epoch trained with: cut after epoch 2
    assert len(out.splitlines()) > result.epochs_trained    # verbose: the run is logged (its wording is free)


def test_the_lr_is_cut_by_the_same_improvement_rule_as_the_checkpoint(monkeypatch):
    """A validation loss that falls by 1e-5 an epoch is an improvement for the checkpoint, so it
    must not count as a plateau for the LR schedule either (PyTorch's default relative threshold,
    1e-4 x the loss, would call it one and cut the LR while the kept epoch still moves)."""
    real_evaluate, losses = training.evaluate, iter(1.0 - 1e-5 * np.arange(100))
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: {**real_evaluate(*a, **k), "loss": float(next(losses))})
    seed_everything(0)
    result = fit(SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)), toy_tracks(), toy_tracks(seed=1), CLASSES, MEL,
                 quick(epochs=4, early_stopping_patience=2, lr_patience=0))
    assert result.best_epoch == 4 and not result.stopped_early
    assert result.history["lr"] == [3e-3] * 4


@pytest.mark.parametrize("channels_last", [False, True])
def test_training_keeps_its_memory_format_through_validation(channels_last):
    """Validation runs in inference mode: had it reformatted the weights there, they would be
    inference tensors and the next epoch's backward pass would fail."""
    model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL))
    fit(model, toy_tracks(), toy_tracks(seed=1), CLASSES, MEL, quick(epochs=2, channels_last=channels_last))
    weight = model.features[1][0].weight                            # (the first has one input channel)
    assert weight.is_contiguous(memory_format=torch.channels_last) == channels_last and not weight.is_inference()
    training.predict_segments(model, toy_tracks().logmels[:2], 40, "cpu", channels_last=True)
    assert not model.features[1][0].weight.is_inference()          # still trainable after a prediction


def test_batchnorm_recalibration_holds_the_exact_statistics_of_plain_crops():
    """Running statistics recomputed from one unaugmented crop per track: the crops' exact mean
    whatever the batch size (a last batch of one crop weighs one crop, not one batch), with the
    weights, the momentum and the mode left alone."""
    frames = 64
    tracks = toy_tracks(n_per_class=3, frames=frames)
    tracks = TrackSet([x[:, :frames] for x in tracks.logmels], tracks.labels, tracks.names)  # one crop each: no offset
    model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)).train()
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.running_mean.fill_(100.0)
        m.running_var.fill_(1e-3)
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    training.recalibrate_batchnorm(model, tracks, frames, "cpu", batch_size=9)  # the 9 crops in one batch
    x = np.stack([np.asarray(m, np.float32) for m in tracks.logmels])          # (tracks, bands, frames)
    first = norms[0]                                                            # the per-band input norm
    assert np.allclose(first.running_mean.numpy(), x.mean(axis=(0, 2)), atol=1e-3)
    assert np.allclose(first.running_var.numpy(), x.var(axis=(0, 2), ddof=1), rtol=1e-3)
    assert all(m.running_mean.abs().max() < 100 and torch.isfinite(m.running_var).all() for m in norms)
    training.recalibrate_batchnorm(model, tracks, frames, "cpu", batch_size=4)  # batches of 4, 4 and 1
    assert np.allclose(first.running_mean.numpy(), x.mean(axis=(0, 2)), atol=1e-3)  # (deeper layers see
    # batch-normalised inputs, so their statistics depend on the batches, as in training)
    assert model.training and all(m.momentum == 0.1 for m in norms)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())


class _OOMAbove(nn.Module):
    """Wraps a model and fails like CUDA's allocator for batches above ``limit``."""

    def __init__(self, inner, limit):
        super().__init__()
        self.inner, self.limit, self.config = inner, limit, inner.config

    def forward(self, x):
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.inner(x)


def test_out_of_memory_halves_the_batch_and_keeps_the_effective_batch(tmp_path):
    seed_everything(0)
    model = _OOMAbove(SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)), limit=3)
    result = fit(model, toy_tracks(), toy_tracks(seed=1), CLASSES, MEL, quick(epochs=1, batch_size=8),
                 checkpoint_path=tmp_path / "m.pt")
    state = load_training_state(last_checkpoint_path(tmp_path / "m.pt"))
    assert state["micro_batch"] == 2                        # 8 -> 4 -> 2: the first that fits under the limit
    assert result.effective_batch == 8 and result.epochs_trained == 1


def test_micro_batches_give_the_same_gradient_as_one_batch():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    model.config = CNNConfig(n_classes=3)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    targets = torch.nn.functional.one_hot(y, 3).float()
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    grads = []
    for micro in (8, 2):
        model.zero_grad()
        training._forward_backward(model, x, targets, y, micro, 2, None, scaler, 0.0)
        grads.append(model.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_hybrid_trains_with_the_same_loop():
    seed_everything(0)
    model = HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, channels=(4, 8, 8), rnn_hidden=8, dense=8))
    result = fit(model, toy_tracks(), toy_tracks(seed=1), CLASSES, MEL, quick(epochs=1))
    assert result.epochs_trained == 1 and result.final_val_acc == result.history["val_acc"][-1]


def test_waveform_time_stretch_and_pitch_shift_train_from_audio(tmp_path):
    root = tiny_dataset(tmp_path / "data", per_genre=2, seconds=2.0)
    paths = sorted(root.glob("*/*.wav"))
    genres = sorted({p.parent.name for p in paths})
    mel = MelConfig(n_mels=32)
    from muzo_lib.features.cache import LogMelCache
    cache = LogMelCache(tmp_path / "cache", mel)
    tracks = TrackSet([cache.load(p) for p in paths], [genres.index(p.parent.name) for p in paths],
                      [p.stem for p in paths], [str(p) for p in paths])
    seed_everything(0)
    model = SpectrogramCNN(CNNConfig(n_classes=len(genres), **SMALL))
    config = quick(epochs=1, augment=AugmentConfig(time_stretch=0.1, pitch_shift=1.0))
    assert fit(model, tracks, tracks, genres, mel, config).epochs_trained == 1
    with pytest.raises(ValueError, match="audio paths"):
        fit(model, TrackSet(tracks.logmels, tracks.labels, tracks.names), tracks, genres, mel, config)


# ---------------------------------------------------------------- checkpoints

def _saved(tmp_path, architecture="cnn"):
    model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)) if architecture == "cnn" else \
        HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, rnn_hidden=8))
    return model, save_checkpoint(tmp_path / f"{architecture}.pt", model, MEL, CLASSES, 1.0, extra={"acc": np.float32(1)})


def test_checkpoint_holds_configs_and_classes_and_loads_weights_only(tmp_path):
    model, path = _saved(tmp_path)
    raw = torch.load(path, weights_only=True)
    assert raw["classes"] == CLASSES and raw["mel_config"]["n_mels"] == 32 and raw["model_config"]["architecture"] == "cnn"
    ckpt = load_checkpoint(path, architecture="cnn", classes=CLASSES)
    x = torch.randn(2, 32, 43)
    model.eval()
    assert torch.allclose(ckpt.model(x), model(x)) and ckpt.mel_config == MEL and ckpt.extra["acc"] == 1.0


def test_checkpoint_errors_are_one_line(tmp_path):
    _, path = _saved(tmp_path, "hybrid")
    with pytest.raises(CheckpointError, match="holds a 'hybrid' network, not 'cnn'"):
        load_checkpoint(path, architecture="cnn")
    with pytest.raises(CheckpointError, match="trained on classes"):
        load_checkpoint(path, classes=["rock", "jazz", "pop"])
    junk = tmp_path / "junk.pt"; junk.write_bytes(b"this is not a model")
    other = tmp_path / "other.pt"; torch.save({"weights": torch.zeros(3)}, other)
    for bad in (junk, other, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(bad)
        assert "\n" not in str(err.value)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, path = _saved(tmp_path)
    before = path.read_bytes()

    def crash(obj, f):
        open(f, "wb").write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, MEL, CLASSES, 1.0)
    assert path.read_bytes() == before and list(tmp_path.glob(".*tmp")) == []


class _Recording(dict):
    """A dict that counts its look-ups (how many log-mels were read)."""

    asked = 0

    def __getitem__(self, key):
        self.asked += 1
        return super().__getitem__(key)


def test_segments_are_scored_track_by_track_in_batches_that_span_tracks():
    seed_everything(0)
    model = SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)).eval()
    tracks = toy_tracks(n_per_class=2)
    frames = 40
    # the reference: every segment alone (BatchNorm in eval: a segment's output does not depend on its batch)
    segments = [(i, s) for i, m in enumerate(tracks.logmels) for s in track_segments(np.asarray(m, np.float32), frames)]
    with torch.no_grad():
        alone = np.concatenate([torch.softmax(model(torch.from_numpy(s[None])), -1).numpy() for _, s in segments])
    for given in (tracks, list(tracks.logmels), (m for m in tracks.logmels)):          # a generator too
        probs, owner = training.predict_segments(model, given, frames, "cpu", batch_size=7, precision=False,
                                                 channels_last=False)
        np.testing.assert_allclose(probs, alone, atol=1e-5)
        assert list(owner) == [i for i, _ in segments]
    sizes = []
    oom = _OOMAbove(model, limit=3)
    oom.forward = lambda x, inner=oom.forward: sizes.append(len(x)) or inner(x)
    probs, _ = training.predict_segments(oom, tracks, frames, "cpu", batch_size=8, precision=False, channels_last=False)
    np.testing.assert_allclose(probs, alone, atol=1e-5)
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) <= {1, 2}                        # out of memory: halved, kept


def test_a_split_from_a_mapping_reads_its_log_mels_only_when_used(tmp_path):
    from muzo_lib.data.runs import prepare_run

    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=4), tmp_path / "run")
    logmels = _Recording({t: np.zeros((32, 100), np.float16) for t in run.tracks.track_id[1:]})  # one track missing
    train = TrackSet.from_run(run, logmels, "train")
    assert logmels.asked == 0 and run.tracks.track_id[0] not in train.names
    assert len(train) == len(train.names) == len(train.labels) and len(train) >= 1
    train.logmels[0]
    assert logmels.asked == 1


def test_training_from_the_cache_read_as_used_matches_training_from_memory(tmp_path):
    from muzo_lib.data.runs import prepare_run

    run = prepare_run(tiny_dataset(tmp_path / "data", per_genre=4, seconds=3.0), tmp_path / "run")
    mel = MelConfig(n_mels=32)
    streamed = run.logmels(mel, progress=False, memory_mb=0)              # every use reads the file
    in_memory = {t: streamed[t] for t in streamed}
    results = []
    for logmels in (in_memory, streamed):
        seed_everything(0)
        sets = [TrackSet.from_run(run, logmels, split) for split in ("train", "valid")]
        model = SpectrogramCNN(CNNConfig(n_classes=len(run.classes), **SMALL))
        results.append(fit(model, *sets, run.classes, mel, quick(epochs=2)).history)
    assert streamed.held_bytes == 0 and streamed.reads > len(streamed)
    assert {k: v for k, v in results[0].items() if k != "epoch_time"} == \
        {k: v for k, v in results[1].items() if k != "epoch_time"}
