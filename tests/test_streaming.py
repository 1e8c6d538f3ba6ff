"""StreamingClassifier (ring buffer, hop, resampling, smoothing, silence) and `muzo listen` from a pipe and a file."""
import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.inference.prediction import load_model
from muzo_lib.inference.streaming import StreamingClassifier, file_chunks, pcm_chunks, switch_delays, updates_frame
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.training.checkpoints import save_checkpoint
from tests.helpers import tone, write

CLASSES = ["jazz", "pop", "rock"]
SR = 22050


class Recorder:
    """A model that remembers the windows it was given and answers by loudness order."""
    classes = ["a", "b"]
    sample_rate = SR

    def __init__(self):
        self.windows = []

    def predict_waveforms(self, waveforms):
        self.windows += [np.array(w) for w in waveforms]
        return np.array([[0.9, 0.1] if np.mean(w) < 0 else [0.2, 0.8] for w in waveforms])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    torch.manual_seed(0)
    mel = MelConfig(n_mels=32)
    cnn = save_checkpoint(root / "cnn.pt", SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 4, 8, 8),
                                                                     hidden=8)).eval(), mel, CLASSES, segment_seconds=1.0)
    hybrid = save_checkpoint(root / "hybrid.pt", HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, channels=(4, 4, 8),
                                                                           rnn_hidden=8, dense=8)).eval(),
                             mel, CLASSES, segment_seconds=1.0)
    return {"root": root, "cnn": cnn, "hybrid": hybrid}


@pytest.fixture(scope="module")
def onnx_model(models):
    """The CNN exported to ONNX: `muzo listen` starts without torch, so the many
    bad-input subprocesses below stay fast on a busy machine."""
    pytest.importorskip("onnxruntime")
    from muzo_lib.inference.export import export_onnx

    return export_onnx(models["cnn"], models["root"] / "cnn.onnx")


def test_updates_come_every_hop_on_the_last_window_whatever_the_chunk_sizes():
    y = np.arange(5 * SR, dtype=np.float32) / SR                       # a ramp: every sample says its time
    results = []
    for sizes in ([SR // 10], [1, 7, 5000, 123_456], [len(y)]):
        model = Recorder()
        stream = StreamingClassifier(model, window_seconds=2.0, hop_seconds=0.5, smoothing=0.0)
        updates, pos, i = [], 0, 0
        while pos < len(y):
            n = sizes[i % len(sizes)]
            updates += stream.push(y[pos:pos + n])
            pos, i = pos + n, i + 1
        assert [u["time_s"] for u in updates] == [2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
        for u, w in zip(updates, model.windows):
            assert len(w) == 2 * SR and w[-1] == pytest.approx(u["time_s"] - 1 / SR) and np.all(np.diff(w) > 0)
        results.append(np.stack(model.windows))
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


def test_input_at_another_rate_is_resampled_once_incrementally():
    model = Recorder()
    stream = StreamingClassifier(model, input_rate=44100, window_seconds=1.0, hop_seconds=1.0, smoothing=0.0)
    y = tone(3.0, sr=44100, freq=300)
    updates = []
    for s in range(0, len(y), 4410):
        updates += stream.push(y[s:s + 4410])
    updates += stream.flush()
    assert [u["time_s"] for u in updates] == [1.0, 2.0, 3.0] and stream.received == 3 * SR
    import soxr

    whole = soxr.resample(y, 44100, SR)                                   # the same signal resampled in one go
    assert np.abs(model.windows[1] - whole[SR:2 * SR]).max() < 1e-3


def test_smoothing_is_an_exponential_moving_average_and_silence_gets_no_genre():
    model = Recorder()
    stream = StreamingClassifier(model, window_seconds=0.5, hop_seconds=0.5, smoothing=0.5)
    wave = 0.1 * np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR).astype(np.float32)
    loud_low = wave - 0.3                                                   # model says a: [0.9, 0.1]
    loud_high = wave + 0.3                                                  # model says b: [0.2, 0.8]
    u = stream.push(loud_low) + stream.push(loud_high) + stream.push(loud_high)
    assert [x["probabilities"]["a"] for x in u] == pytest.approx([0.9, 0.55, 0.375])
    assert [x["genre"] for x in u] == ["a", "a", "b"] and [x["raw_genre"] for x in u] == ["a", "b", "b"]
    silent = stream.push(np.zeros(SR // 2, np.float32))[0]
    assert silent["silent"] and silent["genre"] is None and silent["confidence"] is None
    after = stream.push(loud_low)[0]                                        # the average restarts after silence
    assert after["probabilities"]["a"] == pytest.approx(0.9) and not after["silent"]


@pytest.mark.parametrize("level", [0.0, 3e-5, 1e-4, 1e-3, 0.1])
@pytest.mark.parametrize("dc", [0.0, 0.3])
def test_a_window_is_silent_exactly_when_a_file_would_be(level, dc):
    """One silence rule: the stream asks SignalStats, as the dataset scan and prediction do
    (a -80 dBFS tone is music played softly; a DC offset alone is no signal)."""
    from muzo_lib.io.audio import signal_problem

    y = (dc + level * np.sqrt(2) * np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)).astype(np.float32)
    update = StreamingClassifier(Recorder(), window_seconds=0.5, hop_seconds=0.5).push(y)[0]
    assert update["silent"] == (signal_problem(y, SR) is not None)
    assert update["silent"] == (level < 1e-4)                          # -80 dBFS: SignalStats' threshold
    assert (update["genre"] is None) == update["silent"]


def test_a_stream_shorter_than_a_window_still_gets_one_answer_at_the_end():
    stream = StreamingClassifier(Recorder(), window_seconds=3.0)
    assert stream.push(tone(1.0)) == []
    final = stream.flush()
    assert len(final) == 1 and final[0]["window_s"] == pytest.approx(1.0) and final[0]["genre"] in ("a", "b")


@pytest.mark.parametrize("kwargs, message", [
    ({"input_rate": 100}, "outside"), ({"hop_seconds": 0}, "positive"), ({"smoothing": 1.0}, r"\[0, 1\)"),
    ({"top_k": 0}, "top_k"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StreamingClassifier(Recorder(), **kwargs)


def test_non_finite_samples_are_refused_in_one_line():
    with pytest.raises(ValueError, match="non-finite"):
        StreamingClassifier(Recorder()).push(np.array([0.1, np.nan], np.float32))


def test_every_model_kind_streams_and_the_update_is_the_windows_own_prediction(models, onnx_model):
    y = tone(3.5, freq=330)
    for path in (models["cnn"], models["hybrid"], onnx_model):
        model = load_model(path, device="cpu")
        updates = list(StreamingClassifier(model, window_seconds=1.5, hop_seconds=1.0, smoothing=0.0).run([y]))
        assert [u["time_s"] for u in updates] == [1.5, 2.5, 3.5]
        last = model.predict_waveforms([y[-int(1.5 * SR):]])[0]
        assert [updates[-1]["probabilities"][c] for c in CLASSES] == pytest.approx(last.tolist(), abs=1e-6)
        assert updates[-1]["genre"] in CLASSES and all(u["compute_ms"] > 0 for u in updates)


def test_limit_threads_sets_onnxruntime_and_torch_threads_without_changing_results(models, onnx_model):
    from muzo_lib.inference.streaming import limit_threads

    y = tone(1.5)
    onnx = load_model(onnx_model)
    before = onnx.predict_waveforms([y])
    limit_threads(onnx, 1)
    assert onnx.session.get_session_options().intra_op_num_threads == 1
    assert np.array_equal(onnx.predict_waveforms([y]), before)
    threads = torch.get_num_threads()
    try:
        limit_threads(load_model(models["cnn"], device="cpu"), 1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)


def test_the_stream_follows_a_genre_switch_within_window_plus_hop(tmp_path):
    """Two clips of different 'genres' joined (a low and a high register), through a real
    trained model (a Random Forest on the hand-made features)."""
    import pandas as pd

    from muzo_lib.features.handmade import AudioFeatureExtractor
    from muzo_lib.models.forest import MusicGenreClassifier

    extractor = AudioFeatureExtractor(extras=False)
    pitches = {"jazz": [180, 220, 260], "rock": [900, 1100, 1300]}
    rows, labels = [], []
    for genre, freqs in pitches.items():
        for i, f in enumerate(freqs):
            rows.append(extractor.extract_all_features(tone(2.0, freq=f, seed=i), SR))
            labels.append(genre)
    path = MusicGenreClassifier(n_estimators=20, random_state=0, n_jobs=1).fit(pd.DataFrame(rows), labels) \
        .save_model(tmp_path / "rf.skops")
    model = load_model(path)
    window, hop = 2.0, 0.5
    y = np.concatenate([np.tile(tone(2.0, freq=200, seed=5), 3), np.tile(tone(2.0, freq=1000, seed=6), 3)])
    stream = StreamingClassifier(model, window_seconds=window, hop_seconds=hop)
    updates = list(stream.run(y[i:i + 1000] for i in range(0, len(y), 1000)))
    truth = [(0.0, 6.0, "jazz"), (6.0, 12.0, "rock")]
    assert all(u["genre"] == "jazz" for u in updates if u["time_s"] <= 6.0)
    delay = switch_delays(updates, truth)[0]["delay_s"]
    assert delay is not None and delay <= window + hop
    assert all(u["genre"] == "rock" for u in updates if u["time_s"] >= 6.0 + window + hop)
    frame = updates_frame(updates, model.classes)
    assert list(frame.time_s) == [u["time_s"] for u in updates] and set(frame.columns) >= set(model.classes)


def test_file_source_paces_at_real_speed_unless_asked_not_to(tmp_path):
    path = write(tmp_path / "a.wav", tone(0.6, sr=16000), sr=16000)
    start = time.monotonic()
    chunks = list(file_chunks(path, chunk_seconds=0.1, realtime=True))
    paced = time.monotonic() - start
    assert paced >= 0.45 and all(rate == 16000 for _, rate in chunks)
    assert sum(len(c) for c, _ in chunks) == int(0.6 * 16000)
    assert sum(len(c) for c, _ in file_chunks(path, realtime=False)) == int(0.6 * 16000)


def test_pcm_chunks_keep_samples_split_across_reads():
    import io

    y = np.arange(10, dtype="<f4")
    raw = y.tobytes()

    class Trickle(io.RawIOBase):                                       # a pipe that hands out 3 bytes at a time
        def __init__(self):
            self.pos = 0

        def read(self, n=-1):
            out = raw[self.pos:self.pos + 3]
            self.pos += len(out)
            return out

    got = np.concatenate([c for c, _ in pcm_chunks(Trickle(), 100)])
    assert np.array_equal(got, y)


# ---------------------------------------------------------------- `muzo listen`

def _listen(*args, stdin=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "muzo_lib.cli", "listen", *map(str, args)], capture_output=True,
                          input=stdin, **kwargs)


def test_listen_reads_float32_pcm_from_a_pipe(models):
    pcm = tone(4.0, sr=16000, freq=300).astype("<f4").tobytes()
    done = _listen("-", "--model", models["cnn"], "--rate", 16000, "--hop", 1, "--json", stdin=pcm)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(x) for x in done.stdout.decode().splitlines()]
    assert [x["time_s"] for x in lines] == [1.0, 2.0, 3.0, 4.0]
    assert all(x["genre"] in CLASSES and 0 < x["confidence"] <= 1 and len(x["top_k"]) == 3 for x in lines)


def test_listen_plays_a_file_as_a_stream(models, tmp_path):
    path = write(tmp_path / "song.flac", tone(3.0, sr=44100, channels=2), sr=44100)
    done = _listen(path, "--model", models["hybrid"], "--as-fast-as-possible", "--window", 1.5, "--hop", 0.5)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 4 and lines[0].split()[:2] == ["1.5", "s"] and lines[-1].split()[2] in CLASSES
    assert "4 update(s) over 3.0 s" in done.stderr.decode()


@pytest.mark.parametrize("args, stdin, message", [
    (["-"], b"", "no audio received on standard input"),
    (["-", "--rate", "100"], b"\0" * 400, "outside 4000..384000"),
    (["-"], np.array([np.nan] * 100, "<f4").tobytes(), "non-finite"),
    (["song.wav", "--rate", "16000"], None, "--rate is for '-'"),
    (["missing.wav"], None, "no such audio file"),
    (["-", "--smoothing", "1.5"], b"\0" * 400, r"smoothing must be in [0, 1)"),
])
def test_listen_bad_input_is_one_line(onnx_model, tmp_path, args, stdin, message):
    write(tmp_path / "song.wav", tone(1.0))
    done = _listen(*args, "--model", onnx_model, stdin=stdin, cwd=tmp_path)
    err = done.stderr.decode()
    assert done.returncode == 2 and message in err and err.count("\n") == 1, err


def test_listen_refuses_a_file_that_is_not_audio_and_a_model_that_is_not_one(onnx_model, tmp_path):
    (tmp_path / "notes.wav").write_text("not audio")
    done = _listen(tmp_path / "notes.wav", "--model", onnx_model)
    assert done.returncode == 2 and "not decodable audio" in done.stderr.decode()
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"nonsense")
    done = _listen("-", "--model", bogus, stdin=b"\0" * 400)
    assert done.returncode == 2 and "not a readable ONNX model" in done.stderr.decode()


def test_listen_ends_quietly_when_the_reader_goes_away(onnx_model, tmp_path):
    """`muzo listen ... | head -1`: a broken pipe is no error and prints no traceback."""
    pcm = tmp_path / "long.f32"
    pcm.write_bytes(tone(60.0, freq=300).astype("<f4").tobytes())
    cmd = (f"set -o pipefail; {sys.executable} -m muzo_lib.cli listen - --model {onnx_model} --hop 0.1 --json "
           f"< {pcm} | head -n 1")
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "" and json.loads(done.stdout)["time_s"] == 1.0


def test_listen_without_a_source_says_clearly_why_there_is_no_microphone(onnx_model):
    try:
        import sounddevice

        sounddevice.query_devices(kind="input")
        pytest.skip("this machine has an audio input: `muzo listen` would really listen")
    except Exception:  # no package, no PortAudio, or no input device: what the test is about
        pass
    done = _listen("--model", onnx_model, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1
    assert any(word in err for word in ("sounddevice", "PortAudio", "no audio input device")), err


def test_listen_ends_cleanly_on_ctrl_c(onnx_model, tmp_path):
    """A file played at real speed, interrupted after its first update: status 0, no traceback."""
    import signal

    path = write(tmp_path / "long.wav", tone(30.0, freq=300))
    proc = subprocess.Popen([sys.executable, "-m", "muzo_lib.cli", "listen", str(path), "--model", str(onnx_model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert first.split()[:2] == ["1.0", "s"]                          # the 1 s training crop is the window
    assert proc.returncode == 0 and "Traceback" not in err and "update(s) over" in err
