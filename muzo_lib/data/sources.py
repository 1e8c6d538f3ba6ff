"""Where each dataset ``muzo data`` knows comes from, and the checksum its publisher gives.

Every checksum here is the publisher's (or, for GTZAN, whose original host is gone, the one
the mirdata loaders verify against), with where it was read in a comment; tests never edit
these constants, they pass their own archives' checksums instead.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """One downloadable archive of one dataset."""
    name: str                  # the ``muzo data NAME`` it answers
    url: str                   # "" where no live source is known (GTZAN): ``--from`` only
    filename: str              # the archive's own name, as its publisher ships it
    algorithm: str             # hashlib name of the published checksum ("sha1", "md5")
    checksum: str
    checksum_source: str       # where the checksum was published, for the manifest and README
    default_dest: str          # relative to the current folder, like every library path
    layout: str                # "gtzan", "fma-audio" or "fma-metadata": how the archive is laid out
    size: str = ""             # as the publisher states it, for messages


# FMA: SHA1s from the README of https://github.com/mdeff/fma ("Usage" step 1 and "History",
# 2017-05-09 pre-publication release), the archives hosted at os.unil.cloud.switch.ch/fma/.
_FMA_README = "github.com/mdeff/fma README (SHA1 of the 2017-05-09 release)"
_FMA_HOST = "https://os.unil.cloud.switch.ch/fma/"

# GTZAN: MD5 of genres.tar.gz from mirdata's loader (mirdata/datasets/gtzan_genre.py, REMOTES["all"],
# github.com/mir-dataset-loaders/mirdata); its url there, opihi.cs.uvic.ca/sound/genres.tar.gz, is dead.
_GTZAN_MIRDATA = "mirdata gtzan_genre loader (REMOTES['all'], MD5 of genres.tar.gz)"

SOURCES: dict[str, Source] = {
    "gtzan": Source(
        name="gtzan", url="", filename="genres.tar.gz", algorithm="md5",
        checksum="5b3d6dddb579ab49814ab86dba69e7c7", checksum_source=_GTZAN_MIRDATA,
        default_dest="data/gtzan", layout="gtzan", size="1.2 GB"),
    "fma-metadata": Source(
        name="fma-metadata", url=_FMA_HOST + "fma_metadata.zip", filename="fma_metadata.zip", algorithm="sha1",
        checksum="f0df49ffe5f2a6008d7dc83c6915b31835dfe733", checksum_source=_FMA_README,
        default_dest="data/fma_metadata", layout="fma-metadata", size="342 MiB"),
    "fma-small": Source(
        name="fma-small", url=_FMA_HOST + "fma_small.zip", filename="fma_small.zip", algorithm="sha1",
        checksum="ade154f733639d52e35e32f5593efe5be76c6d70", checksum_source=_FMA_README,
        default_dest="data/fma_small", layout="fma-audio", size="7.2 GiB"),
    "fma-medium": Source(
        name="fma-medium", url=_FMA_HOST + "fma_medium.zip", filename="fma_medium.zip", algorithm="sha1",
        checksum="c67b69ea232021025fca9231fc1c7c1a063ab50b", checksum_source=_FMA_README,
        default_dest="data/fma_medium", layout="fma-audio", size="22 GiB"),
}


def source(name: str) -> Source:
    """The :class:`Source` called ``name``; a one-line ``ValueError`` naming the known ones otherwise."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; muzo data knows {', '.join(SOURCES)}") from None
