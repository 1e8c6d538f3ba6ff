"""How long the course's long cells take, so a learner can plan before running one.

A cell that trains or embeds starts with ``pace("<key>", "what it does")``. That prints what the
cell is about to do and how long it took in the reference runs, one per kind of CPU: 2 cores
without bf16 (float32) and with it (bf16 autocast). The times are not written into the notebooks.
They are read back from executed reference runs, where papermill records each cell's duration,
and kept in ``resources/course/pacing.json``.

Refresh the table after a reference run of each kind::

    python -m muzo_lib.course.pacing runs/course bf16
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 muzo course --name avx2
    python -m muzo_lib.course.pacing runs/avx2 float32
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from muzo_lib.io.machine import describe_machine
from muzo_lib.io.paths import atomic_write_text

TABLE = Path(__file__).resolve().parents[1] / "resources" / "course" / "pacing.json"
KINDS = {"float32": "2 cores without bf16 (float32)", "bf16": "2 cores with bf16"}
_CALL = re.compile(r'^\s*pace\(\s*"([a-z0-9-]+)"', re.MULTILINE)


def load_table(path: Path = TABLE) -> dict:
    """``{"runs": {kind: where measured}, "cells": {key: {kind: seconds}}}`` (empty where never measured)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {"runs": {}, "cells": {}}


def reference_times(key: str, table: dict | None = None) -> dict[str, float]:
    """``{kind: seconds}`` measured for the cell ``key`` (no entry: never measured)."""
    return dict((load_table() if table is None else table).get("cells", {}).get(key, {}))


def pace(key: str, what: str, table: dict | None = None, alone: tuple[str, ...] = ()) -> str:
    """Print (and return) the announcement for the cell ``key``: what it does and its reference times.

    ``alone``: the keys of earlier notebooks' cells whose models this cell trains itself when
    they are missing from the run folder (the notebook run on its own); their summed reference
    times are announced as what running it alone adds.
    """
    table = table or load_table()
    times = reference_times(key, table)
    if times:
        line = f"This cell {what}. In the reference runs it took {_on_each_kind(times)}."
    else:
        line = f"This cell {what}. (No reference time recorded for it yet.)"
    extra = [reference_times(k, table) for k in alone]
    if alone and all(extra):
        added = {kind: sum(t[kind] for t in extra) for kind in KINDS if all(kind in t for t in extra)}
        line += (" Run without the earlier notebooks, it first trains what they leave behind: about "
                 f"{_on_each_kind(added)} more.")
    print(line)
    return line


def _on_each_kind(times: dict[str, float]) -> str:
    return "; ".join(f"{_minutes(times[k])} on {label}" for k, label in KINDS.items() if k in times)


def record_run(run_dir: str | os.PathLike, kind: str, path: Path = TABLE) -> dict[str, float]:
    """Read every ``pace(...)`` cell's duration from the run's executed notebooks into the table,
    as the times of CPU ``kind``; returns ``{key: seconds}``.

    Raises:
        ValueError: an unknown kind, or a run without papermill's cell timings.
    """
    import nbformat

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    found = {}
    for notebook in sorted(Path(run_dir, "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(notebook, as_version=4).cells:
            match = _CALL.search(cell.source) if cell.cell_type == "code" else None
            duration = cell.get("metadata", {}).get("papermill", {}).get("duration")
            if match and duration is not None:
                found[match.group(1)] = round(float(duration), 1)
    if not found:
        raise ValueError(f"no timed pace() cells in {Path(run_dir) / 'notebooks'} (was it run by `muzo course`?)")
    table = load_table(path)
    for key, seconds in found.items():
        table.setdefault("cells", {}).setdefault(key, {})[kind] = seconds
    summary = Path(run_dir) / "summary.md"
    machine = next((line[len("Machine: "):] for line in summary.read_text().splitlines() if line.startswith("Machine: ")),
                   describe_machine()) if summary.is_file() else describe_machine()
    table.setdefault("runs", {})[kind] = machine
    atomic_write_text(path, json.dumps(table, indent=1, sort_keys=True) + "\n")
    return found


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m muzo_lib.course.pacing RUN_DIR float32|bf16")
    for key, seconds in record_run(sys.argv[1], sys.argv[2]).items():
        print(f"{key}: {seconds} s")
