"""How each subgenre is played: the :class:`Style` table and the drum patterns.

Genres differ the way real ones do (tempo range, groove, swing, instrumentation,
distortion) while their ranges overlap, so no single number such as tempo or loudness
gives the genre away.

Most subgenres of a genre differ in sound as well as in groove (punk and metal: tempo,
distortion, riffs). Two pairs are *groove twins*: house / uk_garage and roots / rockers
share their band (instruments, tempo range, swing, mix) and differ only in where the
kick falls, relative to the clap or rim. Averages over a track (the hand-made
descriptors of notebook 02) barely change with that; the order of events in time, which
a network reading the spectrogram sees, does.

The pattern strings below use one character per 16th note (16 per 4/4 bar):

- drums: ``X`` accent, ``x`` hit, ``o`` ghost note, ``r`` a 32nd-note roll, ``.`` rest;
- bass: ``1``/``3``/``5``/``8`` play the chord's root/third/fifth/octave, ``w`` a walking
  note, ``-`` holds the previous note, ``.`` is silence;
- harmony: ``x`` strikes the chord, ``a`` the next note of an arpeggio, ``-`` and ``.``
  as for bass.
"""
from __future__ import annotations

from dataclasses import dataclass

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


# Groove twins: house / uk_garage and roots / rockers share their band (instruments, tempo
# range, swing, mix); only where the kick falls differs, which per-track averages barely see.
GROOVE_TWINS: dict[str, tuple[str, str]] = {"electronic": ("house", "uk_garage"), "reggae": ("roots", "rockers")}
HOUSE_BAND = dict(
    tempo_bpm=(120.0, 134.0), progressions=("vi IV I V", "i bVII bVI bVII", "i7 iv7 i7 v7"),
    bass_timbre=("sub", "reese"), harmony_timbre=("supersaw", "organ", "electric_piano"),
    lead_timbre=("synth_lead",), lead_density=0.25, swing=(0.0, 0.3), swing_16ths=True,
    master_drive=(1.0, 2.5), room=(0.3, 1.0))
REGGAE_BAND = dict(
    tempo_bpm=(66, 90), progressions=("i iv i iv", "I IV V IV", "i i bVII bVII"),
    bass=("1---..1-5-..8-5-", "1-----5-..3-1---"), bass_timbre=("sub", "picked_bass"),
    harmony=("....x.......x...", "....x-......x-.."), harmony_timbre=("clean_guitar", "organ"),
    lead_timbre=("horn", "organ"), lead_density=0.15, swing=(0.2, 0.6), master_drive=(0.6, 1.5),
    room=(0.4, 1.5), humanize_ms=8.0)

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
            "Four-on-the-floor kick (kick and clap together on beats 2 and 4), open hats on the "
            "off-beats, off-beat bass, chord stabs.",
            **HOUSE_BAND, drums=("four_on_the_floor",), bass=("..1-..1-..1-..1-", "..1-..1-..8-..1-"),
            harmony=("..x...x...x...x.", "x..x..x..x..x.x.")),
        "uk_garage": Style(
            "House's band and tempo with a two-step kick: four kicks a bar that skip beats 2 and 4, "
            "so no kick lands with the clap; the bass follows the kick.",
            **HOUSE_BAND, drums=("two_step",), bass=("1-....1-..1-..1-", "1-....1-..8-..1-"),
            harmony=("...x..x....x..x.", ".x..x..x..x..x.x")),
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
            "One-drop drums: the only kick falls on beat 3, with the rim; off-beat organ and guitar "
            "skank, deep melodic bass.",
            **REGGAE_BAND, drums=("one_drop",)),
        "rockers": Style(
            "Roots' band and tempo with rockers drums: a kick on beat 1 as well as on beat 3, so "
            "every bar is pushed from its downbeat.",
            **REGGAE_BAND, drums=("rockers",)),
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
    "two_step": {"kick": "X.....X...X...X.", "clap": "....x.......x...",
                 "hat": "x.o.x.o.x.o.x.o.", "open_hat": "..x...x...x...x."},
    "boom_bap": {"kick": "X.........x.x...", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    "trap": {"kick": "X.....x...x.....X.........x.x...", "clap": "........X...............X.......",
             "hat": "x.x.x.xrx.x.x.x.x.x.xrx.x.rrx.x."},
    "swing_ride": {"ride": "x...x.x.x...x.x.", "hat": "....x.......x...", "kick": "o...o...o...o...",
                   "snare": "......o.......o."},
    "bossa": {"rim": "x..x..x...x..x..x..x...x..x..x..", "kick": "x..xx..xx..xx..xx..xx..xx..xx..x",
              "hat": "xoxoxoxoxoxoxoxoxoxoxoxoxoxoxoxo"},
    "one_drop": {"kick": "........X.......", "rim": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
    "rockers": {"kick": "X.......X.......", "rim": "........x.......", "hat": "x.x.x.x.x.x.x.x."},
}


def get_style(genre: str, subgenre: str) -> Style:
    """The :class:`Style` of ``genre/subgenre``; a one-line ``ValueError`` for an unknown one."""
    try:
        return GENRES[genre][subgenre]
    except KeyError:
        raise ValueError(f"unknown style {genre}/{subgenre}; see muzo_lib.data.synth.GENRES") from None
