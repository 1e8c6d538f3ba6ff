"""A ``muzo serve`` application on a free loopback port, in a thread of the test process, and small
HTTP helpers (raw sockets where a test must send what no well-behaved client would)."""
from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, start_timeout: float = 20.0):
    """Serve ``app`` with uvicorn on 127.0.0.1 until the block ends; yields the base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="error",
                                           timeout_keep_alive=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def raw_exchange(base: str, head: bytes, body_parts=(), pause: float = 0.0, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send ``head`` (request line and headers) and ``body_parts`` on one socket, waiting ``pause`` s
    before the last part; return the response's status and body (``(0, b"")`` if the server closed silently)."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(head)
        for i, part in enumerate(body_parts):
            if pause and i == len(body_parts) - 1:
                time.sleep(pause)
            try:
                s.sendall(part)
            except OSError:             # the server answered and closed: read what it said
                break
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and _complete(data):
                    break
        except (ConnectionResetError, TimeoutError, socket.timeout):
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return 0, b""
    head_end = data.index(b"\r\n\r\n")
    return int(data[9:12]), data[head_end + 4:]


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


CLASSES = ["jazz", "pop", "rock"]


def tiny_network(path, seed: int = 0, two_level: bool = False):
    """An untrained, small CNN checkpoint (32 mel bands, 1 s segments) whose last layer is scaled so
    its probabilities spread out; ``two_level``: a genre and a subgenre head (rock/{punk, metal},
    reggae/{roots, ska}, jazz)."""
    import torch

    from muzo_lib.features.spectrogram import MelConfig
    from muzo_lib.models.hierarchy import ClassTree
    from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
    from muzo_lib.training.checkpoints import save_checkpoint

    torch.manual_seed(seed)
    tree = ClassTree.from_labels(["rock", "rock", "reggae", "reggae", "jazz"], ["punk", "metal", "roots", "ska", ""])
    n = tree.n_outputs if two_level else len(CLASSES)
    model = SpectrogramCNN(CNNConfig(n_classes=n, n_mels=32, channels=(4, 4, 8, 8), hidden=8))
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(40.0)
    extra = {"class_tree": tree.to_dict(), "decoder": "marginal"} if two_level else None
    return save_checkpoint(path, model.eval(), MelConfig(n_mels=32), tree.output_names if two_level else CLASSES,
                           segment_seconds=1.0, extra=extra)


def tiny_forest(path):
    """A 10-tree Random Forest on the GTZAN-table descriptors of six tones."""
    import pandas as pd

    from muzo_lib.features.handmade import AudioFeatureExtractor
    from muzo_lib.models.forest import MusicGenreClassifier
    from tests.helpers import tone

    extractor = AudioFeatureExtractor(extras=False)
    rows = [extractor.extract_all_features(tone(2.0, freq=f, seed=i), 22050) for i, f in enumerate([200, 300, 400, 500, 600, 700])]
    forest = MusicGenreClassifier(n_estimators=10, random_state=0, n_jobs=1)
    return forest.fit(pd.DataFrame(rows), ["jazz", "rock", "pop"] * 2).save_model(path)
