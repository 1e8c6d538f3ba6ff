"""musicnn fine-tuned (the ``musicnn-finetune`` kind): head, frozen parts, learning rates, pretrained weights, CLI."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

from muzo_lib.cli import main
from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig
from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.models.pretrained.finetune import MUSICNN_INPUT, PATCH_SECONDS, FinetuneConfig, MusicnnClassifier
from muzo_lib.training.checkpoints import load_training_state
from muzo_lib.training.loop import TrackSet, TrainConfig, fit
from tests.helpers import tiny_dataset, tone

pytest.importorskip("musicnn")


def _model(mode: str, n_classes: int = 3, pretrained: bool = False, features: str = "penultimate") -> MusicnnClassifier:
    torch.manual_seed(0)
    model = MusicnnClassifier(FinetuneConfig(n_classes=n_classes, finetune=mode, features=features))
    return model.load_pretrained() if pretrained else model


def test_the_new_head_gives_one_logit_per_class_from_db_logmels():
    model = _model("top", n_classes=5).eval()
    assert model(torch.full((2, 96, 187), -40.0)).shape == (2, 5)
    assert model(torch.full((2, 1, 96, 64), -40.0)).shape == (2, 5)        # any length, a channel axis allowed
    pooled = _model("top", n_classes=5, features="pooled").eval()
    assert pooled.head[1].in_features == 1506 and pooled(torch.full((2, 96, 187), -40.0)).shape == (2, 5)
    with pytest.raises(ValueError, match="takes 96 mel bands"):
        FinetuneConfig(n_mels=128)
    with pytest.raises(ValueError, match="\\(batch, 96, frames\\)"):
        model(torch.zeros(2, 64, 187))


def _one_step(model: MusicnnClassifier) -> dict[str, torch.Tensor]:
    """The state before one AdamW step on a random batch (the model is changed in place)."""
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    optimizer = torch.optim.AdamW(model.param_groups(1e-2))
    x = torch.randn(4, 96, 64) * 10 - 40
    torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    return before


def _changed(model, before) -> set[str]:
    """Top-level parts (``head``, ``body.dense``...) with any tensor, weights or statistics, changed."""
    parts = set()
    for key, value in model.state_dict().items():
        if not torch.equal(value, before[key]):
            parts.add(".".join(key.split(".")[:2]) if key.startswith("body.") else key.split(".")[0])
    return parts


_FRONT_AND_MID = {"body.input_bn", "body.timbral", "body.timbral_bn", "body.temporal", "body.temporal_bn", "body.midend",
                  "body.midend_bn"}


@pytest.mark.parametrize("mode, features, trained", [
    ("head", "pooled", {"head"}),
    ("top", "pooled", {"head", "body.midend", "body.midend_bn"}),
    ("all", "pooled", {"head"} | _FRONT_AND_MID),                        # the unused back end stays as loaded
])
def test_with_pooled_features_a_step_changes_what_the_mode_trains(mode, features, trained):
    model = _model(mode, features=features)
    before = _one_step(model)
    assert _changed(model, before) == trained


@pytest.mark.parametrize("mode, trained", [
    ("head", {"head"}),
    ("top", {"head", "body.pool_bn", "body.dense", "body.dense_bn"}),
    ("all", {"head", "body.input_bn", "body.timbral", "body.timbral_bn", "body.temporal", "body.temporal_bn",
             "body.midend", "body.midend_bn", "body.pool_bn", "body.dense", "body.dense_bn"}),
])
def test_a_step_changes_exactly_the_parts_the_mode_trains(mode, trained):
    model = _model(mode)
    before = _one_step(model)
    assert _changed(model, before) == trained        # frozen parts: weights and batch-norm statistics identical
    frozen = {n for n, m in model.body.named_children() if m in model.frozen_parts()}
    assert all(not m.training for m in model.frozen_parts()) and ("input_bn" in frozen) == (mode != "all")


def test_param_groups_give_the_body_a_lower_rate_and_leave_frozen_weights_out():
    groups = _model("top").param_groups(1e-3)
    assert [g["name"] for g in groups] == ["head", "body"]
    assert groups[0]["lr"] == 1e-3 and groups[1]["lr"] == pytest.approx(1e-4)
    assert all(p.requires_grad for g in groups for p in g["params"])
    assert len(groups[1]["params"]) == 6                                  # pool_bn, dense, dense_bn: weight + bias
    assert [g["name"] for g in _model("head").param_groups(1e-3)] == ["head"]
    model = MusicnnClassifier(FinetuneConfig(n_classes=3, finetune="all", body_lr_factor=0.25))
    assert model.param_groups(2e-3)[1]["lr"] == pytest.approx(5e-4)


def _tracks(n: int, n_mels: int = 16, frames: int = 60) -> TrackSet:
    rng = np.random.default_rng(0)
    return TrackSet([rng.normal(-30, 10, (n_mels, frames)).astype(np.float32) for _ in range(n)],
                    np.arange(n) % 2, [f"t{i}" for i in range(n)])


def test_warm_up_ramps_the_learning_rate_linearly_and_keeps_it_in_the_resume_state(tmp_path):
    """8 tracks x 2 crops in batches of 4: 4 optimizer steps; with a 10-step warm-up step k
    trains at k/10 of the rate, so the state saved after the epoch holds 5/10 (the next step's)."""
    torch.manual_seed(0)
    model = SpectrogramCNN(CNNConfig(n_classes=2, n_mels=16, channels=(4, 4, 4, 4), hidden=8))
    cfg = TrainConfig(epochs=1, batch_size=4, crops_per_track=2, learning_rate=1e-3, warmup_steps=10, segment_seconds=1.0,
                      device="cpu", mixed_precision=False, progress=False, verbose=False)
    fit(model, _tracks(8), _tracks(2), ["a", "b"], MelConfig(n_mels=16), cfg,
        checkpoint_path=tmp_path / "m.pt")
    groups = load_training_state(tmp_path / "m.last.pt")["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [pytest.approx(1e-3 * 5 / 10)]
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        TrainConfig(warmup_steps=-1)


@pytest.mark.slow
def test_a_resumed_finetuning_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    """Two epochs of two steps with a three-step warm-up (it spans the resume) in ``top`` mode:
    frozen parts, two parameter groups and the warm-up's rates all carry over exactly."""
    rng = np.random.default_rng(1)
    logmels = [rng.normal(-40, 10, (96, 80)).astype(np.float32) for _ in range(6)]
    train = TrackSet(logmels[:4], [0, 1, 2, 0], ["a", "b", "c", "d"])
    valid = TrackSet(logmels[4:], [1, 2], ["e", "f"])

    def run(epochs, resume, path):
        model = _model("top")
        cfg = TrainConfig(epochs=epochs, batch_size=2, crops_per_track=1, warmup_steps=3, segment_seconds=1.0,
                          device="cpu", mixed_precision=False, progress=False, verbose=False)
        fit(model, train, valid, ["x", "y", "z"], MUSICNN_INPUT, cfg, checkpoint_path=path, resume=resume)
        return model, load_training_state(path.with_name(path.stem + ".last.pt"))

    whole, whole_state = run(2, False, tmp_path / "whole.pt")
    run(1, False, tmp_path / "part.pt")
    resumed, resumed_state = run(2, True, tmp_path / "part.pt")
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in whole.state_dict().items())
    timeless = [{k: v for k, v in state["history"].items() if k != "epoch_time"} for state in (whole_state, resumed_state)]
    assert timeless[0] == timeless[1]
    rates = [g["lr"] for g in whole_state["optimizer"]["param_groups"]]
    assert rates == [pytest.approx(1e-3), pytest.approx(1e-4)]                # warmed up after 3 of 4 steps
    untouched = _model("top").body.timbral[0].weight
    assert torch.equal(whole.body.timbral[0].weight, untouched)               # the frozen front end never moved


def test_the_body_holds_the_pretrained_weights_its_embedding_is_the_embedders():
    from muzo_lib.models.pretrained.embeddings import Embedder, EmbeddingConfig

    y = tone(3.5, sr=16000, freq=330.0)
    embedder = Embedder(EmbeddingConfig("MTT_musicnn", precision="float32"))
    patches = embedder.patches(y)
    expected = embedder.run(patches)["penultimate"]
    model = MusicnnClassifier(FinetuneConfig(n_classes=3, pretrained="MTT_musicnn")).load_pretrained().eval()
    with torch.no_grad():
        got = model.body(patches).penultimate.numpy()
        db = LogMelSpectrogram(MUSICNN_INPUT)(torch.from_numpy(y))[:, :patches.shape[1]]   # the network's own input
        from_db = model.embedding(db[None]).numpy()
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(from_db - expected[:1]).max() < 1e-5           # dB -> log10(1 + 10000 x) in float32
    pooled = MusicnnClassifier(FinetuneConfig(n_classes=3, pretrained="MTT_musicnn", features="pooled"))
    pooled.load_pretrained().eval()
    with torch.no_grad():
        got_pooled = pooled.embedding(db[None]).numpy()
    want = embedder.run(patches)
    # the embedder's folded network rounds differently, and the dB input adds its own rounding; pooled
    # channels reach ~60 here: with PyTorch's AVX2 kernels one of 1506 differed by 2.5e-5 (1.7e-5 relative)
    np.testing.assert_allclose(got_pooled, np.concatenate([want["mean_pool"], want["max_pool"]], axis=1)[:1],
                               rtol=1e-4, atol=1e-4)
    untrained = MusicnnClassifier(FinetuneConfig(n_classes=3)).eval()
    assert np.abs(untrained.body(patches).penultimate.detach().numpy() - expected).max() > 0.1


def test_the_vgg_checkpoints_and_unknown_ones_are_refused_in_one_line():
    for name, message in (("MSD_vgg", "not yet available"), ("GTZAN_musicnn", "unknown musicnn variant")):
        with pytest.raises(ValueError, match=message) as error:
            FinetuneConfig(pretrained=name)
        assert "\n" not in str(error.value) and "MTT_musicnn" in str(error.value)


def test_the_seed_api_takes_musicnn_finetune_with_musicnns_front_end():
    from muzo_lib.course.classifiers import CNNMusicClassifier

    clf = CNNMusicClassifier(architecture="musicnn-finetune", sample_rate=22050, n_mels=128)
    assert clf.mel_config == MUSICNN_INPUT and (clf.sample_rate, clf.n_mels) == (16000, 96)
    assert CNNMusicClassifier(architecture="cnn", n_mels=64).mel_config.n_mels == 64


def _cli(*args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in args])
    return code, out.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--pretrained", "MSD_vgg"], "'MSD_vgg' is not yet available"),
    (["--pretrained", "nope"], "unknown musicnn variant 'nope'"),
    (["--finetune", "most"], "unknown finetune mode 'most'"),
    (["--finetune-features", "tags"], "unknown finetune features 'tags'"),
    (["--architecture", "musicnn", "--finetune-features", "pooled"], "--finetune-features: not an option of"),
    (["--architecture", "cnn", "--finetune", "all"], "--finetune: not an option of --architecture cnn"),
])
def test_cli_bad_finetune_options_are_one_line(tmp_path, capsys, args, message):
    data = tiny_dataset(tmp_path / "data", per_genre=1, seconds=1.0)
    base = ["train", "--data-dir", data, "--architecture", "musicnn-finetune", "--output", tmp_path / "m.pt"]
    code, _ = _cli(*base, *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_pretrained_picks_the_frozen_embedding_classifiers_checkpoint(tmp_path):
    from muzo_lib.models.pretrained.classifier import EmbeddingClassifier

    data = tiny_dataset(tmp_path / "data", per_genre=3, seconds=3.5)
    code, out = _cli("train", "--data-dir", data, "--architecture", "musicnn", "--output", tmp_path / "m.skops",
                     "--run-dir", tmp_path / "run", "--pretrained", "MTT_musicnn", "--quiet", "--device", "cpu")
    assert code == 0 and EmbeddingClassifier.load_model(tmp_path / "m.skops").variant == "MTT_musicnn"


@pytest.mark.slow
def test_cli_trains_resumes_predicts_and_exports_a_finetuned_musicnn(tmp_path):
    pytest.importorskip("onnxruntime")
    from muzo_lib.inference.export import export_onnx  # noqa: F401  (exporting needs onnx)
    from muzo_lib.inference.prediction import NetworkPredictor, load_model

    data = tiny_dataset(tmp_path / "data", per_genre=3, seconds=3.5)
    model_path = tmp_path / "ft.pt"
    train = ["train", "--data-dir", data, "--architecture", "musicnn-finetune", "--output", model_path, "--run-dir",
             tmp_path / "run", "--pretrained", "MTT_musicnn", "--finetune", "top", "--warmup-steps", "50", "--quiet",
             "--device", "cpu"]
    code, out = _cli(*train, "--epochs", "1")
    assert code == 0 and "saved musicnn-finetune model" in out
    saved = load_training_state(model_path.with_name("ft.last.pt"))
    assert saved["model_config"]["pretrained"] == "MTT_musicnn" and saved["model_config"]["finetune"] == "top"
    assert saved["mel_config"] == MUSICNN_INPUT.to_dict() and saved["segment_seconds"] == PATCH_SECONDS
    # 3 training tracks x 8 crops = 1 batch of 32: after one step the next trains at 2/50 of each group's rate
    assert [g["lr"] for g in saved["optimizer"]["param_groups"]] == [pytest.approx(1e-3 * 2 / 50),
                                                                      pytest.approx(1e-4 * 2 / 50)]
    code, out = _cli(*train, "--epochs", "2", "--resume")
    assert code == 0 and load_training_state(model_path.with_name("ft.last.pt"))["epoch"] == 2

    song = tmp_path / "data" / "pop" / "pop_0.wav"
    code, out = _cli("predict", song, "--model", model_path, "--json", "--device", "cpu")
    result = json.loads(out)[0]
    assert code == 0 and result["genre"] in ("jazz", "pop", "rock")
    assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-5)

    onnx_path = tmp_path / "ft.onnx"
    code, _ = _cli("export", "--model", model_path, "--output", onnx_path)
    assert code == 0 and onnx_path.is_file()
    onnx_model = load_model(onnx_path)
    torch_model = NetworkPredictor(load_model(model_path, device="cpu").checkpoint, device="cpu", precision=False)
    clips = [tone(4.0, sr=16000, freq=440.0), tone(2.0, sr=16000, freq=660.0, seed=3)]
    got, expected = onnx_model.predict_waveforms(clips), torch_model.predict_waveforms(clips)
    assert onnx_model.kind == "musicnn-finetune" and torch_model.kind == "musicnn-finetune"
    assert np.abs(got - expected).max() <= 1e-4


@pytest.mark.slow
def test_cli_cross_validates_musicnn_finetune_on_musicnns_own_logmels(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4, seconds=3.5)
    code, out = _cli("train", "--data-dir", data, "--architecture", "musicnn-finetune", "--cv", "2", "--epochs", "1",
                     "--finetune", "head", "--run-dir", tmp_path / "run", "--quiet", "--device", "cpu")
    assert code == 0 and "musicnn-finetune: cross-validated accuracy" in out and "on 12 tracks" in out
    caches = [p.name for p in (tmp_path / "run" / "cache").iterdir()]
    assert caches and all(MUSICNN_INPUT.key() in name for name in caches)     # no log-mel of the other networks
