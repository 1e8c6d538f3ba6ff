"""Unpack a zip or tar(.gz) archive safely: every entry lands inside the target folder.

Archives from the internet (or a stranger's copy of a dataset) are checked whole before one
byte is written: an absolute path, a ``..`` component, a symlink, a hard link, a device or a
fifo makes the archive refused with one line naming the entry. Regular files are then copied
out one by one through our own code (never ``extractall``), so nothing but plain files and
folders is ever created. A full disk and a damaged archive are one-line errors too.
"""
from __future__ import annotations

import errno
import gzip
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from muzo_lib.data.fetch import FetchError
from muzo_lib.io.progress import progress_bar


@dataclass(frozen=True)
class Entry:
    """One regular file of an archive: its safe relative path and its size (bytes)."""
    path: PurePosixPath
    size: int
    member: object  # the ZipInfo or TarInfo it came from


def archive_entries(archive: str | os.PathLike) -> list[Entry]:
    """The archive's regular files, after checking every entry (folders are implied by paths).

    Raises:
        FetchError: not a zip or tar archive, damaged, empty, or an entry is unsafe.
    """
    archive = Path(archive)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                entries = [_zip_entry(info, archive) for info in zf.infolist()]
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                entries = [_tar_entry(info, archive) for info in tf.getmembers()]
        else:
            raise FetchError(f"{archive.name} is not a zip or tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise FetchError(f"{archive.name} is a damaged archive ({_first_line(exc)})") from None
    files = [e for e in entries if e is not None]
    if not files:
        raise FetchError(f"{archive.name} holds no files")
    return files


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike, progress: bool = True) -> list[Path]:
    """Unpack every regular file of ``archive`` under ``target`` (made if missing).

    Returns:
        the paths written, in archive order.

    Raises:
        FetchError: see :func:`archive_entries`; also a damaged member (bad CRC, cut short) and
            a full disk (``ENOSPC``), in one line each. What was written so far stays in
            ``target`` for the caller to remove (callers extract into a scratch folder).
    """
    archive, target = Path(archive), Path(target)
    entries = archive_entries(archive)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    is_zip = zipfile.is_zipfile(archive)
    opener = zipfile.ZipFile(archive) if is_zip else tarfile.open(archive)
    try:
        with opener, progress_bar(total=sum(e.size for e in entries), unit="B", unit_scale=True,
                                  desc=f"extracting {archive.name}", disable=not progress) as bar:
            for entry in entries:
                out = target.joinpath(*entry.path.parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                source = opener.open(entry.member) if is_zip else opener.extractfile(entry.member)
                with source, open(out, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
                written.append(out)
                bar.update(entry.size)
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise FetchError(f"{archive.name} is a damaged archive ({_first_line(exc)})") from None
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            need = sum(e.size for e in entries) / 1e6
            raise FetchError(f"disk full while extracting {archive.name} into {target.parent} (it needs about "
                             f"{need:.0f} MB); free space and run again") from None
        raise
    return written


def _safe_path(name: str, archive: Path) -> PurePosixPath:
    """The entry's path relative to the target, or a :class:`FetchError` if it could leave it."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if not clean or clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in path.parts:
        raise FetchError(f"{archive.name} is refused: entry {name!r} would land outside the target folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _zip_entry(info: zipfile.ZipInfo, archive: Path) -> Entry | None:
    path = _safe_path(info.filename, archive)
    mode = info.external_attr >> 16  # Unix mode, where the zip was made on Unix; no type bits: a plain file
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
        raise FetchError(f"{archive.name} is refused: entry {info.filename!r} is {kind}")
    if info.is_dir() or path == PurePosixPath("."):
        return None
    return Entry(path, info.file_size, info)


def _tar_entry(info: tarfile.TarInfo, archive: Path) -> Entry | None:
    path = _safe_path(info.name, archive)
    if info.isdir():
        return None
    if not info.isreg():
        kind = ("a symlink" if info.issym() else "a hard link" if info.islnk() else
                "a device" if info.isdev() and not info.isfifo() else "a fifo" if info.isfifo() else "not a regular file")
        raise FetchError(f"{archive.name} is refused: entry {info.name!r} is {kind}")
    if path == PurePosixPath("."):
        return None
    return Entry(path, info.size, info)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
