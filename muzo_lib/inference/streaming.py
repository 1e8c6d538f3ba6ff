"""Classify a live stream: audio arrives in chunks, a smoothed genre comes out every hop.

:class:`StreamingClassifier` wraps any loaded model (:func:`muzo_lib.inference.prediction.load_model`:
CNN, hybrid, Random Forest, or an exported ``.onnx`` network). ``push(samples)`` takes
chunks of any size at the stream's own rate; they are resampled once, incrementally
(soxr's streaming resampler), into a ring buffer one model window long. Every ``hop``
seconds of audio the window is scored like a whole file, and the probabilities are
smoothed over recent windows with an exponential moving average::

    smoothed_t = smoothing * smoothed_(t-1) + (1 - smoothing) * p_t

so with ``smoothing=0.5`` and a 1 s hop an update's weight halves every second. A
window without a signal, by the rule files are judged by (:class:`muzo_lib.io.audio.SignalStats`:
under -80 dBFS peak or -100 dBFS RMS once DC is removed), is flagged ``silent`` and gets no
genre (a stream of silence never gets a confident answer); the average restarts after it.

Sources for ``muzo listen`` are generators of ``(chunk, rate)``: :func:`pcm_chunks`
(raw float32 PCM from a pipe), :func:`file_chunks` (a file played at real speed or as
fast as possible) and :func:`device_chunks` (the default input through sounddevice).

Example:
    >>> stream = StreamingClassifier(load_model("cnn.pt"), input_rate=44100, hop_seconds=1.0)
    >>> for chunk in chunks:                      # any sizes
    ...     for update in stream.push(chunk):
    ...         print(update["time_s"], update["genre"], update["confidence"])
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

import numpy as np

from muzo_lib.inference.prediction import model_window_seconds
from muzo_lib.io.audio import signal_problem

#: Lowest and highest input rates accepted, Hz.
MIN_RATE, MAX_RATE = 4000, 384000


class StreamSourceError(ValueError):
    """An audio source that cannot be opened or read (one line)."""


class StreamingClassifier:
    """Sliding-window genre classification of a stream, one update per hop.

    Args:
        model: a loaded model (anything with ``classes``, ``sample_rate`` and
            ``predict_waveforms``, as :func:`muzo_lib.inference.prediction.load_model` returns).
        input_rate: rate of the pushed samples, Hz (default: the model's, no resampling).
        window_seconds: audio scored per update, s (default: the network's training crop
            ``segment_seconds``; 5 s for models without one).
        hop_seconds: stream time between updates, s.
        smoothing: weight of the past in the moving average, in ``[0, 1)`` (0: none).
        top_k: genres listed per update.

    Each update is a dict: ``time_s`` (stream time at the window's end, s), ``window_s``
    (audio it covers, s), ``genre``, ``confidence``, ``top_k`` (list of ``(genre, p)``) and
    ``probabilities`` (all smoothed; ``None`` when silent), ``raw_genre`` (the window's own
    top genre), ``silent``, ``rms_dbfs`` and ``compute_ms`` (wall time of the update).
    """

    def __init__(self, model, input_rate: int | None = None, window_seconds: float | None = None,
                 hop_seconds: float = 1.0, smoothing: float = 0.5, top_k: int = 3):
        self.model = model
        self.sample_rate = int(model.sample_rate)
        self.input_rate = int(input_rate or self.sample_rate)
        if not MIN_RATE <= self.input_rate <= MAX_RATE:
            raise ValueError(f"input rate {self.input_rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
        window_seconds = window_seconds or model_window_seconds(model)
        if not window_seconds > 0 or not hop_seconds > 0:
            raise ValueError(f"window and hop must be positive, got window {window_seconds} s, hop {hop_seconds} s")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {top_k}")
        self.window_seconds, self.hop_seconds = float(window_seconds), float(hop_seconds)
        self.smoothing, self.top_k = float(smoothing), int(top_k)
        self.window = max(1, int(round(self.window_seconds * self.sample_rate)))
        self.hop = max(1, int(round(self.hop_seconds * self.sample_rate)))
        self._resampler = None
        if self.input_rate != self.sample_rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.input_rate, self.sample_rate, 1, dtype="float32")
        self.reset()

    def reset(self) -> None:
        """Forget the stream: empty buffer, no smoothing history, time back to 0."""
        self._ring = np.zeros(self.window, dtype=np.float32)
        self._write = 0                # next ring position to write
        self.received = 0              # samples received so far, at the model's rate
        self._next_update = self.window
        self._smoothed: np.ndarray | None = None
        self._smoothed_sub: np.ndarray | None = None  # subgenre probabilities of a two-level model
        self.updates = 0
        if self._resampler is not None:
            self._resampler.clear()

    @property
    def time_s(self) -> float:
        """Stream time received so far, s."""
        return self.received / self.sample_rate

    def push(self, samples) -> list[dict]:
        """Add a chunk (1-D mono, or ``(samples, channels)``, mixed to mono) at ``input_rate``.

        Returns:
            The updates this chunk completed (none, one, or several for a long chunk).

        Raises:
            ValueError: samples that are not finite numbers.
        """
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=1)
        x = x.reshape(-1)
        if x.size and not np.isfinite(x).all():
            raise ValueError("the stream holds non-finite samples (NaN or infinity): is it really float32 PCM?")
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        return self._consume(x)

    def flush(self) -> list[dict]:
        """End of stream: the resampler's last samples, and one update on a stream shorter
        than a window (so a short stream still gets an answer)."""
        updates = []
        if self._resampler is not None:
            updates += self._consume(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        if self.updates == 0 and self.received > 0:
            updates.append(self._update())
        return updates

    def _consume(self, y: np.ndarray) -> list[dict]:
        updates, pos = [], 0
        while pos < len(y):
            take = min(self._next_update - self.received, len(y) - pos)
            self._append(y[pos:pos + take])
            pos += take
            if self.received == self._next_update:
                updates.append(self._update())
                self._next_update += self.hop
        return updates

    def _append(self, y: np.ndarray) -> None:
        if len(y) >= self.window:
            self._ring[:] = y[-self.window:]
            self._write = 0
        else:
            first = min(len(y), self.window - self._write)
            self._ring[self._write:self._write + first] = y[:first]
            self._ring[:len(y) - first] = y[first:]
            self._write = (self._write + len(y)) % self.window
        self.received += len(y)

    def current_window(self) -> np.ndarray:
        """The last ``window`` samples in time order (fewer at the stream's start)."""
        ordered = np.concatenate([self._ring[self._write:], self._ring[:self._write]])
        return ordered[-min(self.received, self.window):]

    def _update(self) -> dict:
        from muzo_lib.models.result import Prediction

        start = time.perf_counter()
        y = self.current_window()
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) if len(y) else 0.0
        rms_dbfs = 20 * np.log10(max(rms, 1e-10))
        out = {"time_s": self.received / self.sample_rate, "window_s": len(y) / self.sample_rate,
               "silent": signal_problem(y, self.sample_rate, min_seconds=0.0) is not None,
               "rms_dbfs": round(float(rms_dbfs), 1)}
        if out["silent"]:
            self._smoothed = self._smoothed_sub = None
            out |= {"genre": None, "confidence": None, "top_k": None, "probabilities": None, "raw_genre": None,
                    "subgenre": None, "subgenre_confidence": None}
        else:
            tree = getattr(self.model, "tree", None)  # a two-level model: subgenres too
            if tree is None:
                probs, subs = np.asarray(self.model.predict_waveforms([y])[0], dtype=float), None
            else:
                levels = self.model.predict_prepared_levels([self.model.prepare(y)])
                probs, subs = np.asarray(levels[0][0], dtype=float), np.asarray(levels[1][0], dtype=float)
            self._smoothed = probs if self._smoothed is None else \
                self.smoothing * self._smoothed + (1 - self.smoothing) * probs
            if subs is not None:
                self._smoothed_sub = subs if self._smoothed_sub is None else \
                    self.smoothing * self._smoothed_sub + (1 - self.smoothing) * subs
            p = Prediction.from_probabilities(self._smoothed, self.model.classes, self.top_k,
                                              subgenre_probabilities=None if subs is None else
                                              dict(zip(tree.subgenres, self._smoothed_sub)))
            out |= {"genre": p.genre, "confidence": p.confidence, "top_k": p.top_k, "probabilities": p.probabilities,
                    "subgenre": p.subgenre, "subgenre_confidence": p.subgenre_confidence}
            out["raw_genre"] = self.model.classes[int(np.argmax(probs))]
        self.updates += 1
        out["compute_ms"] = 1000 * (time.perf_counter() - start)
        return out

    def run(self, chunks: Iterable) -> Iterator[dict]:
        """Every update of a whole source: ``chunks`` yields arrays at ``input_rate`` or
        ``(array, rate)`` pairs (the rate must equal ``input_rate``); ends with :meth:`flush`."""
        for chunk in chunks:
            if isinstance(chunk, tuple):
                chunk, rate = chunk
                if int(rate) != self.input_rate:
                    raise ValueError(f"a chunk at {rate} Hz in a stream opened at {self.input_rate} Hz")
            yield from self.push(chunk)
        yield from self.flush()


def limit_threads(model, threads: int = 1) -> None:
    """Run ``model``'s network on ``threads`` CPU threads (process-wide for torch).

    One window per update is too small to split across cores, and on a busy machine the
    extra threads wait for each other: measured on the 2-core machine at load ~9, a 3 s CNN
    window took 230-310 ms (median) with torch's 2 threads and 19-29 ms with 1; on an idle
    machine both take ~3 ms. ``muzo listen`` uses 1 thread unless told otherwise.
    """
    import sys

    if hasattr(model, "set_threads"):               # onnxruntime
        model.set_threads(threads)
    elif "torch" in sys.modules:                    # a network loaded through torch
        sys.modules["torch"].set_num_threads(threads)


# ---------------------------------------------------------------- sources

def pcm_chunks(stream: BinaryIO, rate: int, chunk_seconds: float = 0.1) -> Iterator[tuple[np.ndarray, int]]:
    """Raw float32 little-endian mono PCM from a binary stream (a pipe), as it arrives.

    ``ffmpeg -i ANYTHING -f f32le -ac 1 -ar 22050 -`` writes this format. Reads return
    whatever the pipe holds (up to ``chunk_seconds``); a sample split across two reads
    is kept until its last byte comes.
    """
    want = max(4, int(rate * chunk_seconds) * 4)
    read = getattr(stream, "read1", stream.read)
    rest = b""
    while True:
        data = read(want)
        if not data:
            break
        data = rest + data
        usable = len(data) - len(data) % 4
        rest = data[usable:]
        if usable:
            yield np.frombuffer(data[:usable], dtype="<f4").astype(np.float32), rate


def file_chunks(path: str | os.PathLike, chunk_seconds: float = 0.1,
                realtime: bool = True) -> Iterator[tuple[np.ndarray, int]]:
    """An audio file as a stream of mono chunks at its own rate.

    Args:
        path: any file soundfile decodes (WAV, FLAC, OGG, MP3, ...).
        chunk_seconds: audio per chunk, s.
        realtime: pace the chunks at the file's real speed (as a live source would);
            ``False`` yields them as fast as they decode.

    Raises:
        muzo_lib.io.audio.AudioDecodeError: not decodable audio (one line), before any chunk.
    """
    import soundfile as sf

    from muzo_lib.io.audio import audio_info

    info = audio_info(path)                       # one-line error for missing/empty/non-audio files
    rate = info["sample_rate"]
    block = max(1, int(rate * chunk_seconds))
    started, sent = time.monotonic(), 0
    with sf.SoundFile(str(Path(path))) as f:
        for data in f.blocks(blocksize=block, dtype="float32", always_2d=True):
            if realtime:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            sent += len(data)
            yield data.mean(axis=1), rate


def device_chunks(rate: int | None = None, chunk_seconds: float = 0.1, device=None) -> Iterator[tuple[np.ndarray, int]]:
    """The default (or given) audio input device through sounddevice/PortAudio, until Ctrl-C.

    Raises:
        StreamSourceError: sounddevice or PortAudio missing, or no input device (one line).
    """
    import queue

    try:
        import sounddevice as sd
    except ImportError:
        raise StreamSourceError("live input needs the sounddevice package: pip install sounddevice "
                                "(or pip install 'muzo[listen]'); or pipe audio in with SOURCE '-'") from None
    except OSError as exc:  # the package is there but the PortAudio library is not
        raise StreamSourceError(f"live input needs the PortAudio library ({_first_line(exc)}); "
                                "e.g. apt-get install libportaudio2, or pipe audio in with SOURCE '-'") from None
    try:
        info = sd.query_devices(device, kind="input")
    except (ValueError, sd.PortAudioError) as exc:
        raise StreamSourceError(f"no audio input device ({_first_line(exc)}); pipe audio in with SOURCE '-'") from None
    rate = int(rate or info["default_samplerate"])
    chunks: queue.Queue = queue.Queue()

    def callback(data, frames, when, status):
        chunks.put(data[:, 0].copy())

    try:
        stream = sd.InputStream(samplerate=rate, channels=1, dtype="float32", device=device,
                                blocksize=max(1, int(rate * chunk_seconds)), callback=callback)
    except sd.PortAudioError as exc:
        raise StreamSourceError(f"cannot open audio input {info['name']!r} at {rate} Hz ({_first_line(exc)})") from None
    with stream:
        while True:
            yield chunks.get(), rate


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# ---------------------------------------------------------------- reading a stream's updates

def updates_frame(updates: list[dict], classes: list[str]):
    """Updates as a table: ``time_s``, ``genre`` (``None`` when silent), ``confidence``,
    ``raw_genre``, ``silent``, ``compute_ms`` and one smoothed probability column per class."""
    import pandas as pd

    rows = [{"time_s": u["time_s"], "genre": u["genre"], "confidence": u["confidence"], "raw_genre": u["raw_genre"],
             "silent": u["silent"], "compute_ms": u["compute_ms"],
             **{c: (u["probabilities"] or {}).get(c, np.nan) for c in classes}} for u in updates]
    return pd.DataFrame(rows, columns=["time_s", "genre", "confidence", "raw_genre", "silent", "compute_ms", *classes])


def switch_delays(updates: list[dict], truth: list[tuple]) -> list[dict]:
    """How long the stream's genre took to follow each change of the true genre.

    Args:
        updates: from :meth:`StreamingClassifier.run` / ``push``, in time order.
        truth: the true parts ``[(start_s, end_s, genre), ...]``, in time order.

    Returns:
        One dict per boundary between parts of different genres: ``at_s`` (the boundary),
        ``from``, ``to``, and ``delay_s``: time from the boundary to the first update (at or
        after it, before the part ends) whose genre is the new one; ``None`` if none was.
    """
    out = []
    for (_, _, before), (start, end, after) in zip(truth, truth[1:]):
        if before == after:
            continue
        hit = next((u["time_s"] for u in updates if start <= u["time_s"] <= end and u["genre"] == after), None)
        out.append({"at_s": start, "from": before, "to": after, "delay_s": None if hit is None else hit - start})
    return out
