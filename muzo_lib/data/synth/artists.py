"""Synthetic artists and per-track plans, and the seeds they grow from.

Each subgenre has a few synthetic *artists*: tracks by one artist share a signature
(tempo and key preference, instruments, drum kit, mix, room), as songs of one band do.
Splitting tracks at random therefore leaks artists from train to test, which is why
:func:`muzo_lib.data.datasets.make_split` groups by artist.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .styles import Style


def derive_seed(seed: int, *names) -> int:
    """A seed from the dataset seed and names, stable across runs and processes."""
    entropy = [int(seed)] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@dataclass(frozen=True)
class Artist:
    """What all tracks of one artist share."""
    tempo_bpm: float
    keys: tuple[int, ...]
    progression: str
    drums: str
    bass: str
    bass_timbre: str
    harmony_timbre: str
    lead_timbre: str
    swing: float
    drive: float
    master_drive: float
    room: float
    brightness_hz: float
    mix_db: tuple[float, float, float, float]  # drums, bass, harmony, lead
    kit: tuple[float, ...]  # kick Hz, kick decay s, snare Hz, snare decay s, hat cutoff Hz


def make_artist(style: Style, rng: np.random.Generator) -> Artist:
    """Draw one artist of ``style``: each range drawn uniformly, each choice at random."""
    def pick(options):
        return options[int(rng.integers(len(options)))] if options else ""

    return Artist(
        tempo_bpm=float(rng.uniform(*style.tempo_bpm)),
        keys=tuple(int(k) for k in rng.choice(12, size=2, replace=False)),
        progression=pick(style.progressions), drums=pick(style.drums), bass=pick(style.bass),
        bass_timbre=pick(style.bass_timbre), harmony_timbre=pick(style.harmony_timbre),
        lead_timbre=pick(style.lead_timbre), swing=float(rng.uniform(*style.swing)),
        drive=float(rng.uniform(*style.drive)), master_drive=float(rng.uniform(*style.master_drive)),
        room=float(rng.uniform(*style.room)), brightness_hz=float(np.exp(rng.uniform(np.log(2500), np.log(9000)))),
        mix_db=tuple(float(x) for x in rng.normal(0, 3, 4)),
        kit=(rng.uniform(45, 70), rng.uniform(0.15, 0.5), rng.uniform(160, 260), rng.uniform(0.08, 0.25),
             rng.uniform(6000, 9500)))


@dataclass(frozen=True)
class Plan:
    """One track: the artist's signature varied a little, plus the track's own choices."""
    artist: Artist
    style: Style
    tempo_bpm: float
    tonic: int
    progression: str
    mix_db: tuple[float, ...]
    brightness_hz: float
    level_db: float
    noise_db: float


def make_plan(style: Style, rng: np.random.Generator, artist: Artist) -> Plan:
    """Draw one track of ``artist``: their tempo with a 4 % log-normal spread (clipped to the style's range),
    one of their two keys 80 % of the time, their progression 70 % of the time."""
    lo, hi = style.tempo_bpm
    tempo = float(np.clip(artist.tempo_bpm * np.exp(rng.normal(0, 0.04)), lo, hi))
    tonic = artist.keys[int(rng.integers(2))] if rng.random() < 0.8 else int(rng.integers(12))
    progression = artist.progression if rng.random() < 0.7 else style.progressions[int(rng.integers(len(style.progressions)))]
    return Plan(artist=artist, style=style, tempo_bpm=round(tempo, 1), tonic=tonic, progression=progression,
                mix_db=tuple(float(m) for m in np.add(artist.mix_db, rng.normal(0, 1.5, 4))),
                brightness_hz=artist.brightness_hz * float(np.exp(rng.normal(0, 0.25))),
                level_db=float(rng.uniform(-9, -0.5)), noise_db=float(rng.uniform(-75, -45)))
