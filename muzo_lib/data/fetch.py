"""Download one file over HTTP(S) with a progress bar, resuming after an interruption, and
check it against a published checksum.

Written on the standard library's ``urllib`` rather than a download package: all it needs is
a GET with a ``Range`` header and a loop over the body, and Muzo's dependencies stay as they
are. The bytes go to ``<target>.part``; a dropped connection is resumed from where it stopped
(a few times within one call, and again by the next call), and only a file whose checksum
matches is renamed onto ``target``, so a complete-looking file is always a verified one.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from muzo_lib.io.progress import progress_bar

CHUNK = 1 << 20  # bytes read per step (1 MiB)


class FetchError(ValueError):
    """A download, a checksum or an archive failed; the message is one line that says what to do."""


def file_digest(path: str | os.PathLike, algorithm: str, progress: bool = False) -> str:
    """Hex digest of a file with ``hashlib``'s ``algorithm`` (``"sha1"``, ``"md5"``...), read in
    1 MiB blocks (bounded memory for multi-GB archives)."""
    path = Path(path)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f, progress_bar(total=path.stat().st_size, unit="B", unit_scale=True,
                                             desc=f"checking {path.name}", disable=not progress, leave=False) as bar:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def check_digest(path: str | os.PathLike, algorithm: str, expected: str, progress: bool = False) -> str:
    """``file_digest`` compared with ``expected``; a one-line :class:`FetchError` on a mismatch."""
    got = file_digest(path, algorithm, progress)
    if got.lower() != expected.lower():
        raise FetchError(f"{Path(path).name}: {algorithm} is {got}, expected {expected.lower()}: the file is damaged, "
                         "incomplete or a different release")
    return got


def download(url: str, target: str | os.PathLike, algorithm: str, checksum: str | None, retries: int = 3,
             timeout: float = 30.0, progress: bool = True) -> Path:
    """Fetch ``url`` to ``target`` and verify it.

    Args:
        url: http(s) (or file) address.
        target: the file to leave; bytes arrive in ``<target>.part`` first.
        algorithm, checksum: the published checksum the whole file must match (``None``: not
            checked here, for a caller that was told to accept an unknown one).
        retries: how many times a dropped connection is resumed within this call (``Range``
            requests from the bytes already there) before it gives up; the ``.part`` file
            stays, so running again resumes too.
        timeout: seconds a silent connection may wait before it counts as dropped.

    Returns:
        ``target``, verified.

    Raises:
        FetchError: the server refused, the connection kept dropping, the disk is full, or the
            checksum does not match (the download is then kept as ``<target>.bad``, not used).
    """
    target = Path(target)
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        try:
            if _fetch_into(url, part, timeout, progress):
                break
        except _Dropped as exc:
            attempt += 1
            if attempt > retries:
                raise FetchError(f"download of {url} stopped at {_size(part)} ({exc}); run the same command "
                                 f"again to resume from {part.name}") from None
            time.sleep(min(0.2 * attempt, 2.0))
    try:
        if checksum is not None:
            check_digest(part, algorithm, checksum, progress)
    except FetchError as exc:
        bad = target.with_name(target.name + ".bad")
        os.replace(part, bad)
        raise FetchError(f"{exc}; kept as {bad} (not used)") from None
    os.replace(part, target)
    return target


class _Dropped(Exception):
    """The connection ended before the whole body arrived: worth resuming."""


def _fetch_into(url: str, part: Path, timeout: float, progress: bool) -> bool:
    """One request: append the rest of ``url`` to ``part``. True when the file is complete."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "muzo-data", **({"Range": f"bytes={have}-"} if have else {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part file already holds it all
            total = _total_from_content_range(exc.headers.get("Content-Range", ""))
            if total is None or total == have:
                return True
            part.unlink()  # longer than the file now served: not a prefix of it, start again
            return False
        raise FetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, OSError) and reason.errno in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH):
            raise FetchError(f"{url}: cannot connect ({reason.strerror or reason})") from None
        raise _Dropped(f"could not connect: {reason}") from None
    with response:
        status = getattr(response, "status", 200)
        if status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range", ""))
            if start != have:
                raise FetchError(f"{url}: the server resumed at byte {start}, not {have}; delete {part} to start over")
            mode, done = "ab", have
        else:  # 200: the whole file (the server ignored Range, or there was nothing to resume)
            mode, done = "wb", 0
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        try:
            with open(part, mode) as out, progress_bar(total=total, initial=done, unit="B", unit_scale=True,
                                                       desc=part.name.removesuffix(".part"), disable=not progress) as bar:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, HTTPException) as exc:
                        raise _Dropped(f"connection lost: {exc or type(exc).__name__}") from None
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    bar.update(len(block))
        except OSError as exc:  # writing (reading errors are _Dropped above)
            if exc.errno == errno.ENOSPC:
                raise FetchError(f"disk full while downloading into {part.parent} ({_size(part)} so far); free "
                                 "space and run again to resume") from None
            raise
    if total is not None and done < total:
        raise _Dropped(f"connection closed at {done} of {total} bytes")
    return True


def _start_from_content_range(value: str) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value.strip())
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str) -> int | None:
    match = re.match(r"bytes (?:\*|\d+-\d+)/(\d+)", value.strip())
    return int(match.group(1)) if match else None


def _size(path: Path) -> str:
    n = path.stat().st_size if path.exists() else 0
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n} bytes"
