"""`muzo serve` against hostile clients: every refusal is a JSON error with its status, and the server
still answers /health after each."""
import threading
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from muzo_lib.inference.prediction import load_model, predict_files  # noqa: E402
from muzo_lib.io import audio as audio_module  # noqa: E402
from muzo_lib.serve.app import create_app  # noqa: E402
from muzo_lib.serve.limits import Limits  # noqa: E402
from tests.helpers import tone, write  # noqa: E402
from tests.serving import raw_exchange, running, tiny_network  # noqa: E402

LIMITS = Limits(max_upload_bytes=200_000, max_audio_seconds=60.0, request_timeout_s=1.0, max_concurrent=1, queue_wait_s=0.3)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model(tiny_network(tmp_path_factory.mktemp("hostile") / "cnn.pt"), device="cpu")


@pytest.fixture(scope="module")
def base(model):
    with running(create_app(model, LIMITS)) as url:
        yield url


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write(tmp_path_factory.mktemp("hostile-audio") / "a.wav", tone(2.0))


@pytest.fixture(autouse=True)
def still_healthy(request):
    """After every test here, the server (when the test used one) still answers /health."""
    yield
    if "base" in request.fixturenames:
        assert httpx.get(f"{request.getfixturevalue('base')}/health", timeout=5).json()["status"] == "ok"


def _error(response, status: int, *words: str):
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert all(w in message for w in words) and "Traceback" not in response.text and "\n" not in message, message


def test_a_declared_oversized_body_is_refused_before_it_is_sent(base):
    head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 10000000000\r\n\r\n")
    status, body = raw_exchange(base, head, [b"RIFF" * 4])          # 16 of the 10 GB declared
    assert status == 413 and b"larger than this server's limit" in body


def test_an_undeclared_oversized_body_is_refused_as_it_streams(base):
    """Chunked, no Content-Length, never finished: refused once the count passes the limit."""
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)
    status, body = raw_exchange(base, head, [chunk] * 4)             # 256 kB sent, no final chunk
    assert status == 413 and b"200000 bytes" in body
    form = httpx.post(f"{base}/predict", files={"file": ("big.wav", b"\0" * 300_000, "audio/wav")})
    _error(form, 413, "--max-upload-bytes")


def test_a_tiny_flac_declaring_hours_is_refused_by_its_header_before_decoding(base, tmp_path, monkeypatch):
    path = tmp_path / "hours.flac"
    with sf.SoundFile(str(path), "w", samplerate=8000, channels=1, format="FLAC", subtype="PCM_16") as f:
        silence = np.zeros(8000 * 600, dtype=np.int16)
        for _ in range(12):                                          # 2 hours of digital silence
            f.write(silence)
    assert path.stat().st_size < LIMITS.max_upload_bytes and sf.info(str(path)).duration == 7200
    decoded = []
    monkeypatch.setattr(audio_module, "decode_blocks", lambda *a, **k: decoded.append(a) or iter(()))
    response = httpx.post(f"{base}/predict", files={"file": ("hours.flac", path.read_bytes(), "audio/flac")}, timeout=30)
    _error(response, 413, "7200 s", "60 s", "--max-audio-seconds")
    assert decoded == []                                             # not one block decoded


@pytest.mark.parametrize("body, content_type, status, words", [
    (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF",
     "multipart/form-data; boundary=xyz", 422, ("missing field 'file'",)),                  # truncated: no part ends
    (b"just some bytes", "multipart/form-data", 400, ("malformed multipart",)),            # no boundary
    (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhello\r\n--xyz--\r\n",
     "multipart/form-data; boundary=xyz", 422, ("missing field 'file'",)),
    (b"--xyz\r\nNo-Colon-Header\r\n\r\nhello\r\n--xyz--\r\n", "multipart/form-data; boundary=xyz", 400, ("malformed",)),
])
def test_truncated_and_malformed_multipart_bodies(base, body, content_type, status, words):
    _error(httpx.post(f"{base}/predict", content=body, headers={"Content-Type": content_type}), status, *words)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "image/png", "video/webm", None])
def test_content_types_that_are_not_audio_get_415(base, wav, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    _error(httpx.post(f"{base}/predict", content=wav.read_bytes(), headers=headers), 415, "unsupported content type")


def test_a_form_part_that_is_not_audio_gets_415_and_bytes_that_are_not_audio_400(base, wav):
    _error(httpx.post(f"{base}/predict", files={"file": ("a.txt", b"hello", "text/plain")}), 415, "not audio")
    _error(httpx.post(f"{base}/predict", files={"file": ("a.wav", b"RIFF....WAVEfmt broken", "audio/wav")}),
           400, "unreadable audio")
    _error(httpx.post(f"{base}/predict", files={"file": ("a.wav", b"", "audio/wav")}), 400, "empty upload")
    response = httpx.post(f"{base}/predict", files={"file": ("a.wav", b"not audio at all", "audio/wav")})
    _error(response, 400, "unreadable audio")
    assert "/tmp" not in response.text and "upload-" not in response.text             # no server paths


@pytest.mark.parametrize("name, label", [("../../../../etc/passwd", "passwd"), ("/etc/shadow", "shadow"),
                                         ("..\\..\\windows\\win.ini", "win.ini"), ("..", "upload"), ("...", "upload")])
def test_path_strings_in_file_names_are_labels_only(base, model, wav, name, label):
    response = httpx.post(f"{base}/predict", files={"file": (name, wav.read_bytes(), "audio/wav")})
    assert response.status_code == 200, response.text
    got = response.json()
    expected = predict_files(model, [wav], progress=False)[0]
    assert got["file"] == label and got["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    raw = httpx.post(f"{base}/predict", params={"filename": name}, content=wav.read_bytes(),
                     headers={"Content-Type": "audio/wav"}).json()
    assert raw["file"] == label


def test_a_text_field_named_file_is_not_an_upload(base):
    _error(httpx.post(f"{base}/predict", data={"file": "/etc/passwd"}, files={"x": ("x", b"")}), 422, "not a file upload")


@pytest.mark.parametrize("target", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2f..%2fcli.py",
                                    "/static//etc/passwd", "/static/%2fetc%2fpasswd", "/../../etc/passwd"])
def test_no_file_outside_the_static_folder_is_served(base, target):
    status, body = raw_exchange(base, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status in (400, 404) and b"import" not in body and b"root:" not in body


def test_a_slow_client_gets_408_and_the_server_keeps_serving(base, wav):
    data = wav.read_bytes()
    head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: %d\r\n\r\n" % len(data))
    status, body = raw_exchange(base, head, [data[:100], data[100:]], pause=LIMITS.request_timeout_s + 1.0)
    assert status == 408 and b"--request-timeout" in body           # without the timeout: 200 once the rest came


class _Slow:
    """A model that takes ``delay`` seconds per prediction (to fill the prediction slots)."""

    def __init__(self, inner, delay: float):
        self._inner, self._delay = inner, delay

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def predict_prepared(self, items):
        time.sleep(self._delay)
        return self._inner.predict_prepared(items)


def test_requests_beyond_the_concurrency_limit_wait_then_get_503(model, wav):
    with running(create_app(_Slow(model, 1.5), LIMITS)) as url:
        results = []

        def post():
            start = time.monotonic()
            response = httpx.post(f"{url}/predict", files={"file": ("a.wav", wav.read_bytes(), "audio/wav")}, timeout=30)
            results.append((response, time.monotonic() - start))

        threads = [threading.Thread(target=post) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join(30)
        codes = sorted(r.status_code for r, _ in results)
        assert codes == [200, 503, 503], [r.text for r, _ in results]
        for response, seconds in results:
            if response.status_code == 503:
                _error(response, 503, "busy", "--queue-wait")
                assert response.headers["retry-after"] == "1" and seconds >= LIMITS.queue_wait_s
        assert httpx.get(f"{url}/health").json() == {"status": "ok", "model": "cnn", "kind": "cnn", "running": 0, "waiting": 0}


def test_unknown_routes_and_methods_are_json_errors(base):
    _error(httpx.get(f"{base}/nothing-here"), 404, "Not Found")
    _error(httpx.get(f"{base}/predict"), 405, "Method Not Allowed")
    _error(httpx.post(f"{base}/predict?timeline=maybe", content=b"x", headers={"Content-Type": "audio/wav"}), 422, "timeline")


class _Broken(_Slow):
    """A model whose prediction fails with an unexpected error."""

    def predict_prepared(self, items):
        raise RuntimeError("something deep inside went wrong\nwith a second line")


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(model, wav):
    with running(create_app(_Broken(model, 0), LIMITS)) as url:
        response = httpx.post(f"{url}/predict", files={"file": ("a.wav", wav.read_bytes(), "audio/wav")})
        _error(response, 500, "internal error")
        assert "something deep" not in response.text
        assert httpx.get(f"{url}/health").json()["running"] == 0
