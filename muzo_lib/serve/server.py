"""Run the service: load the model once, then uvicorn on one host and port (``muzo serve``)."""
from __future__ import annotations

import os
import sys

from muzo_lib.serve.limits import Limits

#: What ``muzo serve`` needs beyond Muzo's own dependencies (the ``serve`` extra).
PACKAGES = {"fastapi": "fastapi", "uvicorn": "uvicorn", "python_multipart": "python-multipart"}
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_installed() -> None:
    """Raise one line naming the pip command when a package of the ``serve`` extra is missing."""
    import importlib

    missing = []
    for module, dist in PACKAGES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(dist)
    if missing:
        raise ModuleNotFoundError(f"muzo serve needs {', '.join(missing)}: pip install 'muzo[serve]' "
                                  f"(or pip install {' '.join(PACKAGES.values())})")


#: glibc's M_ARENA_MAX: how many malloc arenas the process may create.
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas before the server's threads start. Each worker thread of a loaded
    server otherwise gets an arena of its own, and the freed blocks of 30 s clips fragment them:
    with the .pt model under 8 clients the resident memory crept 318 -> 613 MB over 2,500
    requests, and stayed at 364-396 MB with 2 arenas (benchmarks/bench_serve.py). An explicit
    ``MALLOC_ARENA_MAX`` in the environment wins. Returns whether the cap was set (glibc only)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):       # not glibc (musl, macOS): nothing to cap
        return False


def serve(model_path: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, limits: Limits | None = None,
          top_k: int = 3, device: str | None = None) -> None:
    """Load ``model_path`` (any file ``muzo predict`` takes) and serve it until Ctrl-C."""
    check_installed()
    limit_malloc_arenas()
    import uvicorn

    from muzo_lib.inference.prediction import load_model
    from muzo_lib.serve.app import create_app

    model = load_model(model_path, device=device)
    app = create_app(model, limits, top_k=top_k)
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(f"muzo serve: {model.kind} model {model.name} ({len(model.classes)} genres) on {where}", file=sys.stderr, flush=True)
    if host not in LOOPBACK:
        print(f"muzo serve: listening on {host}, beyond this machine: put a TLS reverse proxy with authentication "
              "in front (see the README, 'Serving')", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, limit_concurrency=64,
                access_log=False)
