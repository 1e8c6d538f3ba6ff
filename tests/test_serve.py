"""`muzo serve`: every endpoint through a real HTTP client on 127.0.0.1, with .pt, .skops and .onnx models.

The answers must be what `muzo predict --json` / predict_files give for the same file and model.
"""
import json
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("onnxruntime")
import httpx  # noqa: E402

from muzo_lib.inference.export import export_onnx  # noqa: E402
from muzo_lib.inference.prediction import genre_windows, load_model, predict_files  # noqa: E402
from muzo_lib.io.audio import load_audio  # noqa: E402
from muzo_lib.serve.app import create_app  # noqa: E402
from muzo_lib.serve.limits import Limits  # noqa: E402
from tests.helpers import tone, write  # noqa: E402
from tests.serving import free_port, running, tiny_forest, tiny_network  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-models")
    pt = tiny_network(root / "cnn.pt")
    levels = tiny_network(root / "levels.pt", seed=1, two_level=True)
    return {"pt": pt, "onnx": export_onnx(pt, root / "cnn.onnx"), "skops": tiny_forest(root / "rf.skops"),
            "levels": levels}


@pytest.fixture(scope="module")
def audio(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-audio")
    return {"long": write(root / "song.wav", np.concatenate([tone(3.0, freq=220), tone(3.0, freq=880, seed=1)])),
            "flac": write(root / "stereo.flac", tone(2.5, sr=44100, freq=330, channels=2), sr=44100),
            "opus": write(root / "voice.opus", tone(2.0, sr=48000, freq=300), sr=48000, format="OGG", subtype="OPUS"),
            "short": write(root / "short.wav", tone(0.8, freq=440)),          # shorter than the model's 1 s window
            "silent": write(root / "silent.wav", np.zeros(22050 * 2, dtype=np.float32)),
            "gap": write(root / "gap.wav", np.concatenate([tone(5.0), np.zeros(22050 * 5, dtype=np.float32), tone(5.0)]))}


@pytest.fixture(scope="module", params=["pt", "skops", "onnx"])
def served(request, models):
    model = load_model(models[request.param], device="cpu")
    with running(create_app(model, Limits())) as base:
        yield request.param, model, base


def _post(base, path, **kwargs):
    return httpx.post(f"{base}/predict", files={"file": (path.name, path.read_bytes(), "audio/wav")}, timeout=60, **kwargs)


def _same(got: dict, expected: dict):
    """Every field of muzo predict --json's object, floats to 1e-6."""
    assert set(expected) <= set(got)
    for key, value in expected.items():
        if key == "file":
            continue
        if isinstance(value, dict):
            assert got[key].keys() == value.keys() and all(abs(got[key][k] - v) <= 1e-6 for k, v in value.items()), key
        elif isinstance(value, float):
            assert abs(got[key] - value) <= 1e-6, key
        elif isinstance(value, list):
            label = "subgenre" if key.startswith("subgenre") else "genre"
            assert [item[label] for item in got[key]] == [item[label] for item in value], key
            assert np.allclose([i["probability"] for i in got[key]], [i["probability"] for i in value], atol=1e-6, rtol=0)
        else:
            assert got[key] == value, key


@pytest.mark.parametrize("name", ["long", "flac", "opus", "short"])
def test_predict_gives_predict_files_answer_for_every_model_kind(served, audio, name):
    kind, model, base = served
    response = _post(base, audio[name])
    assert response.status_code == 200, response.text
    got = response.json()
    expected = predict_files(model, [audio[name]], progress=False)[0].to_dict()
    _same(got, expected)
    assert got["file"] == audio[name].name and got["genre"] in model.classes and got["warning"] is None


def test_raw_body_gives_the_same_answer_as_a_form(served, audio):
    _, _, base = served
    form = _post(base, audio["long"]).json()
    raw = httpx.post(f"{base}/predict?filename=song.wav", content=audio["long"].read_bytes(),
                     headers={"Content-Type": "application/octet-stream"}, timeout=60).json()
    assert raw == form


def test_long_recordings_get_the_genre_over_time_in_the_models_window(served, audio):
    kind, model, base = served
    got = _post(base, audio["long"]).json()
    window = getattr(model, "segment_seconds", None) or 5.0
    starts, ends, probs = genre_windows(model, load_audio(audio["long"], model.sample_rate), window, window)
    assert [w["start_s"] for w in got["timeline"]] == pytest.approx(starts.tolist())
    assert [w["end_s"] for w in got["timeline"]] == pytest.approx(ends.tolist())
    assert [w["genre"] for w in got["timeline"]] == [model.classes[i] for i in probs.argmax(1)]
    assert np.allclose([[w["probabilities"][c] for c in model.classes] for w in got["timeline"]], probs, atol=1e-6)
    assert len(got["timeline"]) == (6 if kind != "skops" else 1)         # 1 s windows; the forest's are 5 s
    assert httpx.post(f"{base}/predict?timeline=false", files={"file": ("a.wav", audio["long"].read_bytes())},
                      timeout=60).json()["timeline"] is None
    if kind != "skops":
        assert _post(base, audio["short"]).json()["timeline"] is None    # shorter than one window: none


def test_a_silent_stretch_of_the_timeline_gets_no_genre(served, audio):
    _, model, base = served
    timeline = _post(base, audio["gap"]).json()["timeline"]                  # 5 s tone, 5 s silence, 5 s tone
    silent = [5 <= w["start_s"] and w["end_s"] <= 10 for w in timeline]
    assert len(timeline) >= 3 and sum(silent) >= 1
    assert [w["warning"] for w in timeline] == ["silent" if s else None for s in silent]
    assert [w["genre"] is None for w in timeline] == silent
    quiet = timeline[silent.index(True)]
    assert quiet["probabilities"] is None and quiet["confidence"] == pytest.approx(1 / len(model.classes))


def test_silent_windows_are_not_scored(models, audio):
    from muzo_lib.serve.app import timeline_of

    model, asked = load_model(models["pt"], device="cpu"), []

    class Spy:
        def __getattr__(self, name):
            return getattr(model, name)

        def predict_windows(self, y, starts, window_seconds, batch_windows=16):
            asked.extend(starts)
            return model.predict_windows(y, starts, window_seconds, batch_windows)

    rows = timeline_of(Spy(), load_audio(audio["gap"], 22050), 1.0)
    assert len(rows) == 15 and asked == [22050 * s for s in (0, 1, 2, 3, 4, 10, 11, 12, 13, 14)]


def test_silent_audio_gets_its_warning_and_no_genre(served, audio):
    _, model, base = served
    got = _post(base, audio["silent"]).json()
    assert got["genre"] is None and got["warning"] == "silent" and got["timeline"] is None
    assert got["confidence"] == pytest.approx(1 / len(model.classes))


def test_health_model_and_openapi(served, models):
    kind, model, base = served
    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "ok" and health["kind"] == model.kind
    info = httpx.get(f"{base}/model").json()
    assert info["classes"] == model.classes and info["kind"] == model.kind and info["class_tree"] is None
    assert info["file"] == models[kind].name and str(models[kind].parent) not in json.dumps(info)  # no server paths
    assert info["sample_rate"] == model.sample_rate and info["front_end"]["sample_rate"] == model.sample_rate
    assert info["limits"] == Limits().to_dict()
    if kind != "skops":
        assert info["front_end"]["n_mels"] == 32 and info["window_seconds"] == 1.0
    spec = httpx.get(f"{base}/openapi.json").json()
    assert {"/predict", "/health", "/model"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    docs = httpx.get(f"{base}/docs")
    assert docs.status_code == 404 and docs.json() == {"error": "Not Found"}   # Swagger UI would load from a CDN


def test_the_page_and_its_static_files_are_served_with_no_external_address(served):
    _, _, base = served
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name in ("app.js", "style.css"):
        text = httpx.get(f"{base}/static/{name}").text
        assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert "http" not in page.text.replace("http-equiv", "")


def test_uploads_leave_no_file_behind(models, audio):
    app = create_app(load_model(models["onnx"]))
    with running(app) as base:
        assert _post(base, audio["long"]).status_code == 200
        assert httpx.post(f"{base}/predict", files={"file": ("x.wav", b"junk", "audio/wav")}).status_code == 400
        assert app.state.uploads.is_dir() and list(app.state.uploads.iterdir()) == []
    assert not app.state.uploads.exists()                                      # removed when the server stops


def test_a_two_level_model_answers_with_its_subgenre_and_class_tree(models, audio):
    model = load_model(models["levels"], device="cpu")
    with running(create_app(model)) as base:
        got = _post(base, audio["long"]).json()
        info = httpx.get(f"{base}/model").json()
    expected = predict_files(model, [audio["long"]], progress=False)[0].to_dict()
    _same(got, expected)
    assert got["subgenre"] == expected["subgenre"] and (got["subgenre"] is not None or got["genre"] == "jazz")
    assert info["class_tree"] == model.tree.to_dict()


@pytest.mark.slow
def test_cli_serve_with_onnx_imports_no_torch_and_answers_like_muzo_predict_json(models, audio, tmp_path):
    """A fresh process in which torch, scikit-learn, librosa and pandas cannot be imported at all."""
    port = free_port()
    blocked = "import sys; [sys.modules.__setitem__(m, None) for m in ('torch', 'sklearn', 'librosa', 'pandas', 'numba')]; "
    start = time.monotonic()
    server = subprocess.Popen([sys.executable, "-c", blocked + "from muzo_lib.cli import main; sys.exit(main(sys.argv[1:]))",
                               "serve", "--model", str(models["onnx"]), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base, up = f"http://127.0.0.1:{port}", None
        while time.monotonic() - start < 30 and server.poll() is None:
            try:
                up = httpx.get(f"{base}/health", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert up and up["status"] == "ok", server.stderr.read() if server.poll() is not None else "not up in 30 s"
        print(f"muzo serve (.onnx) answered /health {time.monotonic() - start:.2f} s after start")
        got = _post(base, audio["long"]).json()
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)
    cli = subprocess.run([sys.executable, "-m", "muzo_lib.cli", "predict", str(audio["long"]), "--model", str(models["onnx"]),
                          "--json"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    _same(got, json.loads(cli.stdout)[0])
    assert got["timeline"] and "Traceback" not in stderr
    assert f"on http://127.0.0.1:{port}/" in stderr


@pytest.mark.slow
def test_cli_serve_says_when_it_listens_beyond_loopback_names(models):
    """127.0.0.2 is still this machine, but not a name the server knows as loopback: it warns, in one line."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "muzo_lib.cli", "serve", "--model", str(models["onnx"]),
                               "--host", "127.0.0.2", "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stderr.readline() for _ in range(2)]
    finally:
        server.terminate()
        server.communicate(timeout=10)
    assert f"on http://127.0.0.2:{port}/" in lines[0]
    assert "listening on 127.0.0.2" in lines[1] and "TLS reverse proxy with authentication" in lines[1]


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="queue_wait_s must be positive"):
        Limits(queue_wait_s=0)


def test_cli_serve_help_text(capsys):
    from muzo_lib.cli import main

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    d = Limits()
    for flag, default in (("--max-upload-bytes", d.max_upload_bytes), ("--max-audio-seconds", 600),
                          ("--request-timeout", 30), ("--max-concurrent", d.max_concurrent), ("--queue-wait", 10),
                          ("--host", "127.0.0.1"), ("--port", 8000)):
        assert flag in text and f"default: {default}" in text, flag


@pytest.mark.parametrize("args, message", [
    (["--model", "missing.onnx"], "no such model file"),
    (["--model", "x.onnx", "--port", "70000"], "at most 65535"),
    (["--model", "x.onnx", "--max-concurrent", "0"], "at least 1"),
])
def test_cli_serve_bad_arguments_are_one_line(tmp_path, args, message, capsys):
    from muzo_lib.cli import main

    try:
        code = main(["serve", *args])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_serve_without_fastapi_says_what_to_install(models):
    script = ("import sys; sys.modules['fastapi'] = None; from muzo_lib.cli import main; "
              f"sys.exit(main(['serve', '--model', {str(models['onnx'])!r}]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "needs fastapi" in done.stderr and "pip install 'muzo[serve]'" in done.stderr


def test_the_server_caps_malloc_arenas_unless_the_environment_says_otherwise(monkeypatch):
    from muzo_lib.serve.server import limit_malloc_arenas

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas() is True                  # glibc on Linux: mallopt accepted the cap
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas() is False                 # the user's own setting is left alone
