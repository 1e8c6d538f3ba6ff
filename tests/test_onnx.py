"""ONNX export and the onnxruntime predictor: parity with PyTorch, metadata, no torch import, bad files."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from muzo_lib.features.numpy_frontend import NumpyLogMel, mel_filter_bank, whole_patches
from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig
from muzo_lib.inference.prediction import ModelLoadError, NetworkPredictor, load_model, predict_files
from muzo_lib.inference.streaming import StreamingClassifier
from muzo_lib.models.hierarchy import ClassTree
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.training.checkpoints import save_checkpoint
from tests.helpers import tone, write

pytest.importorskip("onnxruntime")
from muzo_lib.inference.export import export_onnx  # noqa: E402
from muzo_lib.inference.onnx_predictor import OnnxPredictor, looks_like_onnx  # noqa: E402

CLASSES = ["jazz", "pop", "rock"]
MEL = MelConfig(n_mels=32)
#: two levels: rock and reggae have subgenres, jazz has none (genre-level tracks only)
TREE = ClassTree.from_labels(["rock", "rock", "reggae", "reggae", "jazz"], ["punk", "metal", "roots", "ska", ""])


def _sharpen(model):
    """Random weights give near-uniform outputs that would hide differences: scale the
    last layer so probabilities spread over [0, 1] and parity means something."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(40.0)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    cnn = _sharpen(SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 4, 8, 8), hidden=8)))
    hybrid = _sharpen(HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, channels=(4, 4, 8), rnn_hidden=8, dense=8)))
    out = {}
    for name, model in (("cnn", cnn), ("hybrid", hybrid)):
        pt = save_checkpoint(root / f"{name}.pt", model, MEL, CLASSES, segment_seconds=1.0)
        out[name] = (pt, export_onnx(pt, root / f"{name}.onnx"))
    # two-level networks: G + S outputs, the class tree and the decoder in the checkpoint
    n = TREE.n_outputs
    two = {"cnn-levels": (SpectrogramCNN(CNNConfig(n_classes=n, n_mels=32, channels=(4, 4, 8, 8), hidden=8)), "marginal"),
           "hybrid-levels": (HybridCNNRNN(HybridConfig(n_classes=n, n_mels=32, channels=(4, 4, 8), rnn_hidden=8, dense=8)),
                             "top-down")}
    for name, (model, decoder) in two.items():
        pt = save_checkpoint(root / f"{name}.pt", _sharpen(model), MEL, TREE.output_names, segment_seconds=1.0,
                             extra={"class_tree": TREE.to_dict(), "decoder": decoder})
        out[name] = (pt, export_onnx(pt, root / f"{name}.onnx"))
    return out


@pytest.fixture(scope="module")
def musicnn_models(tmp_path_factory):
    """Embedding classifiers (float32 musicnn, as the exported graph computes): a 3-class
    logistic regression on the penultimate layer, a binary MLP on the pooled layer."""
    from muzo_lib.models.pretrained.classifier import EmbeddingClassifier
    from muzo_lib.models.pretrained.embeddings import Embedder, EmbeddingConfig, track_features

    root = tmp_path_factory.mktemp("onnx-musicnn")
    embedder = Embedder(EmbeddingConfig(precision="float32"))
    waves = [tone(3.5, sr=16000, freq=f, seed=i) for i, f in enumerate([110, 130, 440, 500, 880, 990])]
    outputs = [embedder(w) for w in waves]
    out = {}
    for head, layer, labels in (("logreg", "penultimate", ["low", "low", "mid", "mid", "high", "high"]),
                                ("mlp", "pooled", ["low", "low", "low", "high", "high", "high"])):
        X = np.stack([track_features(o, layer) for o in outputs])
        clf = EmbeddingClassifier(head=head, layer=layer, precision="float32", max_iter=300).fit(X, labels)
        skops = clf.save_model(root / f"musicnn-{head}.skops")
        out[head] = (skops, export_onnx(skops, root / f"musicnn-{head}.onnx"))
    return out


def _torch_predictor(path):
    """The .pt or .skops model as its torch predictor, in float32 on the CPU (the exported graphs' precision)."""
    model = load_model(path, device="cpu")
    return NetworkPredictor(model.checkpoint, device="cpu", precision=False, path=path) \
        if isinstance(model, NetworkPredictor) else model


def _generated_clips():
    from muzo_lib.data.synth import render_track

    return [render_track("rock", "punk", seed=1, duration=3.5), render_track("reggae", "roots", seed=2, duration=2.2),
            tone(0.4, freq=330)]                                    # shorter than one segment


def test_mel_filter_bank_is_librosas_and_numpy_logmel_matches_the_torch_front_end():
    import librosa

    for kw in ({}, {"fmin": 50.0, "fmax": 7000.0}):
        assert np.array_equal(mel_filter_bank(16000, 512, 40, **kw), librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, **kw))
    y = _generated_clips()[0]
    cfg = MelConfig()
    with torch.inference_mode():
        expected = LogMelSpectrogram(cfg)(torch.from_numpy(y)).numpy()
    got = NumpyLogMel.from_settings(cfg.to_dict())(y)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() < 1e-3                      # dB


@pytest.mark.parametrize("kind", ["cnn", "hybrid"])
def test_onnx_probabilities_match_pytorch_on_generated_audio(exported, kind):
    pt, onnx_path = exported[kind]
    onnx_model = load_model(onnx_path)
    torch_model = NetworkPredictor(load_model(pt, device="cpu").checkpoint, device="cpu", precision=False)
    clips = _generated_clips()
    got, expected = onnx_model.predict_waveforms(clips), torch_model.predict_waveforms(clips)
    assert isinstance(onnx_model, OnnxPredictor) and onnx_model.kind == kind
    assert expected.max() - expected.min() > 0.3                   # the outputs are not all near-uniform
    assert np.abs(got - expected).max() <= 1e-4
    assert np.allclose(got.sum(axis=1), 1, atol=1e-5)


def test_onnx_parity_on_real_clips(exported, real_data_dir):
    from muzo_lib.io.audio import load_audio

    files = sorted(real_data_dir.glob("*/*.wav"))[::6][:10]
    clips = [load_audio(f, 22050) for f in files]
    for kind in ("cnn", "hybrid"):
        pt, onnx_path = exported[kind]
        torch_model = NetworkPredictor(load_model(pt, device="cpu").checkpoint, device="cpu", precision=False)
        err = np.abs(load_model(onnx_path).predict_waveforms(clips) - torch_model.predict_waveforms(clips)).max()
        assert err <= 1e-4, f"{kind}: {err}"


def test_exported_file_carries_classes_and_front_end_settings(exported):
    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported["hybrid"][1])).metadata_props}
    assert props["muzo_format"] == "muzo-onnx" and props["kind"] == "hybrid"
    assert json.loads(props["classes"]) == CLASSES
    assert json.loads(props["mel_config"]) == MEL.to_dict()
    assert int(props["frames"]) == MEL.frames(1.0) and float(props["segment_seconds"]) == 1.0


def test_onnx_files_are_recognised_by_content_and_predicted_in_batches(exported, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(exported["cnn"][1].read_bytes())
    assert looks_like_onnx(renamed) and not looks_like_onnx(exported["cnn"][0])
    model = load_model(renamed)
    assert isinstance(model, OnnxPredictor) and model.classes == CLASSES
    write(tmp_path / "a.wav", tone(2.0))
    (tmp_path / "broken.wav").write_text("not audio")
    results = predict_files(model, [tmp_path / "a.wav", tmp_path / "broken.wav"], progress=False)
    assert results[0].genre in CLASSES and results[0].error is None and results[1].error


def test_an_onnx_file_that_is_not_a_muzo_model_is_refused_in_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(other))
    with pytest.raises(ModelLoadError, match="not one exported by Muzo"):
        load_model(other)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07 definitely not protobuf")
    with pytest.raises(ModelLoadError, match="not a readable ONNX model"):
        load_model(junk)
    write(tmp_path / "a.wav", tone(1.0))
    done = _muzo("predict", tmp_path / "a.wav", "--model", other)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not one exported by Muzo" in done.stderr


def _muzo(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "muzo_lib.cli", *map(str, args)], capture_output=True, text=True,
                          **kwargs)


@pytest.mark.parametrize("kind", ["cnn", "cnn-levels", "musicnn"])
def test_cli_export_then_predict_json_and_listen_import_neither_torch_nor_pandas(exported, musicnn_models, kind, tmp_path):
    source = musicnn_models["logreg"][0] if kind == "musicnn" else exported[kind][0]
    out = tmp_path / "cli.onnx"
    done = _muzo("export", "--model", source, "--output", out)
    assert done.returncode == 0 and out.is_file(), done.stderr
    wav = write(tmp_path / "a.wav", tone(3.5))
    script = f"""
import contextlib, io, json, sys
from muzo_lib.cli import main
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    assert main(["predict", {str(wav)!r}, "--model", {str(out)!r}, "--json"]) == 0
    predicted = json.loads(buffer.getvalue())
    assert main(["listen", {str(wav)!r}, "--model", {str(out)!r}, "--as-fast-as-possible", "--json"]) == 0
from muzo_lib.inference.prediction import load_model
from muzo_lib.inference.streaming import StreamingClassifier
model = load_model({str(out)!r})
StreamingClassifier(model, input_rate=44100).push([0.1] * 88200)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "librosa", "sklearn", "numba", "pandas", "skops"))
print(json.dumps({{"heavy": heavy, "lines": buffer.getvalue().count(chr(10)), "predicted": predicted}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [] and report["lines"] > 2
    predicted = report["predicted"]
    predicted = predicted[0] if isinstance(predicted, list) else predicted
    expected = predict_files(_torch_predictor(source), [wav], progress=False)[0].to_dict()
    assert predicted["genre"] == expected["genre"] and predicted["subgenre"] == expected["subgenre"]
    assert abs(predicted["confidence"] - expected["confidence"]) <= 1e-4
    assert predicted["subgenre_top_k"] == expected["subgenre_top_k"] or kind == "cnn-levels"  # floats: compared above


@pytest.mark.parametrize("args, message", [
    (["--output", "x.onnx"], "no such model file"),
    (["--output", "x.txt"], "should end in .onnx"),
])
def test_cli_export_bad_input_is_one_line(exported, tmp_path, args, message):
    model = exported["cnn"][0] if "txt" in args[1] else tmp_path / "missing.pt"
    done = _muzo("export", "--model", model, *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1


def test_cli_export_refuses_files_that_are_not_network_checkpoints(tmp_path):
    import pandas as pd

    from muzo_lib.models.forest import MusicGenreClassifier

    wav = write(tmp_path / "a.wav", tone(0.5))
    done = _muzo("export", "--model", wav, "--output", tmp_path / "a.onnx")
    assert done.returncode == 2 and "only network checkpoints" in done.stderr and not (tmp_path / "a.onnx").exists()
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(12, 3)), columns=list("abc"))
    forest = MusicGenreClassifier(n_estimators=3).fit(X, ["a", "b", "c"] * 4).save_model(tmp_path / "rf.skops")
    done = _muzo("export", "--model", forest, "--output", tmp_path / "rf.onnx")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and not (tmp_path / "rf.onnx").exists()
    assert "rf" in done.stderr and "no ONNX export" in done.stderr          # which kind, and that it has none


def test_without_torch_a_pt_model_and_export_fail_in_one_line_and_onnx_still_works(exported, tmp_path):
    wav = write(tmp_path / "a.wav", tone(1.0))
    script = f"""
import contextlib, io, sys
sys.modules["torch"] = None                      # as in a deployment with onnxruntime only
from muzo_lib.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    codes = [main(["predict", {str(wav)!r}, "--model", {str(exported["cnn"][0])!r}]),
             main(["export", "--model", {str(exported["cnn"][0])!r}, "--output", {str(tmp_path / "x.onnx")!r}]),
             main(["predict", {str(wav)!r}, "--model", {str(exported["cnn"][1])!r}, "--no-progress"])]
print(codes)
print(err.getvalue())
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    codes, *lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert codes == "[2, 2, 0]", run.stdout + run.stderr
    assert "needs the torch package" in lines[0] and "needs the torch package" in lines[1] and len(lines) == 2


# ---------------------------------------------------------------- two-level networks

def _levels(model, clips):
    return model.predict_prepared_levels([model.prepare(y) for y in clips])


@pytest.mark.parametrize("kind", ["cnn-levels", "hybrid-levels"])
def test_two_level_onnx_gives_both_heads_probabilities_of_pytorch(exported, kind):
    pt, onnx_path = exported[kind]
    onnx_model, torch_model = load_model(onnx_path), _torch_predictor(pt)
    assert onnx_model.tree == TREE and onnx_model.classes == list(TREE.genres)
    assert onnx_model.decoder == torch_model.decoder
    clips = _generated_clips()
    (genre, sub), (genre_pt, sub_pt) = _levels(onnx_model, clips), _levels(torch_model, clips)
    assert sub.shape == (len(clips), len(TREE.subgenres)) and sub_pt.max() - sub_pt.min() > 0.3
    assert np.abs(genre - genre_pt).max() <= 1e-4 and np.abs(sub - sub_pt).max() <= 1e-4
    assert np.allclose(sub.sum(axis=1), 1, atol=1e-5)
    assert np.abs(onnx_model.predict_waveforms(clips) - torch_model.predict_waveforms(clips)).max() <= 1e-4


def _same_prediction(a, b):
    """Same genre, subgenre and ranking, confidences within 1e-4."""
    assert (a.genre, a.subgenre, a.warning, a.error) == (b.genre, b.subgenre, b.warning, b.error)
    assert [g for g, _ in a.top_k] == [g for g, _ in b.top_k]
    assert [s for s, _ in a.subgenre_top_k or []] == [s for s, _ in b.subgenre_top_k or []]
    assert abs(a.confidence - b.confidence) <= 1e-4
    if a.subgenre is not None:
        assert abs(a.subgenre_confidence - b.subgenre_confidence) <= 1e-4


@pytest.mark.parametrize("kind", ["cnn-levels", "hybrid-levels"])
def test_two_level_onnx_predicts_files_and_streams_like_pytorch(exported, kind, tmp_path):
    pt, onnx_path = exported[kind]
    onnx_model, torch_model = load_model(onnx_path), _torch_predictor(pt)
    files = [write(tmp_path / f"{i}.wav", y) for i, y in enumerate(_generated_clips())]
    got = predict_files(onnx_model, files, progress=False)
    expected = predict_files(torch_model, files, progress=False)
    assert any(r.subgenre for r in got)
    for a, b in zip(got, expected):
        _same_prediction(a, b)
    y = np.concatenate(_generated_clips()[:2])
    streams = [StreamingClassifier(m, input_rate=22050, hop_seconds=0.5) for m in (onnx_model, torch_model)]
    updates = [list(s.run([y[i:i + 3000] for i in range(0, len(y), 3000)])) for s in streams]
    assert len(updates[0]) == len(updates[1]) > 3
    for a, b in zip(*updates):
        assert (a["genre"], a["subgenre"]) == (b["genre"], b["subgenre"])
        assert abs(a["confidence"] - b["confidence"]) <= 1e-4


def test_two_level_onnx_file_carries_the_class_tree_and_the_decoder(exported):
    import onnx

    proto = onnx.load(str(exported["cnn-levels"][1]))
    props = {p.key: p.value for p in proto.metadata_props}
    assert ClassTree.from_dict(json.loads(props["class_tree"])) == TREE and props["decoder"] == "marginal"
    assert json.loads(props["classes"]) == list(TREE.genres)
    assert [o.name for o in proto.graph.output] == ["probabilities", "subgenre_probabilities"]


def test_two_level_onnx_parity_on_real_clips(exported, musicnn_models, real_data_dir):
    from muzo_lib.io.audio import load_audio

    files = sorted(real_data_dir.glob("*/*.wav"))[::6][:10]
    for kind in ("cnn-levels", "hybrid-levels"):
        clips = [load_audio(f, 22050) for f in files]
        got, expected = _levels(load_model(exported[kind][1]), clips), _levels(_torch_predictor(exported[kind][0]), clips)
        err = max(np.abs(got[0] - expected[0]).max(), np.abs(got[1] - expected[1]).max())
        assert err <= 1e-4, f"{kind}: {err}"
    clips = [load_audio(f, 16000) for f in files]
    for head, (skops, onnx_path) in musicnn_models.items():
        err = np.abs(load_model(onnx_path).predict_waveforms(clips) - _torch_predictor(skops).predict_waveforms(clips)).max()
        assert err <= 1e-4, f"musicnn {head}: {err}"


# ---------------------------------------------------------------- musicnn embedding classifiers

def test_numpy_front_end_makes_musicnns_patches():
    from muzo_lib.models.pretrained.embeddings import MUSICNN_MEL, Embedder, EmbeddingConfig
    from muzo_lib.models.pretrained.musicnn import PATCH_FRAMES

    embedder = Embedder(EmbeddingConfig(precision="float32"))
    front = NumpyLogMel.from_settings({**MUSICNN_MEL.to_dict(), "scale": "musicnn"})
    for y in (tone(7.0, sr=16000, seed=3) * 3.0, tone(6.0, sr=16000, seed=4)):      # 2 patches and a dropped tail
        expected = embedder.patches(y).numpy().transpose(0, 2, 1)                   # (patches, 96, 187)
        got = whole_patches(front(y), PATCH_FRAMES)
        assert got.shape == expected.shape == (2, 96, 187)
        assert np.abs(got - expected).max() < 1e-4
    with pytest.raises(ValueError, match="shorter than one 187-frame patch"):
        whole_patches(front(tone(1.0, sr=16000)), PATCH_FRAMES)


@pytest.mark.parametrize("head", ["logreg", "mlp"])
def test_musicnn_onnx_matches_the_embedding_predictor(musicnn_models, head):
    from muzo_lib.models.pretrained.classifier import EmbeddingPredictor

    skops, onnx_path = musicnn_models[head]
    torch_model = _torch_predictor(skops)
    assert isinstance(torch_model, EmbeddingPredictor)
    # patches per call: 3, so several calls, a clip split over none of them; the last is shorter than a patch
    onnx_model = OnnxPredictor(onnx_path, batch_size=3)
    assert onnx_model.kind == "musicnn" and onnx_model.classes == torch_model.classes and onnx_model.sample_rate == 16000
    assert onnx_model.segment_seconds == torch_model.segment_seconds
    clips = [tone(7.0, sr=16000, freq=200, seed=9), tone(3.2, sr=16000, freq=900, seed=3),
             tone(10.0, sr=16000, freq=120, seed=5), tone(1.0, sr=16000, freq=450, seed=6)]
    got, expected = onnx_model.predict_waveforms(clips), torch_model.predict_waveforms(clips)
    assert expected.max() - expected.min() > 0.5
    assert np.abs(got - expected).max() <= 1e-4
    assert onnx_model.predict_prepared_levels([])[0].shape == (0, len(onnx_model.classes))


def test_musicnn_onnx_predicts_files_and_streams_like_the_skops_model(musicnn_models, tmp_path):
    skops, onnx_path = musicnn_models["logreg"]
    onnx_model, torch_model = load_model(onnx_path), _torch_predictor(skops)
    files = [write(tmp_path / f"{i}.wav", tone(s, freq=f, seed=i)) for i, (s, f) in enumerate([(4.0, 130), (6.5, 900)])]
    for a, b in zip(predict_files(onnx_model, files, progress=False), predict_files(torch_model, files, progress=False)):
        _same_prediction(a, b)
    y = np.concatenate([tone(4.0, sr=16000, freq=130), tone(4.0, sr=16000, freq=900, seed=1)])
    streams = [StreamingClassifier(m, hop_seconds=1.0) for m in (onnx_model, torch_model)]
    updates = [list(s.run([y[i:i + 4000] for i in range(0, len(y), 4000)])) for s in streams]
    assert len(updates[0]) == len(updates[1]) > 3
    for a, b in zip(*updates):
        assert a["genre"] == b["genre"] and abs(a["confidence"] - b["confidence"]) <= 1e-4


def test_musicnn_onnx_file_is_one_graph_with_its_front_end_settings(musicnn_models):
    import onnx

    proto = onnx.load(str(musicnn_models["mlp"][1]))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["kind"] == "musicnn" and props["pooling"] == "embeddings" and props["segmenting"] == "patches"
    mel = json.loads(props["mel_config"])
    assert (mel["sample_rate"], mel["n_fft"], mel["hop_length"], mel["n_mels"], mel["scale"]) == (16000, 512, 256, 96, "musicnn")
    assert json.loads(props["model_config"])["layer"] == "pooled" and json.loads(props["classes"]) == ["high", "low"]
    assert [i.name for i in proto.graph.input] == ["logmels", "track_weights"]


def test_a_head_that_cannot_be_folded_is_refused_in_one_line():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler
    from sklearn.svm import SVC

    from muzo_lib.inference.export import sklearn_head

    X, y = np.random.default_rng(0).normal(size=(12, 4)), ["a", "b", "c"] * 4
    with pytest.raises(ValueError, match="StandardScaler"):
        sklearn_head(make_pipeline(MinMaxScaler(), LogisticRegression()).fit(X, y))
    with pytest.raises(ValueError, match="not a SVC"):
        sklearn_head(make_pipeline(StandardScaler(), SVC()).fit(X, y))
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    with torch.no_grad():
        folded = torch.softmax(sklearn_head(pipeline)(torch.from_numpy(X)), -1).numpy()
    assert np.abs(folded - pipeline.predict_proba(X)).max() < 1e-12
