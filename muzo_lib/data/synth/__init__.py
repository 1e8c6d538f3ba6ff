"""A procedural, genre-labelled music dataset: the course's built-in default.

Every track is rendered from numbers (numpy/scipy only, nothing downloaded) the way a
band plays: a drum pattern, a bass line and chords over a progression, sometimes a
melody, each voiced by a synthesised instrument (sine kicks and filtered-noise snares,
Karplus-Strong plucked strings, additive pianos and organs, waveshaped guitars), then
mixed, reverberated and mastered. Genres differ the way real ones do (tempo range,
groove, swing, instrumentation, distortion) while their ranges overlap, so no single
number such as tempo or loudness gives the genre away.

Each subgenre has a few synthetic *artists* whose tracks share a signature, so a random
split leaks artists (see :func:`muzo_lib.data.datasets.make_split`).

The modules, each importing only those above it:

- :mod:`.styles`: :class:`Style`, the :data:`GENRES` table and the drum patterns;
- :mod:`.instruments`: voices, timbres, the drum kit, filters and effects;
- :mod:`.artists`: synthetic artists, per-track plans, seed derivation;
- :mod:`.sequencer`: plays a plan (patterns, chords, the band), mixes and masters it;
- :mod:`.dataset`: :func:`render_track`, :func:`generate_dataset`,
  :func:`ensure_generated_dataset` (idempotent, atomic writing).
"""
from __future__ import annotations

from .dataset import (
    DEFAULT_DATASET_DIR,
    METADATA_COLUMNS,
    MIN_SAMPLE_RATE,
    PARAMS_FILE,
    SYNTH_VERSION,
    ensure_generated_dataset,
    generate_dataset,
    render_track,
)
from .styles import DRUM_PATTERNS, GENRES, GROOVE_TWINS, PITCH_NAMES, STEPS_PER_BAR, Style

__all__ = ["DEFAULT_DATASET_DIR", "DRUM_PATTERNS", "GENRES", "GROOVE_TWINS", "METADATA_COLUMNS", "MIN_SAMPLE_RATE",
           "PARAMS_FILE", "PITCH_NAMES", "STEPS_PER_BAR", "SYNTH_VERSION", "Style", "ensure_generated_dataset",
           "generate_dataset", "render_track"]
