"""ONNX export and the onnxruntime predictor: parity with PyTorch, metadata, no torch import, bad files."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from muzo_lib.checkpoints import save_checkpoint
from muzo_lib.models import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.numpy_frontend import NumpyLogMel, mel_filter_bank
from muzo_lib.prediction import ModelLoadError, NetworkPredictor, load_model, predict_files
from muzo_lib.spectrogram import LogMelSpectrogram, MelConfig
from tests.helpers import tone, write

pytest.importorskip("onnxruntime")
from muzo_lib.export import export_onnx  # noqa: E402
from muzo_lib.onnx_predictor import OnnxPredictor, looks_like_onnx  # noqa: E402

CLASSES = ["jazz", "pop", "rock"]
MEL = MelConfig(n_mels=32)


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
    return out


def _generated_clips():
    from muzo_lib.synth import render_track

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
    from muzo_lib.audio import load_audio

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


def test_cli_export_then_predict_json_and_listen_import_neither_torch_nor_pandas(exported, tmp_path):
    out = tmp_path / "cli.onnx"
    done = _muzo("export", "--model", exported["cnn"][0], "--output", out)
    assert done.returncode == 0 and out.is_file(), done.stderr
    wav = write(tmp_path / "a.wav", tone(2.5))
    script = f"""
import contextlib, io, json, sys
from muzo_lib.cli import main
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    assert main(["predict", {str(wav)!r}, "--model", {str(out)!r}, "--json"]) == 0
    assert main(["listen", {str(wav)!r}, "--model", {str(out)!r}, "--as-fast-as-possible", "--json"]) == 0
from muzo_lib.prediction import load_model
from muzo_lib.streaming import StreamingClassifier
model = load_model({str(out)!r})
StreamingClassifier(model, input_rate=44100).push([0.1] * 88200)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "librosa", "sklearn", "numba", "pandas"))
print(json.dumps({{"heavy": heavy, "lines": buffer.getvalue().count(chr(10))}}))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["heavy"] == [] and report["lines"] > 2


@pytest.mark.parametrize("args, message", [
    (["--output", "x.onnx"], "no such model file"),
    (["--output", "x.txt"], "should end in .onnx"),
])
def test_cli_export_bad_input_is_one_line(exported, tmp_path, args, message):
    model = exported["cnn"][0] if "txt" in args[1] else tmp_path / "missing.pt"
    done = _muzo("export", "--model", model, *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1


def test_cli_export_refuses_files_that_are_not_network_checkpoints(tmp_path):
    wav = write(tmp_path / "a.wav", tone(0.5))
    done = _muzo("export", "--model", wav, "--output", tmp_path / "a.onnx")
    assert done.returncode == 2 and "only network checkpoints" in done.stderr and not (tmp_path / "a.onnx").exists()


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
