"""The web page of `muzo serve` in headless Chromium: upload through the page's file input and read the
answer it shows. Leaves a screenshot, ``serve_page.png``, under the tests' artefacts (tests/browser.py)."""
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402

from muzo_lib.inference.prediction import load_model  # noqa: E402
from muzo_lib.serve.app import create_app  # noqa: E402
from tests.browser import artefact_path, chromium  # noqa: E402
from tests.helpers import tone, write  # noqa: E402
from tests.serving import running, tiny_network  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("page")
    model = load_model(tiny_network(root / "levels.pt", seed=1, two_level=True), device="cpu")
    song = write(root / "song.wav", np.concatenate([tone(4.0, freq=f, seed=i) for i, f in enumerate((220, 660, 1320))]))
    with running(create_app(model)) as base:
        yield base, song


def _wait_for_answer(driver, timeout: float = 30.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.visibility_of_element_located((By.ID, "result")))
    return driver.find_element(By.ID, "genre").text


def test_uploading_through_the_page_shows_the_apis_answer(served):
    from selenium.webdriver.common.by import By

    base, song = served
    api = httpx.post(f"{base}/predict", files={"file": (song.name, song.read_bytes(), "audio/wav")}, timeout=60).json()
    with chromium() as driver:
        driver.get(base + "/")
        driver.find_element(By.ID, "file").send_keys(str(song))
        shown = _wait_for_answer(driver)
        assert shown == api["genre"]
        assert driver.find_element(By.ID, "confidence").text == f"{100 * api['confidence']:.1f}%"
        if api["subgenre"]:
            assert driver.find_element(By.ID, "subgenre").text == api["subgenre"]
        bars = driver.find_elements(By.CSS_SELECTOR, "#bars .bar")
        assert [b.find_element(By.CLASS_NAME, "name").text for b in bars] == \
            [g for g, _ in sorted(api["probabilities"].items(), key=lambda kv: -kv[1])]
        assert len(driver.find_elements(By.CSS_SELECTOR, "#timeline > div")) == len(api["timeline"]) == 12
        assert "genres" in driver.find_element(By.ID, "model-line").text
        driver.save_screenshot(str(artefact_path("serve_page.png")))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] if hasattr(driver, "get_log") else []
        assert not errors, errors


def test_the_page_reports_a_refused_file_in_one_line(served, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = served
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    with chromium() as driver:
        driver.get(base + "/")
        driver.find_element(By.ID, "file").send_keys(str(junk))
        WebDriverWait(driver, 30).until(lambda d: "HTTP 400" in d.find_element(By.ID, "status").text)
        text = driver.find_element(By.ID, "status").text
        assert "junk.wav: unreadable audio" in text and "\n" not in text
        assert not driver.find_element(By.ID, "result").is_displayed()


def test_the_wav_encoder_of_the_recording_path_makes_audio_the_server_decodes(served):
    """The microphone path's last step, run in the page: samples -> the page's WAV encoder -> POST /predict."""
    base, _ = served
    with chromium() as driver:
        driver.get(base + "/")
        status = driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const rate = 44100, samples = new Float32Array(rate * 2);
            for (let i = 0; i < samples.length; i++) samples[i] = 0.3 * Math.sin(2 * Math.PI * 440 * i / rate);
            const form = new FormData();
            form.append("file", wavFile(samples, rate), "recording.wav");
            fetch("/predict", {method: "POST", body: form}).then(r => r.json().then(b => done([r.status, b])));
        """)
    code, body = status
    assert code == 200 and body["file"] == "recording.wav" and body["seconds"] == pytest.approx(2.0, abs=0.01)
    assert body["genre"] is not None and body["warning"] is None


def test_recording_from_a_microphone_is_sent_as_wav_and_answered(served):
    """Chromium's fake microphone (a beep) through MediaRecorder, decodeAudioData and the page's WAV encoder."""
    from selenium.webdriver.common.by import By

    base, _ = served
    with chromium("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream") as driver:
        driver.get(base + "/")
        record = driver.find_element(By.ID, "record")
        record.click()
        time.sleep(2.5)
        assert "Stop" in record.text
        record.click()
        genre = _wait_for_answer(driver)
        meta = driver.find_element(By.ID, "meta").text
    seconds = float(meta.split("· ")[1].split(" s")[0])
    assert meta.startswith("recording.wav") and 1.5 <= seconds <= 4, meta
    assert genre and genre != "(no genre)"                                # the fake microphone beeps: a signal
