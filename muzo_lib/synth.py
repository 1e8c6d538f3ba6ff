"""A procedural, genre-labelled music dataset: the course's built-in default.

Every track is rendered from numbers (numpy/scipy only, nothing downloaded) the way a
band plays: a drum pattern, a bass line and chords over a progression, sometimes a
melody, each voiced by a synthesised instrument (sine kicks and filtered-noise snares,
Karplus-Strong plucked strings, additive pianos and organs, waveshaped guitars), then
mixed, reverberated and mastered. Genres differ the way real ones do (tempo range,
groove, swing, instrumentation, distortion) while their ranges overlap, so no single
number such as tempo or loudness gives the genre away.

Each subgenre has a few synthetic *artists*: tracks by one artist share a signature
(tempo and key preference, instruments, drum kit, mix, room), as songs of one band do.
Splitting tracks at random therefore leaks artists from train to test, which is why
:func:`muzo_lib.datasets.make_split` groups by artist.

The pattern strings below use one character per 16th note (16 per 4/4 bar):

- drums: ``X`` accent, ``x`` hit, ``o`` ghost note, ``r`` a 32nd-note roll, ``.`` rest;
- bass: ``1``/``3``/``5``/``8`` play the chord's root/third/fifth/octave, ``w`` a walking
  note, ``-`` holds the previous note, ``.`` is silence;
- harmony: ``x`` strikes the chord, ``a`` the next note of an arpeggio, ``-`` and ``.``
  as for bass.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from joblib import Parallel, delayed
from scipy import signal

from .paths import project_path

#: Where notebooks and tests keep the generated dataset (relative to the project root).
DEFAULT_DATASET_DIR = "data/generated"
#: Bumped whenever the sound of a track changes, so stale datasets are regenerated.
SYNTH_VERSION = 1
PARAMS_FILE = "synth.json"
METADATA_COLUMNS = ["path", "artist", "genre", "subgenre", "tempo_bpm", "key", "seed", "artist_seed"]
PITCH_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
STEPS_PER_BAR = 16


@dataclass(frozen=True)
class Style:
    """How one subgenre is played. Ranges are ``(low, high)``; tuples of names are the
    choices an artist picks from (the first choices are the most typical)."""
    description: str
    tempo_bpm: tuple[float, float]
    progressions: tuple[str, ...]      # roman numerals, one chord per bar
    drums: tuple[str, ...]             # keys of DRUM_PATTERNS; () means no drums
    bass: tuple[str, ...]              # bass patterns (one bar each)
    bass_timbre: tuple[str, ...]
    harmony: tuple[str, ...]           # harmony patterns; one is drawn per bar
    harmony_timbre: tuple[str, ...]
    lead_timbre: tuple[str, ...] = ()  # () means no melody
    lead_density: float = 0.0          # chance of a melody note on each 8th note
    swing: tuple[float, float] = (0.0, 0.0)  # 0 straight .. 1 triplet feel
    swing_16ths: bool = False          # swing the 16th notes (hip-hop) instead of the 8ths
    drive: tuple[float, float] = (0.0, 0.0)  # guitar distortion gain (0 = clean)
    master_drive: tuple[float, float] = (0.5, 1.5)  # bus saturation: louder, denser mix
    room: tuple[float, float] = (0.2, 0.8)   # reverb time (s)
    humanize_ms: float = 6.0           # timing spread of each note
    vinyl: bool = False                # crackle and hiss of a sampled record


GENRES: dict[str, dict[str, Style]] = {
    "rock": {
        "punk": Style(
            "Fast, straight 8th-note power chords through a distorted amp, backbeat drums.",
            tempo_bpm=(150, 195), progressions=("I5 IV5 V5 IV5", "I5 V5 bVII5 IV5", "I5 bIII5 IV5 IV5"),
            drums=("rock_8ths", "punk_beat"), bass=("1-1-1-1-1-1-1-1-", "1-1-1-1-1-1-5-5-"),
            bass_timbre=("picked_bass",), harmony=("x-x-x-x-x-x-x-x-", "x-x-x-x-x-x-x.x."),
            harmony_timbre=("guitar",), drive=(6, 14), master_drive=(1.0, 2.5), room=(0.2, 0.6)),
        "metal": Style(
            "Palm-muted 16th-note chugs on low power chords, heavy distortion, blast beats "
            "or double kick.",
            tempo_bpm=(140, 200), progressions=("i5 bII5 i5 bVII5", "i5 bVI5 bVII5 i5", "i5 i5 bV5 iv5"),
            drums=("blast_beat", "double_kick"), bass=("1111111-1111111-", "1-1-1-1-1-1-1-1-"),
            bass_timbre=("picked_bass",), harmony=("xxxxxxx-x-xxxxx-", "x.xxx.xxx.xxx.x-"),
            harmony_timbre=("low_guitar",), drive=(14, 40), master_drive=(1.5, 3.0), room=(0.2, 0.7)),
    },
    "electronic": {
        "house": Style(
            "Four-on-the-floor kick, open hats on the off-beats, off-beat bass, chord stabs.",
            tempo_bpm=(118, 130), progressions=("vi IV I V", "i bVII bVI bVII", "i7 iv7 i7 v7"),
            drums=("four_on_the_floor",), bass=("..1-..1-..1-..1-", "..1-..1-..8-..1-"),
            bass_timbre=("sub", "reese"), harmony=("..x...x...x...x.", "x..x..x..x..x.x."),
            harmony_timbre=("supersaw", "organ", "electric_piano"),
            lead_timbre=("synth_lead",), lead_density=0.25, master_drive=(1.0, 2.5), room=(0.3, 1.0)),
        "drum_and_bass": Style(
            "Fast two-step breakbeat, long detuned 'reese' bass, wide pads.",
            tempo_bpm=(160, 178), progressions=("i bVI bVII i", "i iv i bVI", "i7 i7 iv7 bVI"),
            drums=("two_step",), bass=("1---------------", "1-------1---5---"),
            bass_timbre=("reese", "sub"), harmony=("x---------------",),
            harmony_timbre=("supersaw", "strings"), lead_timbre=("bell", "synth_lead"), lead_density=0.2,
            master_drive=(1.0, 2.5), room=(0.5, 1.5)),
    },
    "hiphop": {
        "boom_bap": Style(
            "Swung 16ths, heavy kick and snare, a looped jazzy piano sample with record crackle.",
            tempo_bpm=(84, 98), progressions=("ii7 V7 Imaj7 vi7", "i7 iv7 i7 iv7", "Imaj7 IVmaj7 iii7 vi7"),
            drums=("boom_bap",), bass=("1-----.1--1-----", "1-----5---1---.."),
            bass_timbre=("sub", "upright_bass"), harmony=("x-----x---x-----", "x-------..x-----"),
            harmony_timbre=("electric_piano", "piano"), swing=(0.3, 0.7), swing_16ths=True,
            master_drive=(0.8, 2.0), room=(0.2, 0.6), humanize_ms=8.0, vinyl=True),
        "trap": Style(
            "Half-time claps, rolling hi-hats, long gliding 808 bass, dark pads and bells.",
            tempo_bpm=(130, 160), progressions=("i bVI i bVII", "i iv bVI v", "i i bII i"),
            drums=("trap",), bass=("1-----1---1-----", "1---------1---8-"),
            bass_timbre=("808",), harmony=("x---------------",),
            harmony_timbre=("strings", "supersaw"), lead_timbre=("bell",), lead_density=0.3,
            master_drive=(1.0, 2.5), room=(0.3, 1.0), humanize_ms=2.0),
    },
    "jazz": {
        "swing": Style(
            "Swung ride cymbal, walking upright bass, syncopated piano comping on 7th chords, a horn.",
            tempo_bpm=(110, 190), progressions=("ii7 V7 Imaj7 Imaj7", "Imaj7 vi7 ii7 V7", "i7 iv7 bVII7 bIIImaj7"),
            drums=("swing_ride",), bass=("w---w---w---w---",), bass_timbre=("upright_bass",),
            harmony=("...x-.....x-....", "x-.....x-...x-..", "......x-..x-...."),
            harmony_timbre=("piano", "electric_piano"), lead_timbre=("horn",), lead_density=0.45,
            swing=(0.6, 1.0), master_drive=(0.3, 0.9), room=(0.4, 1.2), humanize_ms=10.0),
        "bossa_nova": Style(
            "Gentle cross-stick clave, nylon-string guitar on syncopated chords, root-fifth bass, flute.",
            tempo_bpm=(115, 145), progressions=("Imaj7 ii7 V7 Imaj7", "ii7 V7 Imaj7 IVmaj7", "i7 iv7 V7 i7"),
            drums=("bossa",), bass=("1-----5-1-----5-",), bass_timbre=("upright_bass",),
            harmony=("x--x--x---x--x--", "x--x---x--x--x--"), harmony_timbre=("nylon_guitar",),
            lead_timbre=("flute", "horn"), lead_density=0.3, master_drive=(0.3, 0.9), room=(0.3, 1.0)),
    },
    "reggae": {
        "roots": Style(
            "One-drop drums (kick and rim on beat 3), off-beat organ and guitar skank, deep melodic bass.",
            tempo_bpm=(66, 90), progressions=("i iv i iv", "I IV V IV", "i i bVII bVII"),
            drums=("one_drop",), bass=("1---..1-5-..8-5-", "1-----5-..3-1---"),
            bass_timbre=("sub", "picked_bass"), harmony=("....x.......x...", "....x-......x-.."),
            harmony_timbre=("clean_guitar", "organ"), lead_timbre=("horn", "organ"), lead_density=0.15,
            swing=(0.2, 0.6), master_drive=(0.6, 1.5), room=(0.4, 1.5), humanize_ms=8.0),
        "ska": Style(
            "Up-tempo backbeat, guitar chops on every off-beat, walking bass, brass melody.",
            tempo_bpm=(130, 175), progressions=("I IV V IV", "I vi ii V", "I IV I V"),
            drums=("ska",), bass=("w---w---w---w---", "1---5---1---5---"),
            bass_timbre=("picked_bass", "upright_bass"), harmony=("..x...x...x...x.",),
            harmony_timbre=("clean_guitar", "organ"), lead_timbre=("horn",), lead_density=0.35,
            swing=(0.0, 0.3), master_drive=(0.6, 1.5), room=(0.3, 1.0)),
    },
    "classical": {
        "baroque": Style(
            "No drums: running 16th-note harpsichord arpeggios over a continuo bass, a violin line.",
            tempo_bpm=(72, 120), progressions=("I IV V I", "i iv V i", "I vi IV V"),
            drums=(), bass=("1-------5-------", "1---5---8---5---"), bass_timbre=("cello",),
            harmony=("aaaaaaaaaaaaaaaa", "a-a-a-a-a-a-a-a-"), harmony_timbre=("harpsichord",),
            lead_timbre=("violin", "flute"), lead_density=0.6, master_drive=(0.2, 0.6),
            room=(1.0, 2.5), humanize_ms=12.0),
        "romantic": Style(
            "No drums: slow, sustained piano chords and arpeggios under a singing string melody.",
            tempo_bpm=(60, 100), progressions=("I vi IV V", "i bVI iv V", "I iii IV V"),
            drums=(), bass=("1---------------", "1-------5-------"), bass_timbre=("piano", "cello"),
            harmony=("a-a-a-a-a-a-a-a-", "x---------------", "x-------x-------"),
            harmony_timbre=("piano", "strings"), lead_timbre=("violin", "piano"), lead_density=0.4,
            master_drive=(0.2, 0.6), room=(1.0, 3.0), humanize_ms=20.0),
    },
}

#: One bar (or two) of 16th-note steps per drum. Velocities: X 1.0, x 0.7, o 0.3, r roll.
DRUM_PATTERNS: dict[str, dict[str, str]] = {
    "rock_8ths": {"kick": "x.....x.x.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "punk_beat": {"kick": "x.x.x.x.x.x.x.x.", "snare": "....X.......X...", "ride": "X.x.X.x.X.x.X.x."},
    "blast_beat": {"kick": "x.x.x.x.x.x.x.x.", "snare": ".x.x.x.x.x.x.x.x", "ride": "x.x.x.x.x.x.x.x."},
    "double_kick": {"kick": "xxxxxxxxxxxxxxxx", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "four_on_the_floor": {"kick": "X...X...X...X...", "clap": "....x.......x...",
                          "hat": "x.o.x.o.x.o.x.o.", "open_hat": "..x...x...x...x."},
    "two_step": {"kick": "X.........x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x.",
                 "ride": "..o...o...o...o."},
    "boom_bap": {"kick": "X.........x.x...", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "trap": {"kick": "X.....x...x.....X.........x.x...", "clap": "........X...............X.......",
             "hat": "x.x.x.xrx.x.x.x.x.x.xrx.x.rrx.x."},
    "swing_ride": {"ride": "x...x.x.x...x.x.", "hat": "....x.......x...", "kick": "o...o...o...o...",
                   "snare": "......o.......o."},
    "bossa": {"rim": "x..x..x...x..x..x..x...x..x..x..", "kick": "x..xx..xx..xx..xx..xx..xx..xx..x",
              "hat": "xoxoxoxoxoxoxoxoxoxoxoxoxoxoxoxo"},
    "one_drop": {"kick": "........X.......", "rim": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
    "ska": {"kick": "x.......x.......", "snare": "....x.......x...", "open_hat": "..x...x...x...x.",
            "hat": "x...x...x...x..."},
}

_VELOCITY = {"X": 1.0, "x": 0.7, "o": 0.3, "r": 0.5}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)
_NUMERAL = re.compile(r"(?P<acc>[b#]?)(?P<num>vii|VII|iii|III|vi|VI|iv|IV|ii|II|v|V|i|I)(?P<ext>maj7|7|5)?$")
_CHORD_SHAPES = {"major": (0, 4, 7), "minor": (0, 3, 7), "5": (0, 7, 12), "7": (0, 4, 7, 10),
                 "m7": (0, 3, 7, 10), "maj7": (0, 4, 7, 11)}


# ---------------------------------------------------------------- public API

def render_track(genre: str, subgenre: str, seed: int = 0, duration: float = 10.0,
                 sample_rate: int = 22050, artist_seed: int | None = None) -> np.ndarray:
    """Render one track in memory, for listening in a notebook without writing files.

    Args:
        genre, subgenre: a style of :data:`GENRES` (``"reggae"``, ``"roots"``).
        seed: the track's seed; the same arguments give the same samples.
        duration: length in seconds.
        sample_rate: in Hz.
        artist_seed: the artist's seed; tracks sharing it share tempo and key preference,
            instruments, drum kit and mix. ``None``: the track is its own artist.

    Returns:
        ``np.ndarray`` of shape ``(round(duration * sample_rate),)``, float32 in [-1, 1],
        peak-normalised to a random level between -9 and -0.5 dBFS.

    Example:
        >>> from IPython.display import Audio
        >>> Audio(render_track("jazz", "swing", seed=3), rate=22050)  # doctest: +SKIP
    """
    audio, _ = _render(_style(genre, subgenre), seed, artist_seed, duration, sample_rate)
    return audio


def generate_dataset(root: str | os.PathLike, tracks_per_subgenre: int = 9, duration: float = 10.0,
                     sample_rate: int = 22050, seed: int = 0, genres=None,
                     artists_per_subgenre: int = 3, overwrite: bool = False, n_jobs: int = -1) -> Path:
    """Write the synthetic dataset as ``<root>/<genre>/<subgenre>/<track>.wav`` + ``metadata.csv``.

    The defaults (6 genres x 2 subgenres x 9 tracks of 10 s = 108 tracks, 6 artists
    per genre) keep the CPU course fast and leave enough artists for an artist-grouped
    train/valid/test split. Files are 16-bit PCM mono WAV; the same arguments give
    byte-identical files.

    Args:
        root: dataset folder; relative paths are taken as given (see
            :func:`ensure_generated_dataset` for project-relative ones).
        tracks_per_subgenre: tracks per subgenre, dealt round-robin to the artists.
        duration: track length in seconds.
        sample_rate: in Hz.
        seed: dataset seed; every track and artist seed derives from it and from names,
            so a larger dataset contains the tracks of a smaller one.
        genres: genre names from :data:`GENRES` to include; ``None`` for all.
        artists_per_subgenre: synthetic artists per subgenre.
        overwrite: replace a generated dataset made with other parameters.
        n_jobs: parallel threads (joblib; numpy and scipy release the GIL, and threads
            start at once where processes take seconds); the output does not depend on it.

    Returns:
        The dataset folder. If it already holds a complete dataset made with the same
        parameters (recorded in ``synth.json``), it is returned at once.

    Raises:
        ValueError: ``root`` holds a dataset made with other parameters and ``overwrite``
            is False, or holds files that are not a generated dataset.
    """
    root = Path(root).expanduser()
    params = _dataset_params(tracks_per_subgenre, duration, sample_rate, seed, genres,
                             artists_per_subgenre)
    if _read_params(root) == params:
        return root
    _check_replaceable(root, overwrite)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".partial"))
    try:
        _write_dataset(staging, params, n_jobs)
        return _move_into_place(staging, root, params)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_generated_dataset(root: str | os.PathLike | None = None, **kwargs) -> Path:
    """The generated dataset under the project root, made on first use.

    This is what a notebook calls when its ``data_dir`` parameter is empty.

    Args:
        root: dataset folder (relative to the current directory); default: the project's
            :data:`DEFAULT_DATASET_DIR`.
        **kwargs: passed to :func:`generate_dataset`.

    Returns:
        The absolute dataset folder.
    """
    return generate_dataset(Path(root).expanduser() if root else project_path(DEFAULT_DATASET_DIR), **kwargs)


# ---------------------------------------------------------------- dataset files

def _dataset_params(tracks_per_subgenre, duration, sample_rate, seed, genres, artists_per_subgenre) -> dict:
    names = list(GENRES) if genres is None else list(genres)
    unknown = [g for g in names if g not in GENRES]
    if unknown:
        raise ValueError(f"unknown genre(s) {unknown}; choose from {list(GENRES)}")
    if len(names) < 2 or tracks_per_subgenre < 1 or artists_per_subgenre < 1 or duration <= 0:
        raise ValueError("need at least two genres, one track and one artist per subgenre, "
                         "and a positive duration")
    return dict(synth_version=SYNTH_VERSION, tracks_per_subgenre=int(tracks_per_subgenre),
                duration=float(duration), sample_rate=int(sample_rate), seed=int(seed),
                genres=names, artists_per_subgenre=int(artists_per_subgenre))


def _read_params(root: Path) -> dict | None:
    try:
        return json.loads((root / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None


def _check_replaceable(root: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an empty folder or, with ``overwrite``, a generated dataset."""
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return
    if _read_params(root) is None:
        raise ValueError(f"{root} exists and is not a generated dataset (no {PARAMS_FILE}); "
                         "choose another folder")
    if not overwrite:
        raise ValueError(f"{root} holds a generated dataset made with other parameters "
                         f"({root / PARAMS_FILE}); pass overwrite=True or choose another folder")


def _move_into_place(staging: Path, root: Path, params: dict) -> Path:
    """Swap the finished dataset in with renames, so ``root`` is never half written."""
    if root.exists():
        old = staging.with_suffix(".old")
        root.rename(old)
        shutil.rmtree(old)
    try:
        staging.rename(root)
    except OSError:
        if _read_params(root) != params:  # another process finished the same dataset first
            raise
    return root


def _track_list(params: dict) -> list[dict]:
    tracks = []
    for genre in params["genres"]:
        for subgenre in GENRES[genre]:
            for i in range(params["tracks_per_subgenre"]):
                artist = i % params["artists_per_subgenre"]
                tracks.append(dict(
                    path=f"{genre}/{subgenre}/{genre}_{subgenre}_{i:03d}.wav",
                    artist=f"{genre}_{subgenre}_artist{artist + 1}", genre=genre, subgenre=subgenre,
                    seed=_derive_seed(params["seed"], genre, subgenre, "track", i),
                    artist_seed=_derive_seed(params["seed"], genre, subgenre, "artist", artist)))
    return tracks


def _write_dataset(folder: Path, params: dict, n_jobs: int) -> None:
    tracks = _track_list(params)
    jobs = (delayed(_write_track)(folder, t, params["duration"], params["sample_rate"]) for t in tracks)
    facts = Parallel(n_jobs=n_jobs, prefer="threads")(jobs)
    rows = [{**t, **f} for t, f in zip(tracks, facts)]
    pd.DataFrame(rows, columns=METADATA_COLUMNS).to_csv(folder / "metadata.csv", index=False)
    (folder / PARAMS_FILE).write_text(json.dumps(params, indent=2) + "\n")  # last: marks it complete


def _write_track(folder: Path, track: dict, duration: float, sample_rate: int) -> dict:
    style = _style(track["genre"], track["subgenre"])
    audio, facts = _render(style, track["seed"], track["artist_seed"], duration, sample_rate)
    path = folder / track["path"]
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.round(audio * 32767).astype(np.int16)
    sf.write(str(path), pcm, sample_rate, subtype="PCM_16", format="WAV")
    return facts


def _derive_seed(seed: int, *names) -> int:
    """A seed from the dataset seed and names, stable across runs and processes."""
    entropy = [int(seed)] + [zlib.crc32(str(n).encode()) for n in names]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _style(genre: str, subgenre: str) -> Style:
    try:
        return GENRES[genre][subgenre]
    except KeyError:
        raise ValueError(f"unknown style {genre}/{subgenre}; see muzo_lib.synth.GENRES") from None


# ---------------------------------------------------------------- artist and track plans

@dataclass(frozen=True)
class _Artist:
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


def _make_artist(style: Style, rng: np.random.Generator) -> _Artist:
    def pick(options):
        return options[int(rng.integers(len(options)))] if options else ""

    return _Artist(
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
class _Plan:
    """One track: the artist's signature varied a little, plus the track's own choices."""
    artist: _Artist
    style: Style
    tempo_bpm: float
    tonic: int
    progression: str
    mix_db: tuple[float, ...]
    brightness_hz: float
    level_db: float
    noise_db: float


def _make_plan(style: Style, rng: np.random.Generator, artist: _Artist) -> _Plan:
    lo, hi = style.tempo_bpm
    tempo = float(np.clip(artist.tempo_bpm * np.exp(rng.normal(0, 0.04)), lo, hi))
    tonic = artist.keys[int(rng.integers(2))] if rng.random() < 0.8 else int(rng.integers(12))
    progression = artist.progression if rng.random() < 0.7 else style.progressions[int(rng.integers(len(style.progressions)))]
    return _Plan(artist=artist, style=style, tempo_bpm=round(tempo, 1), tonic=tonic, progression=progression,
                 mix_db=tuple(float(m) for m in np.add(artist.mix_db, rng.normal(0, 1.5, 4))),
                 brightness_hz=artist.brightness_hz * float(np.exp(rng.normal(0, 0.25))),
                 level_db=float(rng.uniform(-9, -0.5)), noise_db=float(rng.uniform(-75, -45)))


def _render(style: Style, seed: int, artist_seed: int | None, duration: float,
            sample_rate: int) -> tuple[np.ndarray, dict]:
    """The track's samples and the facts for ``metadata.csv`` (tempo and key)."""
    rng = np.random.default_rng(seed)
    artist = _make_artist(style, np.random.default_rng(seed if artist_seed is None else artist_seed))
    plan = _make_plan(style, rng, artist)
    n_out = int(round(duration * sample_rate))
    bar_s = 4 * 60.0 / plan.tempo_bpm
    n_bars = int(np.ceil(duration / bar_s)) + 2
    song = _Song(plan, sample_rate, n_bars, rng)
    mix = song.mix()
    start = int(rng.uniform(0, bar_s) * sample_rate)  # an excerpt, not always from a downbeat
    audio = _master(mix[start:start + n_out], plan, sample_rate, rng)
    return audio, {"tempo_bpm": plan.tempo_bpm, "key": f"{PITCH_NAMES[plan.tonic]} {_mode(plan.progression)}"}


# ---------------------------------------------------------------- the band

class _Song:
    """Renders the four parts of one track into sample buffers and mixes them."""

    def __init__(self, plan: _Plan, sr: int, n_bars: int, rng: np.random.Generator):
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
        kit = _drum_kit(self.plan.artist.kit, self.sr, self.rng)
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
        return self.play(notes, timbre, _REGISTER[timbre])

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
        out = self.play(notes, timbre, _REGISTER[timbre])
        if self.plan.artist.drive > 0:
            out = _amp(out, self.plan.artist.drive, self.sr)
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
        return self.play(notes, timbre, _REGISTER[timbre])

    def play(self, notes, timbre: str, low_midi: int) -> np.ndarray:
        """Render ``(step, length_steps, semitones_above_tonic, velocity)`` notes with ``timbre``."""
        out = np.zeros(self.n)
        synth = _TIMBRES[timbre]
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


# ---------------------------------------------------------------- instruments

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
    out = _filter(out, cutoff_hz, "lowpass", sr)
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
    breath = _filter(rng.normal(0, 0.05, len(tone)), min(3 * f, 0.45 * sr), "lowpass", sr)
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


_TIMBRES = {
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
_REGISTER = {
    "piano": 55, "electric_piano": 55, "organ": 60, "strings": 55, "violin": 67, "cello": 36,
    "horn": 62, "flute": 72, "bell": 72, "synth_lead": 67, "sub": 33, "808": 30, "supersaw": 55,
    "reese": 33, "guitar": 45, "low_guitar": 38, "clean_guitar": 57, "nylon_guitar": 50,
    "harpsichord": 60, "picked_bass": 33, "upright_bass": 33,
}


def _drum_kit(kit: tuple[float, ...], sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot drum sounds from sines and filtered noise, tuned by the artist's kit."""
    kick_hz, kick_decay, snare_hz, snare_decay, hat_cutoff = kit

    def noise(seconds, cutoff, kind, decay):
        n = int(seconds * sr)
        return _filter(rng.uniform(-1, 1, n), cutoff, kind, sr) * _envelope(n, sr, 0.0005, decay, 0.005)

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
        "rim": _layer(tone(0.08, 900, 800, 0.01, 0.015), 0.4 * noise(0.05, (1500, 4000), "bandpass", 0.01)),
    }


def _layer(*sounds: np.ndarray) -> np.ndarray:
    """Sum sounds of different lengths, all starting together."""
    out = np.zeros(max(len(s) for s in sounds))
    for s in sounds:
        out[:len(s)] += s
    return out


# ---------------------------------------------------------------- studio

def _filter(x: np.ndarray, cutoff, kind: str, sr: int, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, cutoff, btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x)


def _amp(x: np.ndarray, drive: float, sr: int) -> np.ndarray:
    """A distorted guitar amp: waveshaping (tanh) then a speaker cabinet's low-pass."""
    x = x / (np.abs(x).max() + 1e-9)
    return _filter(np.tanh(drive * _filter(x, 150, "highpass", sr)), min(4500, 0.45 * sr), "lowpass", sr, 4)


def _reverb(x: np.ndarray, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A room: convolution with exponentially decaying noise (``seconds`` is the -60 dB time)."""
    n = int(seconds * sr)
    impulse = rng.normal(0, 1, n) * np.exp(-6.9 * np.arange(n) / n)
    impulse = _filter(impulse, min(5000, 0.45 * sr), "lowpass", sr)
    wet = signal.fftconvolve(x, impulse)[:len(x)]
    return wet / (np.sqrt(np.mean(wet ** 2)) + 1e-9) * np.sqrt(np.mean(x ** 2))


def _master(x: np.ndarray, plan: _Plan, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Room, tone (EQ), bus saturation, noise floor and a random final level."""
    wet_share = rng.uniform(0.15, 0.4)
    x = (1 - wet_share) * x + wet_share * _reverb(x, plan.artist.room, sr, rng)
    x = _filter(x, min(plan.brightness_hz, 0.45 * sr), "lowpass", sr)
    x = _filter(x, rng.uniform(25, 80), "highpass", sr)
    x = x / (np.abs(x).max() + 1e-9)
    drive = plan.artist.master_drive * np.exp(rng.normal(0, 0.2))
    x = np.tanh(drive * x) / np.tanh(drive)
    noise = rng.normal(0, 1, len(x))
    if plan.style.vinyl:
        noise = _filter(noise, 3000, "lowpass", sr) * 8 + _crackle(len(x), rng) * 30
    x = x + noise * 10 ** (plan.noise_db / 20)
    fade = np.minimum(1.0, np.minimum(np.arange(len(x)), np.arange(len(x))[::-1]) / (0.01 * sr))
    x = x * fade
    x = x / (np.abs(x).max() + 1e-9) * 10 ** (plan.level_db / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _crackle(n: int, rng: np.random.Generator) -> np.ndarray:
    """Sparse clicks of a dusty record."""
    clicks = np.zeros(n)
    where = rng.integers(0, n, size=max(1, n // 2000))
    clicks[where] = rng.uniform(-1, 1, len(where))
    return clicks
