"""Test doubles for ``muzo data``: a loopback HTTP server with Range support, and small archives
built in GTZAN's and FMA's real layouts from short generated audio (nothing reaches the network).

FMA's audio is real MP3 (libsndfile >= 1.1 writes it through soundfile), GTZAN's is WAV as in
Kaggle's copy and the tests' other fixtures.
"""
from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from tests.helpers import tone


def digest(path: Path, algorithm: str = "sha1") -> str:
    return hashlib.new(algorithm, Path(path).read_bytes()).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """GET with ``Range: bytes=N-``; a path listed in ``server.drops`` closes after the given
    number of bytes on its first requests (one count per request), as a dropped connection does."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        server = self.server
        rng = self.headers.get("Range")
        server.requests.append((self.path, rng))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and not server.ignore_range:
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        drops = server.drops.get(self.path)
        if drops:
            self.wfile.write(payload[: drops.pop(0)])   # then the connection ends (HTTP/1.0)
            return
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@contextmanager
def loopback_server(files: dict[str, bytes], drops: dict[str, list[int]] | None = None, ignore_range: bool = False):
    """Serve ``files`` (url path -> bytes) on 127.0.0.1 in a thread; yields the server, whose
    ``url(path)`` gives the address and ``requests`` the ``(path, Range header)`` seen."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.files, server.drops, server.ignore_range, server.requests = files, drops or {}, ignore_range, []
    server.url = lambda path: f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _audio_bytes(seconds: float, freq: float, fmt: str, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, tone(seconds, freq=freq, seed=seed), 22050, format=fmt)
    return buf.getvalue()


# ---------------------------------------------------------------- GTZAN

GTZAN_TRACKS = ("blues.00000", "blues.00001", "classical.00000", "jazz.00000", "jazz.00054")


def gtzan_archive(path: Path, names=GTZAN_TRACKS, top: str = "genres", kind: str = "tar") -> Path:
    """``genres/<genre>/<genre>.000NN.wav`` (+ a Marsyas ``.mf`` list, as the original holds) as
    tar.gz; ``kind="zip"`` with ``top="Data/genres_original"`` and PNGs beside it: Kaggle's layout."""
    members = {f"{top}/{n.split('.')[0]}/{n}.wav": _audio_bytes(3.5, 200 + 40 * i, "WAV", i) for i, n in enumerate(names)}
    members[f"{top}/bextract_single.mf"] = b"blues/blues.00000.wav\tblues\n"
    if kind == "zip":
        members["Data/images_original/blues/blues00000.png"] = b"\x89PNG fake"
        members["Data/features_30_sec.csv"] = b"filename,label\n"
        return write_zip(path, members)
    return write_tar(path, members)


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


# ---------------------------------------------------------------- FMA

#: genre_id, #tracks, parent, title, top_level: a small tree in genres.csv's format with FMA-like
#: titles (the parents and counts are made up so that every tie-break of the rule is exercised).
GENRES = [
    (2, 1000, 0, "International", 2), (46, 90, 2, "Latin America", 2),
    (8, 500, 0, "Old-Time / Historic", 8),
    (12, 3000, 0, "Rock", 12), (25, 300, 12, "Punk", 12), (26, 50, 25, "Post-Punk", 12), (45, 400, 12, "Loud-Rock", 12),
    (15, 2000, 0, "Electronic", 15), (181, 200, 15, "Techno", 15), (182, 200, 15, "House", 15),
    (21, 1500, 0, "Hip-Hop", 21),
]

#: track id -> (genre_top, genres, split, artist id): one case per line of the subgenre rule
TRACKS = {
    2: ("Hip-Hop", [21], "training", 1),            # only the top genre: Hip-Hop/Hip-Hop
    3: ("Rock", [26], "training", 2),               # Post-Punk's branch: Rock/Punk
    5: ("Rock", [26, 45], "validation", 3),         # Punk (300) vs Loud-Rock (400): Loud-Rock
    10: ("Electronic", [181, 182], "test", 4),      # a tie at 200 tracks: the lower id, Techno
    11: ("Electronic", [182], "training", 5),
    12: ("Hip-Hop", [21], "test", 6),
    20: ("Old-Time / Historic", [8], "training", 7),  # a title with a slash: one folder
    30: ("", [12, 15], "training", 8),              # two roots: no top genre, skipped
    99134: ("Rock", [25], "training", 9),           # FMA-small's known audio-less file
}
EXPECTED = {2: "Hip-Hop/Hip-Hop", 3: "Rock/Punk", 5: "Rock/Loud-Rock", 10: "Electronic/Techno",
            11: "Electronic/House", 12: "Hip-Hop/Hip-Hop", 20: "Old-Time - Historic/Old-Time - Historic"}


def tracks_csv(tracks=TRACKS, subset: str = "small") -> str:
    """``tracks.csv`` in FMA's format: two header rows of column groups and names, then a
    ``track_id`` row, as ``DataFrame.to_csv`` writes a two-level header (FMA's own file does too)."""
    columns = pd.MultiIndex.from_tuples([("album", "title"), ("artist", "id"), ("artist", "name"), ("set", "split"),
                                         ("set", "subset"), ("track", "genre_top"), ("track", "genres"),
                                         ("track", "genres_all"), ("track", "title")])
    rows = [[f"album {a}", a, f"artist {a}", split, subset, top or np.nan, str(g), str(sorted(set(g))), f"t{tid}"]
            for tid, (top, g, split, a) in tracks.items()]
    table = pd.DataFrame(rows, columns=columns, index=pd.Index(list(tracks), name="track_id"))
    return table.to_csv()


def genres_csv(genres=GENRES) -> str:
    return pd.DataFrame(genres, columns=["genre_id", "#tracks", "parent", "title", "top_level"]).to_csv(index=False)


def fma_metadata_archive(path: Path) -> Path:
    return write_zip(path, {"fma_metadata/tracks.csv": tracks_csv().encode(),
                            "fma_metadata/genres.csv": genres_csv().encode(),
                            "fma_metadata/README.txt": b"FMA metadata\n"})


def fma_audio_archive(path: Path, track_ids=(2, 3, 5, 10, 11, 12, 20, 30, 99134, 40), subset: str = "small") -> Path:
    """``fma_small/000/000002.mp3``-style paths (track 40 is in no tracks.csv), plus FMA's
    ``README.txt`` and ``checksums`` files."""
    members = {f"fma_{subset}/{tid // 1000:03d}/{tid:06d}.mp3": _audio_bytes(3.5, 150 + 30 * i, "MP3", i)
               for i, tid in enumerate(track_ids)}
    members[f"fma_{subset}/README.txt"] = b"fma small\n"
    members[f"fma_{subset}/checksums"] = b"0000  000/000002.mp3\n"
    return write_zip(path, members)
