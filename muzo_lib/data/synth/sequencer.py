"""The band: plays one track's plan (drums, bass, chords, melody), mixes and masters it.

:func:`render` is the whole path from a style and two seeds to samples: it draws the
artist and the track plan, lets :class:`Song` play the four parts through the
instruments, cuts an excerpt and masters it.
"""
from __future__ import annotations

import re

import numpy as np

from .artists import Plan, make_artist, make_plan
from .instruments import REGISTER, TIMBRES, amp, butter_filter, crackle, drum_kit, reverb
from .styles import DRUM_PATTERNS, PITCH_NAMES, STEPS_PER_BAR, Style

_VELOCITY = {"X": 1.0, "x": 0.7, "o": 0.3, "r": 0.5}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
_NUMERAL = re.compile(r"(?P<acc>[b#]?)(?P<num>vii|VII|iii|III|vi|VI|iv|IV|ii|II|v|V|i|I)(?P<ext>maj7|7|5)?$")
_CHORD_SHAPES = {"major": (0, 4, 7), "minor": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10),
                 "m7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11)}


def render(style: Style, seed: int, artist_seed: int | None, duration: float,
           sample_rate: int) -> tuple[np.ndarray, dict]:
    """The track's samples and the facts for ``metadata.csv`` (tempo and key).

    The random draws happen in a fixed order (artist, plan, the parts, the excerpt start,
    mastering), so changing that order changes every track: bump ``SYNTH_VERSION`` then.
    """
    rng = np.random.default_rng(seed)
    artist = make_artist(style, np.random.default_rng(seed if artist_seed is None else artist_seed))
    plan = make_plan(style, rng, artist)
    n_out = int(round(duration * sample_rate))
    bar_s = 4 * 60.0 / plan.tempo_bpm
    n_bars = int(np.ceil(duration / bar_s)) + 2
    song = Song(plan, sample_rate, n_bars, rng)
    mix = song.mix()
    start = int(rng.uniform(0, bar_s) * sample_rate)  # an excerpt, not always from a downbeat
    audio = _master(mix[start:start + n_out], plan, sample_rate, rng)
    return audio, {"tempo_bpm": plan.tempo_bpm, "key": f"{PITCH_NAMES[plan.tonic]} {_mode(plan.progression)}"}


class Song:
    """Renders the four parts of one track into sample buffers and mixes them."""

    def __init__(self, plan: Plan, sr: int, n_bars: int, rng: np.random.Generator):
        self.plan, self.sr, self.n_bars, self.rng = plan, sr, n_bars, rng
        self.step_s = 60.0 / plan.tempo_bpm / 4
        self.n = int((n_bars + 1) * STEPS_PER_BAR * self.step_s * sr)
        chords = [_parse_chord(c) for c in plan.progression.split()]
        self.chords = [chords[bar % len(chords)] for bar in range(n_bars)]
        self.scale = _MAJOR_SCALE if _mode(plan.progression) == "major" else _MINOR_SCALE

    def mix(self) -> np.ndarray:
        parts = [self.drums(), self.bass(), self.harmony(), self.lead()]
        out = np.zeros(self.n)
        for part, gain_db in zip(parts, self.plan.mix_db):
            rms = np.sqrt(np.mean(part ** 2))
            if rms > 0:
                out += part / rms * 10 ** (gain_db / 20)
        return out

    # timing ------------------------------------------------------------
    def onset(self, step: float) -> float:
        """Seconds of a 16th-note step, with swing and a human timing spread."""
        swing = self.plan.artist.swing
        within = step % 4
        if self.plan.style.swing_16ths:
            step += swing / 3 if within in (1, 3) else 0
        else:
            step += {1: swing / 3, 2: swing * 2 / 3, 3: swing / 3}.get(within, 0)
        jitter = self.rng.normal(0, self.plan.style.humanize_ms / 1000)
        return max(0.0, step * self.step_s + jitter)

    def add(self, out: np.ndarray, sound: np.ndarray, at_s: float) -> None:
        i = int(at_s * self.sr)
        n = min(len(sound), len(out) - i)
        if n > 0:
            out[i:i + n] += sound[:n]

    # drums -------------------------------------------------------------
    def drums(self) -> np.ndarray:
        out = np.zeros(self.n)
        if not self.plan.artist.drums:
            return out
        kit = drum_kit(self.plan.artist.kit, self.sr, self.rng)
        for name, pattern in DRUM_PATTERNS[self.plan.artist.drums].items():
            for bar_start in range(0, self.n_bars * STEPS_PER_BAR, len(pattern)):
                for i, ch in enumerate(pattern):
                    if ch == ".":
                        continue
                    velocity = _VELOCITY[ch] * self.rng.uniform(0.85, 1.0)
                    self.add(out, velocity * kit[name], self.onset(bar_start + i))
                    if ch == "r":  # a second hit half a step later
                        self.add(out, velocity * kit[name], self.onset(bar_start + i) + self.step_s / 2)
        return out

    # bass --------------------------------------------------------------
    def bass(self) -> np.ndarray:
        notes = []
        for bar, (root, shape) in enumerate(self.chords):
            next_root = self.chords[(bar + 1) % len(self.chords)][0]
            notes += self.bass_bar(bar, root, shape, next_root)
        timbre = self.plan.artist.bass_timbre
        return self.play(notes, timbre, REGISTER[timbre])

    def bass_bar(self, bar, root, shape, next_root) -> list[tuple[float, float, int, float]]:
        tones = {"1": 0, "3": shape[1], "5": 7, "8": 12}
        notes = []
        walkers = [i for i, ch in enumerate(self.plan.artist.bass) if ch == "w"]
        for i, ch, length in _pattern_notes(self.plan.artist.bass):
            if ch == "w":
                last = i == walkers[-1]
                interval = (next_root - root) % 12 + self.rng.choice([-1, 1]) if last else \
                    int(self.rng.choice([0, shape[1], 7, self.scale[int(self.rng.integers(7))]]))
            else:
                interval = tones[ch]
            notes.append((bar * STEPS_PER_BAR + i, length, root + interval, self.rng.uniform(0.7, 1.0)))
        return notes

    # harmony -----------------------------------------------------------
    def harmony(self) -> np.ndarray:
        notes = []
        for bar, (root, shape) in enumerate(self.chords):
            pattern = self.plan.style.harmony[int(self.rng.integers(len(self.plan.style.harmony)))]
            arpeggio = [root + iv for iv in shape] + [root + 12 + iv for iv in shape[1:]]
            arpeggio += arpeggio[-2:0:-1]  # up and back down
            for k, (i, ch, length) in enumerate(_pattern_notes(pattern)):
                velocity = self.rng.uniform(0.6, 1.0)
                pitches = [arpeggio[k % len(arpeggio)]] if ch == "a" else [root + iv for iv in shape]
                notes += [(bar * STEPS_PER_BAR + i, length, p, velocity) for p in pitches]
        timbre = self.plan.artist.harmony_timbre
        out = self.play(notes, timbre, REGISTER[timbre])
        if self.plan.artist.drive > 0:
            out = amp(out, self.plan.artist.drive, self.sr)
        return out

    # melody ------------------------------------------------------------
    def lead(self) -> np.ndarray:
        timbre = self.plan.artist.lead_timbre
        if not timbre:
            return np.zeros(self.n)
        notes, degree = [], 0
        step = 2 if self.plan.style.lead_density < 0.5 else 1  # dense styles run in 16ths
        for bar, (root, shape) in enumerate(self.chords):
            if bar % 4 == 3 and self.rng.random() < 0.6:
                continue  # breathe at the end of a phrase
            for i in range(0, STEPS_PER_BAR, step):
                if self.rng.random() > self.plan.style.lead_density:
                    continue
                degree = int(np.clip(degree + self.rng.choice([-2, -1, -1, 0, 1, 1, 2]), -3, 10))
                octave, index = divmod(degree, 7)
                notes.append((bar * STEPS_PER_BAR + i, 2 * step, 12 * octave + self.scale[index],
                              self.rng.uniform(0.6, 1.0)))
        return self.play(notes, timbre, REGISTER[timbre])

    def play(self, notes, timbre: str, low_midi: int) -> np.ndarray:
        """Render ``(step, length_steps, semitones_above_tonic, velocity)`` notes with ``timbre``."""
        out = np.zeros(self.n)
        synth = TIMBRES[timbre]
        base = low_midi + (self.plan.tonic - low_midi) % 12
        for step, length, semitones, velocity in notes:
            freq = 440.0 * 2 ** ((base + semitones - 69) / 12)
            seconds = length * self.step_s
            self.add(out, velocity * synth(freq, seconds, self.sr, self.rng), self.onset(step))
        return out


def _pattern_notes(pattern: str):
    """``(step, length_in_steps, symbol)`` for every note a pattern string starts."""
    for i, ch in enumerate(pattern):
        if ch in ".-":
            continue
        length = 1
        while i + length < len(pattern) and pattern[i + length] == "-":
            length += 1
        yield i, ch, length


def _mode(progression: str) -> str:
    """``"minor"`` when the progression starts on a lower-case (minor) numeral."""
    return "minor" if progression.split()[0].lstrip("b#")[0].islower() else "major"


def _parse_chord(symbol: str) -> tuple[int, tuple[int, ...]]:
    """``"bVII7"`` -> (semitones above the tonic, chord intervals)."""
    m = _NUMERAL.match(symbol)
    if not m:
        raise ValueError(f"not a roman-numeral chord: {symbol!r}")
    numeral, ext = m["num"], m["ext"] or ""
    degree = ["i", "ii", "iii", "iv", "v", "vi", "vii"].index(numeral.lower())
    root = _MAJOR_SCALE[degree] + {"b": -1, "#": 1, "": 0}[m["acc"]]
    minor = numeral.islower()
    if ext == "5":
        shape = _CHORD_SHAPES["5"]
    elif ext == "7":
        shape = _CHORD_SHAPES["m7" if minor else "7"]
    else:
        shape = _CHORD_SHAPES["maj7" if ext else "minor" if minor else "major"]
    return root, shape


def _master(x: np.ndarray, plan: Plan, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Room, tone (EQ), bus saturation, noise floor and a random final level."""
    wet_share = rng.uniform(0.15, 0.4)
    x = (1 - wet_share) * x + wet_share * reverb(x, plan.artist.room, sr, rng)
    x = butter_filter(x, min(plan.brightness_hz, 0.45 * sr), "lowpass", sr)
    x = butter_filter(x, rng.uniform(25, 80), "highpass", sr)
    x = x / (np.abs(x).max() + 1e-9)
    drive = plan.artist.master_drive * np.exp(rng.normal(0, 0.2))
    x = np.tanh(drive * x) / np.tanh(drive)
    noise = rng.normal(0, 1, len(x))
    if plan.style.vinyl:
        noise = butter_filter(noise, 3000, "lowpass", sr) * 8 + crackle(len(x), rng) * 30
    x = x + noise * 10 ** (plan.noise_db / 20)
    fade = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / (0.01 * sr))
    x = x * fade
    x = x / (np.abs(x).max() + 1e-9) * 10 ** (plan.level_db / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)
