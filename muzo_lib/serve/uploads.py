"""Receive one audio upload into a private temporary file, within the service's limits.

The body is a multipart form with the audio in field ``file`` (what a browser's form sends) or the
raw audio bytes (``Content-Type: audio/*`` or ``application/octet-stream``, what ``curl
--data-binary`` sends). Its size is refused from ``Content-Length`` when that is too large, and
counted chunk by chunk as it arrives otherwise, so an oversized body is never read whole. The
client's file name is kept only as a label (its last part, printable characters): the server
never opens a path a request names.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from muzo_lib.io.audio import AUDIO_EXTENSIONS
from muzo_lib.serve.limits import Limits, ServiceError

#: Content types taken as raw audio bytes (besides ``audio/*``); a part of a form may also have none.
RAW_TYPES = ("application/octet-stream",)
#: Name given to an upload that brings none.
DEFAULT_NAME = "upload"


@dataclass
class Upload:
    """A received upload: ``path`` (the server's own temporary file) and ``name`` (the client's label)."""
    path: Path
    name: str
    size: int


def is_audio_type(content_type: str | None) -> bool:
    """``audio/*`` or ``application/octet-stream`` (parameters ignored)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith("audio/") or media in RAW_TYPES


def safe_name(name: str | None) -> str:
    """The last part of a client's file name, printable and at most 120 characters
    (``"../../etc/passwd"`` -> ``"passwd"``, ``"C:\\\\x\\\\song.wav"`` -> ``"song.wav"``)."""
    last = PurePosixPath((name or "").replace("\\", "/")).name
    last = re.sub(r"[^\w .,()+-]", "_", last).strip(" .")[:120]
    return last or DEFAULT_NAME


async def receive_upload(request, limits: Limits, folder: str | os.PathLike) -> Upload:
    """Read the request's audio into a new file in ``folder``.

    Raises:
        ServiceError: 413 too large, 415 not an audio content type, 422 no ``file`` field,
            400 a malformed body (the caller turns a timeout into 408).
    """
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise ServiceError(400, f"bad Content-Length header: {length[:40]!r}")
        if int(length) > limits.max_upload_bytes:
            raise ServiceError(413, f"upload of {int(length)} bytes is larger than this server's limit, "
                                    f"{limits.max_upload_bytes} bytes (--max-upload-bytes)")
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    stream = _counted(request.stream(), limits.max_upload_bytes)
    if media == "multipart/form-data":
        return await _from_form(request.headers, stream, folder)
    if not is_audio_type(media):
        raise ServiceError(415, f"unsupported content type {media or '(none)'!r}: send a multipart form with the audio "
                                "in field 'file', or the raw audio as audio/* or application/octet-stream")
    name = safe_name(request.query_params.get("filename"))
    return await _write(stream, folder, name)


async def _counted(stream, limit: int):
    """The body's chunks, refused with 413 as soon as more than ``limit`` bytes have come."""
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise ServiceError(413, f"upload larger than this server's limit, {limit} bytes (--max-upload-bytes)")
        yield chunk


async def _from_form(headers, stream, folder) -> Upload:
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(headers, stream, max_files=1, max_fields=16)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ServiceError(400, f"malformed multipart body: {exc.message}") from None
    try:
        part = form.get("file")
        if part is None:
            raise ServiceError(422, "missing field 'file': the multipart form needs the audio in a file field named 'file'")
        if isinstance(part, str):
            raise ServiceError(422, "field 'file' is a text field, not a file upload (its part needs a filename)")
        if part.content_type and not is_audio_type(part.content_type):
            raise ServiceError(415, f"field 'file' is {part.content_type!r}, not audio (audio/* or application/octet-stream)")

        async def chunks():
            while block := await part.read(1 << 20):
                yield block

        return await _write(chunks(), folder, safe_name(part.filename))
    finally:
        await form.close()


async def _write(chunks, folder, name: str) -> Upload:
    suffix = Path(name).suffix.lower()
    fd, path = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=suffix if suffix in AUDIO_EXTENSIONS else ".audio")
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for block in chunks:
                f.write(block)
                size += len(block)
    except BaseException:
        os.unlink(path)
        raise
    if size == 0:
        os.unlink(path)
        raise ServiceError(400, "empty upload: no audio bytes received")
    return Upload(Path(path), name, size)
