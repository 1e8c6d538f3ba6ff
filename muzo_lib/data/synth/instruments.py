"""The instruments and the studio: every sound of a track, from numbers.

Sine kicks and filtered-noise snares, Karplus-Strong plucked strings, additive pianos,
organs, horns and strings, detuned saws, waveshaped guitars; then the effects a mix
goes through (Butterworth filters, a guitar amp, a convolution room, record crackle).
Every voice has the signature ``(freq_hz, seconds, sample_rate, rng) -> samples``
(float64, unnormalised) and draws its randomness only from ``rng``.
"""
from __future__ import annotations

import numpy as np
from scipy import signal


def _envelope(n: int, sr: int, attack_s: float, decay_s: float | None, release_s: float = 0.02) -> np.ndarray:
    """Attack ramp, exponential decay (``None``: sustain) and a release ramp at the end."""
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(attack_s, 1e-4))
    if decay_s:
        env *= np.exp(-t / decay_s)
    tail = min(n, int(release_s * sr))
    if tail:
        env[n - tail:] *= np.linspace(1, 0, tail)
    return env


def _additive(freq, seconds, sr, rng, amplitudes, attack_s, decay_s=None, damping=0.0,
              release_s=0.05, vibrato=0.0):
    """Harmonic partials ``k * freq`` weighted by ``amplitudes[k - 1]``: pianos, organs, horns, strings.

    With ``decay_s`` the note fades, partial ``k`` ``1 + damping * (k - 1)`` times faster
    than the fundamental (highs die first, as on a struck string); ``vibrato`` is the
    relative depth of a 4.5-6.5 Hz pitch wobble.
    """
    n = int((seconds + release_s) * sr)
    t = np.arange(n) / sr
    wobble = 1 + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t)
    theta = 2 * np.pi * freq * np.cumsum(wobble) / sr
    # sin(k θ) by the recurrence sin((k+1)θ) = 2 cos θ sin(kθ) - sin((k-1)θ): no sin per partial
    two_cos, previous, current = 2 * np.cos(theta), np.zeros(n), np.sin(theta)
    fade = np.exp(-t / decay_s) if decay_s else np.ones(n)
    faster = np.exp(-t * damping / decay_s) if decay_s and damping else None
    out = np.zeros(n)
    for k, amp in enumerate(amplitudes, start=1):
        if k * freq >= 0.45 * sr:
            break
        if amp:
            out += amp * fade * current
        previous, current = current, two_cos * current - previous
        if faster is not None:
            fade = fade * faster
    return out * _envelope(n, sr, attack_s, None, release_s)


def _karplus_strong(freq, seconds, sr, rng, brightness, t60_s, release_s=0.03):
    """A plucked string: a burst of noise circulating in a delay line that loses highs."""
    n = int((seconds + release_s) * sr)
    period = max(2, int(round(sr / freq)))
    excitation = signal.lfilter([brightness], [1, brightness - 1], rng.uniform(-1, 1, period))
    gain = 10 ** (-3 * period / (sr * t60_s))
    buf = np.zeros(n + 1)
    buf[1:min(period, n) + 1] = excitation[:n]
    for start in range(period + 1, n + 1, period):
        stop = min(start + period, n + 1)
        buf[start:stop] = 0.5 * gain * (buf[start - period:stop - period] + buf[start - period - 1:stop - period - 1])
    return buf[1:] * _envelope(n, sr, 0.001, None, release_s)


def _saws(freq, seconds, sr, rng, detune, voices, cutoff_hz, attack_s, release_s=0.1):
    """Detuned sawtooth voices through a low-pass filter: pads, supersaws, reese bass."""
    n = int((seconds + release_s) * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    for spread in np.linspace(-detune, detune, voices):
        out += 2 * ((freq * (1 + spread) * t + rng.random()) % 1.0) - 1
    out = butter_filter(out, cutoff_hz, "lowpass", sr)
    return out / voices * _envelope(n, sr, attack_s, None, release_s)


def _piano(f, s, sr, rng):
    amplitudes = [1 / k ** 1.3 for k in range(1, 9)]
    return _additive(f, s, sr, rng, amplitudes, 0.003, 1.2 * (220 / f) ** 0.5, damping=0.5, release_s=0.25)


def _electric_piano(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1, 0.25, 0, 0, 0, 0, 0.08], 0.004, 1.0, damping=1.0, release_s=0.2,
                     vibrato=0.002)


def _organ(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1, 0.7, 0.4, 0.3, 0, 0.15], 0.005, release_s=0.03)


def _strings(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1 / k for k in range(1, 11)], 0.15, release_s=0.3, vibrato=0.004)


def _violin(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1 / k ** 0.9 for k in range(1, 13)], 0.06, release_s=0.1, vibrato=0.006)


def _cello(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1 / k for k in range(1, 9)], 0.08, release_s=0.15, vibrato=0.004)


def _horn(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1 / k ** 1.5 for k in range(1, 10)], 0.04, release_s=0.06, vibrato=0.005)


def _flute(f, s, sr, rng):
    tone = _additive(f, s, sr, rng, [1, 0.2, 0.08], 0.05, release_s=0.08, vibrato=0.005)
    breath = butter_filter(rng.normal(0, 0.05, len(tone)), min(3 * f, 0.45 * sr), "lowpass", sr)
    return tone + breath * _envelope(len(tone), sr, 0.05, None, 0.08)


def _bell(f, s, sr, rng):
    """Inharmonic partials (ratios 1, 2, 2.76, 5.4) that ring and fade: bells, glockenspiels."""
    n = int((s + 0.4) * sr)
    t = np.arange(n) / sr
    partials = [(1, 1, 1), (2.0, 0.5, 1.5), (2.76, 0.4, 2), (5.4, 0.25, 3)]
    out = sum(amp * np.exp(-t * speed / 0.8) * np.sin(2 * np.pi * f * ratio * t)
              for ratio, amp, speed in partials if f * ratio < 0.45 * sr)
    return out * _envelope(n, sr, 0.002, None, 0.4)


def _synth_lead(f, s, sr, rng):
    square = [1 / k if k % 2 else 0 for k in range(1, 12)]  # odd harmonics only
    return _additive(f, s, sr, rng, square, 0.01, release_s=0.05, vibrato=0.003)


def _sub(f, s, sr, rng):
    return _additive(f, s, sr, rng, [1, 0.15], 0.005, release_s=0.04)


def _808(f, s, sr, rng):
    n = int((s + 0.1) * sr)
    t = np.arange(n) / sr
    glide = f * (1 + 0.5 * np.exp(-t / 0.03))
    tone = np.sin(2 * np.pi * np.cumsum(glide) / sr) * _envelope(n, sr, 0.002, 1.5, 0.1)
    return np.tanh(2.5 * tone)


TIMBRES = {
    "piano": _piano, "electric_piano": _electric_piano, "organ": _organ, "strings": _strings,
    "violin": _violin, "cello": _cello, "horn": _horn, "flute": _flute, "bell": _bell,
    "synth_lead": _synth_lead, "sub": _sub, "808": _808,
    "supersaw": lambda f, s, sr, rng: _saws(f, s, sr, rng, 0.008, 3, 2500, 0.01),
    "reese": lambda f, s, sr, rng: _saws(f, s, sr, rng, 0.012, 2, 600, 0.02),
    "guitar": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.8, 1.5),
    "low_guitar": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.7, 0.6),
    "clean_guitar": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.6, 0.5),
    "nylon_guitar": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.35, 1.2),
    "harpsichord": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.9, 1.0),
    "picked_bass": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.5, 1.0),
    "upright_bass": lambda f, s, sr, rng: _karplus_strong(f, s, sr, rng, 0.25, 0.8),
}
#: Lowest MIDI note each instrument's tonic is placed at.
REGISTER = {
    "piano": 55, "electric_piano": 55, "organ": 60, "strings": 55, "violin": 67, "cello": 36,
    "horn": 62, "flute": 72, "bell": 72, "synth_lead": 67, "sub": 33, "808": 30, "supersaw": 55,
    "reese": 33, "guitar": 45, "low_guitar": 38, "clean_guitar": 57, "nylon_guitar": 50,
    "harpsichord": 60, "picked_bass": 33, "upright_bass": 33,
}


def drum_kit(kit: tuple[float, ...], sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot drum sounds from sines and filtered noise, tuned by the artist's kit."""
    kick_hz, kick_decay, snare_hz, snare_decay, hat_cutoff = kit

    def noise(seconds, cutoff, kind, decay):
        n = int(seconds * sr)
        return butter_filter(rng.uniform(-1, 1, n), cutoff, kind, sr) * _envelope(n, sr, 0.0005, decay, 0.005)

    def tone(seconds, start_hz, end_hz, sweep_s, decay):
        n = int(seconds * sr)
        t = np.arange(n) / sr
        freq = end_hz + (start_hz - end_hz) * np.exp(-t / sweep_s)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * _envelope(n, sr, 0.0005, decay, 0.005)

    n_ride = int(0.8 * sr)
    metallic = sum(np.sin(2 * np.pi * f * np.arange(n_ride) / sr) for f in (511, 1083, 1720, 3150))
    hat_cutoff = min(hat_cutoff, 0.45 * sr)
    return {
        "kick": _layer(tone(0.6, 3 * kick_hz, kick_hz, 0.03, kick_decay), 0.3 * noise(0.02, 3000, "lowpass", 0.005)),
        "snare": _layer(0.6 * tone(0.3, snare_hz * 1.3, snare_hz, 0.02, 0.06),
                        noise(0.4, (1200, min(9000, 0.45 * sr)), "bandpass", snare_decay)),
        "clap": _layer(*[np.pad(noise(0.3, (900, 3500), "bandpass", 0.012 if k < 2 else 0.12),
                                (int(k * 0.01 * sr), 0)) for k in range(3)]),
        "hat": 0.5 * noise(0.1, hat_cutoff, "highpass", 0.03),
        "open_hat": 0.5 * noise(0.4, hat_cutoff, "highpass", 0.15),
        "ride": 0.4 * noise(0.8, min(5000, 0.45 * sr), "highpass", 0.4)
                + 0.05 * metallic * _envelope(n_ride, sr, 0.0005, 0.5),
        "rim": _layer(tone(0.08, 900, 800, 0.01, 0.015), 0.4 * noise(0.05, (1500, min(4000, 0.45 * sr)), "bandpass", 0.01)),
    }


def _layer(*sounds: np.ndarray) -> np.ndarray:
    """Sum sounds of different lengths, all starting together."""
    out = np.zeros(max(len(s) for s in sounds))
    for s in sounds:
        out[:len(s)] += s
    return out


# ---------------------------------------------------------------- studio

def butter_filter(x: np.ndarray, cutoff, kind: str, sr: int, order: int = 2) -> np.ndarray:
    """A Butterworth filter (second-order sections). ``cutoff`` in Hz, a ``(low, high)`` pair
    for ``kind="bandpass"``; every edge must lie below ``sr / 2``."""
    sos = signal.butter(order, cutoff, btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def amp(x: np.ndarray, drive: float, sr: int) -> np.ndarray:
    """A distorted guitar amp: waveshaping (tanh) then a speaker cabinet's low-pass."""
    x = x / (np.abs(x).max() + 1e-9)
    return butter_filter(np.tanh(drive * butter_filter(x, 150, "highpass", sr)), min(4500, 0.45 * sr), "lowpass", sr, 4)


def reverb(x: np.ndarray, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A room: convolution with exponentially decaying noise (``seconds`` is the -60 dB time)."""
    n = int(seconds * sr)
    impulse = rng.normal(0, 1, n) * np.exp(-6.9 * np.arange(n) / n)
    impulse = butter_filter(impulse, min(5000, 0.45 * sr), "lowpass", sr)
    wet = signal.fftconvolve(x, impulse)[:len(x)]
    return wet / (np.sqrt(np.mean(wet ** 2)) + 1e-9) * np.sqrt(np.mean(x ** 2))


def crackle(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sparse clicks of a dusty record."""
    clicks = np.zeros(n)
    where = rng.integers(0, n, size=max(1, n // 2000))
    clicks[where] = rng.uniform(-1, 1, len(where))
    return clicks
