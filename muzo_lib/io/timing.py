"""Wall-clock timing, one way for notebooks, benchmarks and tests.

Set-up (JIT compilation, caches, thread pools) is excluded by untimed warm-up calls,
so a number says what a repeated call costs.
"""
from __future__ import annotations

import time

import numpy as np


def measure_latency(fn, repeats: int = 10, warmup: int = 2) -> dict:
    """Wall-clock time of ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Returns:
        dict of milliseconds: ``median_ms``, ``mean_ms``, ``min_ms``, ``max_ms``, and ``repeats``.

    Example:
        >>> measure_latency(lambda: predict_files(model, [path], progress=False))["median_ms"]
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    t = np.asarray(times)
    return {"median_ms": float(np.median(t)), "mean_ms": float(t.mean()), "min_ms": float(t.min()),
            "max_ms": float(t.max()), "repeats": int(repeats)}
