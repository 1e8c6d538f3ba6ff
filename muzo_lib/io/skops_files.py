"""Model files in the skops format, read safely: one implementation for every scikit-learn
model Muzo saves (the Random Forest, the classifier on musicnn embeddings).

skops never unpickles: only the types a model is known to hold are accepted, and a file
that holds anything else is refused before any of it is loaded.
"""
from __future__ import annotations

import os
from pathlib import Path

from muzo_lib.io.paths import atomic_write


def save_skops(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` (a dict holding the model and its facts) to ``path`` atomically."""
    import skops.io as sio

    return atomic_write(path, lambda tmp: sio.dump(payload, tmp))


def load_skops(path: str | os.PathLike, cls: type, trusted: list[str], format_name: str, format_version: int,
               error: type[Exception], what: str):
    """The model in a file written by :func:`save_skops`, checked before and after loading.

    Args:
        cls: the model's class (the payload's ``model`` must be one).
        trusted: the types the file may hold besides those skops trusts by default.
        format_name, format_version: the ``format`` and ``format_version`` the payload must carry.
        error: the exception to raise, one line, naming ``path`` and ``what`` the model is.
        what: e.g. ``"Random Forest model"``, for the messages.

    Raises:
        FileNotFoundError: no such file.
        ``error``: another format, another program's skops file, types outside ``trusted``,
            or another format version.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    try:
        untrusted = set(sio.get_untrusted_types(file=path)) - set(trusted)
    except Exception as exc:
        raise error(f"{path}: not a Muzo {what} (not a skops file: {type(exc).__name__})") from None
    if untrusted:
        names = sorted(untrusted)
        raise error(f"{path}: refusing to load types a Muzo {what} never holds: "
                    + ", ".join(names[:5]) + (f", ... (+{len(names) - 5})" if len(names) > 5 else ""))
    try:
        payload = sio.load(path, trusted=trusted)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise error(f"{path}: could not be read as a Muzo {what} ({type(exc).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != format_name or not isinstance(payload.get("model"), cls):
        raise error(f"{path}: not a Muzo {what}")
    if payload.get("format_version") != format_version:
        raise error(f"{path}: {what} format version {payload.get('format_version')}, this Muzo reads version "
                    f"{format_version}")
    model = payload["model"]
    model.saved_versions_ = payload.get("versions", {})
    return model


def is_skops(path: str | os.PathLike) -> bool:
    """Sniffed from the content, never the name: a skops file is a zip with ``schema.json``
    (a network checkpoint is a zip too, without it; a renamed file is still recognised)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return "schema.json" in z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def is_torch_zip(path: str | os.PathLike) -> bool:
    """A zip archive that is not a skops file: what ``torch.save`` writes (read without torch)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return "schema.json" not in names and any(n.endswith("data.pkl") for n in names)


def holds_format(path: str | os.PathLike, format_name: str) -> bool:
    """True when ``path`` is a skops file whose payload's ``format`` is ``format_name`` (read
    from its schema, without loading anything)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            schema = json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return False
    return format_name in json.dumps(schema.get("content", {}).get("format", {}))
