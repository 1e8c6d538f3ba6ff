"""Where things live: the project root, the one path rule, atomic writes.

The path rule: a library function takes a relative path from the current directory, as
every Python library does. Two callers resolve from the project root instead, and say
so by calling :func:`project_path`: the notebooks (they run in different working
directories: papermill's caller's, nbval's notebook folder) and the project's own
default places (``runs/course``, ``data/generated``).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

ROOT_ENV = "MUZO_ROOT"


def project_root() -> Path:
    """The folder relative paths are resolved against.

    ``$MUZO_ROOT`` when set (tests use it to keep runs out of the checkout); else the
    checkout that holds this package (an editable install); else the current directory.
    """
    env = os.environ.get(ROOT_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return checkout_root() or Path.cwd().resolve()


def checkout_root() -> Path | None:
    """The Muzo checkout this package was imported from (an editable install), if any."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "notebooks").is_dir():
        return checkout
    return None


def project_path(path: str | os.PathLike | None) -> Path | None:
    """``path`` taken from the project root: absolute paths and ``~`` stay, relative ones
    hang from :func:`project_root`; an empty path stays empty (``None``), meaning "the
    default" to the functions that receive it.

    Example (a notebook's first cell):
        >>> data_dir, run_dir = project_path(data_dir), project_path(run_dir)
    """
    if path is None or str(path) == "":
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p


def user_cache_dir() -> Path:
    """Muzo's folder in the user's cache (``$XDG_CACHE_HOME/muzo``, default ``~/.cache/muzo``):
    for work files a command needs but the user did not place, independent of any checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "muzo"


def default_train_run_dir(data_dir: str | os.PathLike, output: str | os.PathLike) -> Path:
    """``muzo train``'s run folder when none is given: one per (dataset folder, output file),
    in :func:`user_cache_dir`, named ``<output stem>-<hash of both absolute paths>``."""
    import hashlib

    key = f"{Path(data_dir).resolve()}|{Path(output).resolve()}"
    return user_cache_dir() / "runs" / f"{Path(output).stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def check_writable_file(path: str | os.PathLike) -> Path:
    """Raise a one-line :class:`OSError` subclass unless a file can be written at ``path``:
    not a folder, its folder exists or can be made, and a file can really be created there
    (a probe file, deleted at once: permissions, read-only mounts and ``/proc`` all show)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".probe")
    except OSError as exc:
        raise PermissionError(f"cannot write {path} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``.

    A crash or Ctrl-C mid-write leaves the previous file (or none), never half a file.
    The file gets the permissions a plain ``open(path, "w")`` would (``0666`` less the
    umask), not the private ``0600`` of a temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc``), since
    setting it to read it back would race with other threads creating files."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj):
    # numpy scalars and paths turn up in metrics; write them as plain JSON values
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
