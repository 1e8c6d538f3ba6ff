"""The HTTP service behind ``muzo serve``: one loaded model, shared by every request.

FastAPI (on Starlette, under uvicorn) because it writes the OpenAPI description from the routes
themselves (``/openapi.json``) and its request and response objects are Starlette's, which stream
a body chunk by chunk, so the upload limits hold before a body is read. Its interactive ``/docs``
page loads Swagger UI from a CDN, so it is switched off: the service works offline.

Routes: ``POST /predict`` (the audio: a multipart field ``file`` or the raw body) answers the JSON
``muzo predict --json`` prints for one file (:meth:`muzo_lib.models.result.Prediction.to_dict`,
computed by the same :func:`muzo_lib.inference.prediction.predict_files`) plus ``timeline``, the
genre over time in windows of the model's own length when the recording is longer than one;
``GET /health``; ``GET /model`` (classes, class tree, front end, kind, limits); ``GET /`` the page
(``muzo_lib/resources/serve/``). Every error is JSON ``{"error": "one line"}`` with its status.
Nothing here imports torch: with an ``.onnx`` model the process never does.
"""
from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from muzo_lib.inference.prediction import model_window_seconds, predict_files, window_starts
from muzo_lib.io.audio import AudioDecodeError, audio_info, load_audio, signal_problem
from muzo_lib.io.log import get_logger
from muzo_lib.serve.limits import Limits, ServiceError
from muzo_lib.serve.uploads import receive_upload

#: The page and its scripts: the only files the service serves.
STATIC = Path(__file__).resolve().parent.parent / "resources" / "serve"
#: What ``POST /predict`` takes, for the OpenAPI description (the route reads the body itself).
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "audio/*": {"schema": {"type": "string", "format": "binary"}},
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
_ERRORS = {code: {"description": text, "content": {"application/json": {"example": {"error": text}}}} for code, text in (
    (400, "unreadable audio or malformed body"), (408, "upload not received in time"), (413, "upload or audio too large"),
    (415, "not an audio content type"), (422, "missing field 'file'"), (503, "busy: every prediction slot taken"))}


def create_app(model, limits: Limits | None = None, top_k: int = 3):
    """The ASGI application serving ``model`` (a loaded :class:`~muzo_lib.models.predictor.Predictor`).

    Args:
        model: from :func:`muzo_lib.inference.prediction.load_model`; loaded once, shared by all requests.
        limits: the bounds (:class:`~muzo_lib.serve.limits.Limits`; default: its defaults).
        top_k: genres listed per prediction, best first.
    """
    limits = limits or Limits()
    log = get_logger()
    slots = _Slots(limits.max_concurrent)
    uploads = tempfile.TemporaryDirectory(prefix="muzo-serve-")   # each upload's file is deleted after its request

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        uploads.cleanup()

    app = FastAPI(title="Muzo", version="1", docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Music genre of an audio file: the JSON of `muzo predict --json`, plus genre over time.")
    app.state.model, app.state.limits, app.state.slots, app.state.uploads = model, limits, slots, Path(uploads.name)

    def error(status: int, message: str, headers=None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(ServiceError)
    async def _service_error(request, exc: ServiceError):
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):
        return error(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        return error(422, f"{'.'.join(map(str, first.get('loc', ())))}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        log.error("muzo serve: %s %s failed", request.method, request.url.path, exc_info=exc)
        return error(500, "internal error (the server's log has the details)")

    @app.get("/health", summary="the service is up")
    async def health():
        return {"status": "ok", "model": model.name, "kind": model.kind,
                "running": slots.running, "waiting": slots.waiting}

    @app.get("/model", summary="the loaded model: classes, class tree, front end, kind, limits")
    async def model_description():
        return describe_model(model, limits, top_k)

    @app.post("/predict", summary="the genre of one audio file", openapi_extra=_UPLOAD_BODY, responses=_ERRORS)
    async def predict(request: Request, timeline: bool = True):
        try:
            upload = await asyncio.wait_for(receive_upload(request, limits, uploads.name), limits.request_timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise ServiceError(408, f"upload not received within {limits.request_timeout_s:g} s (--request-timeout)",
                               {"Connection": "close"}) from None
        except ClientDisconnect:
            raise ServiceError(400, "the client disconnected before the upload was complete") from None
        try:
            async with slots.take(limits.queue_wait_s):
                return await run_in_threadpool(predict_upload, model, upload.path, upload.name, limits, top_k, timeline)
        finally:
            upload.path.unlink(missing_ok=True)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def predict_upload(model, path: Path, name: str, limits: Limits, top_k: int = 3, timeline: bool = True) -> dict:
    """``muzo predict --json``'s object for the audio in ``path`` (labelled ``name``), plus ``timeline``.

    The length is read from the header first: more than ``limits.max_audio_seconds`` is refused (413)
    before any decoding, and decoding then reads no more frames than the header declared.

    Raises:
        ServiceError: 400 unreadable audio, 413 too long.
    """
    try:
        seconds = audio_info(path)["duration"]
    except AudioDecodeError as exc:
        raise ServiceError(400, f"unreadable audio: {exc}".replace(str(path), name)) from None  # never the server's paths
    if seconds > limits.max_audio_seconds:
        raise ServiceError(413, f"audio of {seconds:.0f} s (by its header) is longer than this server's limit, "
                                f"{limits.max_audio_seconds:g} s (--max-audio-seconds)")
    cap = min(model.max_seconds or np.inf, limits.max_audio_seconds)  # the model's own cap, as muzo predict
    result = predict_files(model, [path], top_k=top_k, n_threads=1, progress=False, max_seconds=cap)[0]
    if not result.ok:
        raise ServiceError(400, f"unreadable audio: {result.error}".replace(str(path), name))
    result.path = name
    out = result.to_dict()
    window = model_window_seconds(model)
    out["timeline"] = None
    if timeline and result.warning is None and result.seconds > window:
        y = load_audio(path, model.sample_rate, duration=getattr(model, "duration", None), max_seconds=cap)
        out["timeline"] = timeline_of(model, y, window)
    return out


def timeline_of(model, y: np.ndarray, window_seconds: float) -> list[dict]:
    """Genre of each consecutive window (``start_s``, ``end_s``, ``genre``, ``confidence``, ``probabilities``);
    a window without a signal (:func:`muzo_lib.io.audio.signal_problem`) gets no genre and its ``warning``."""
    sr = model.sample_rate
    win = int(round(window_seconds * sr))
    starts = window_starts(len(y), sr, window_seconds, window_seconds)
    problems = [signal_problem(y[s:s + win], sr) for s in starts]
    scored = [s for s, problem in zip(starts, problems) if problem is None]    # silence is not scored
    probs = iter(model.predict_windows(y, scored, window_seconds) if scored else ())
    rows = []
    for start, problem in zip(starts, problems):
        row = {"start_s": start / sr, "end_s": min(len(y), start + win) / sr, "genre": None,
               "confidence": 1 / len(model.classes), "warning": problem, "probabilities": None}
        if problem is None:
            p = next(probs)
            best = int(np.argmax(p))
            row.update(genre=model.classes[best], confidence=float(p[best]),
                       probabilities={c: float(v) for c, v in zip(model.classes, p)})
        rows.append(row)
    return rows


def describe_model(model, limits: Limits, top_k: int) -> dict:
    """What ``GET /model`` answers: the model file's name (not its path), kind, classes, class tree,
    front-end settings, window, excerpt cap, and the server's limits."""
    tree = getattr(model, "tree", None)
    return {"name": model.name, "file": model.path.name if model.path else None, "kind": model.kind,
            "classes": list(model.classes), "class_tree": tree.to_dict() if tree is not None else None,
            "sample_rate": model.sample_rate, "front_end": front_end_settings(model),
            "window_seconds": model_window_seconds(model), "max_seconds": model.max_seconds,
            "duration": getattr(model, "duration", None), "top_k": top_k, "limits": limits.to_dict()}


def front_end_settings(model) -> dict:
    """The model's input settings: a network's log-mel (``MelConfig``), an ``.onnx`` file's stored ones,
    a forest's descriptor settings, or just the sample rate."""
    if getattr(model, "mel_config", None) is not None:
        return model.mel_config.to_dict()
    if getattr(model, "mel_settings", None) is not None:
        return dict(model.mel_settings)
    if getattr(model, "extractor", None) is not None and hasattr(model.extractor, "settings"):
        return model.extractor.settings()
    return {"sample_rate": model.sample_rate}


class _Slots:
    """At most ``n`` predictions at once; a request waits ``wait`` seconds for a slot, then gets 503."""

    def __init__(self, n: int):
        self.n, self.running, self.waiting = n, 0, 0
        self._semaphore = asyncio.Semaphore(n)

    def take(self, wait: float):
        return _Slot(self, wait)


class _Slot:
    def __init__(self, slots: _Slots, wait: float):
        self.slots, self.wait = slots, wait

    async def __aenter__(self):
        self.slots.waiting += 1
        try:
            await asyncio.wait_for(self.slots._semaphore.acquire(), self.wait)
        except (TimeoutError, asyncio.TimeoutError):
            raise ServiceError(503, f"busy: {self.slots.n} prediction(s) running and none finished within "
                                    f"{self.wait:g} s (--queue-wait); try again", {"Retry-After": "1"}) from None
        finally:
            self.slots.waiting -= 1
        self.slots.running += 1

    async def __aexit__(self, *exc):
        self.slots.running -= 1
        self.slots._semaphore.release()
