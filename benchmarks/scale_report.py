"""Tables and a plot from benchmarks/scale.py's results (the JSON it writes), so that no number
is ever typed by hand: ``scale.py --from-json results.json --markdown`` prints them again."""
from __future__ import annotations

import math

#: (title, key of a stage's figures, format) of the tables, one per measure
MEASURES = (("wall time, s (the stage's work, after its imports)", "wall_s", "{:.2f}"),
            ("peak RSS of the stage's process, MB (in brackets: after its imports)", "peak_mb", "{:.0f}"),
            ("disk added to the run folder, MB", "disk_added_mb", "{:.1f}"),
            ("wall time per track, ms", "per_track_ms", "{:.1f}"))


#: the peak memory every stage must stay under, at any dataset size (issue 20), MB
TARGET_MB = 4096


def growth_exponent(n1: float, t1: float, n2: float, t2: float) -> float | None:
    """``k`` in ``t ~ n**k`` between two sizes: 1 is linear, 0 constant (None where undefined)."""
    if min(n1, n2, t1, t2) <= 0 or n1 == n2:
        return None
    return math.log(t2 / t1) / math.log(n2 / n1)


def _stages(results: dict) -> list[str]:
    names: list[str] = []
    for size in results["sizes"]:
        names += [s["stage"] for s in size["stages"] if s["stage"] not in names]
    return names


def _figure(size: dict, stage: str) -> dict | None:
    return next((s for s in size["stages"] if s["stage"] == stage), None)


def _cell(figures: dict | None, key: str, fmt: str) -> str:
    if figures is None:
        return ""
    if "failed" in figures:
        return "failed"
    text = fmt.format(figures[key])
    if key == "peak_mb":
        text += f" ({figures['after_imports_mb']:.0f})"
        if figures.get("workers_peak_mb"):
            text += f", worker {figures['workers_peak_mb']:.0f}"
    return text


def measure_rows(results: dict, key: str, fmt: str) -> list[list[str]]:
    """``[header, *rows]`` of one measure: a row per stage, a column per size; the wall-time
    table also has the growth exponent between consecutive sizes and a total row."""
    sizes = results["sizes"]
    counts = [s["tracks"] for s in sizes]
    pairs = list(zip(range(len(sizes)), range(1, len(sizes))))
    timed = key == "wall_s"
    header = ["stage", *(f"{n} tracks" for n in counts), *(f"exponent {counts[a]}->{counts[b]}" for a, b in pairs if timed)]
    rows = [header]
    for stage in _stages(results):
        figures = [_figure(size, stage) for size in sizes]
        row = [stage, *(_cell(f, key, fmt) for f in figures)]
        if timed:
            for a, b in pairs:
                fa, fb = figures[a], figures[b]
                k = None if not fa or not fb or "failed" in fa or "failed" in fb else \
                    growth_exponent(counts[a], fa[key], counts[b], fb[key])
                row.append("" if k is None else f"{k:.2f}")
        rows.append(row)
    if timed:                 # a total only where every stage of the size ran
        totals = [None if any("failed" in s for s in size["stages"]) else sum(s[key] for s in size["stages"])
                  for size in sizes]
        exponents = [None if totals[a] is None or totals[b] is None else
                     growth_exponent(counts[a], totals[a], counts[b], totals[b]) for a, b in pairs]
        rows.append(["total", *("" if t is None else fmt.format(t) for t in totals),
                     *("" if k is None else f"{k:.2f}" for k in exponents)])
    return rows


def sharded_rows(results: dict) -> list[list[str]]:
    """``[header, *rows]`` of the log-mel cache built cold by one process and by several ranks."""
    rows = [["tracks", "1 process, s", "ranks", "ranks, s (slowest)", "speed-up", "files identical"]]
    for r in results.get("sharded_cache", []):
        rows.append([str(r["tracks"]), f"{r['one_process_s']:.2f}", str(r["world_size"]), f"{r['ranks_s']:.2f}",
                     f"{r['speedup']:.2f}x", f"{'yes' if r['identical'] else 'NO'} ({r['files']} files)"])
    return rows


def plain(rows: list[list[str]]) -> str:
    """Columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(rows[0]))) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])


def report(results: dict, as_markdown: bool = False) -> str:
    """Every table, with the settings and the machine on top."""
    render = markdown if as_markdown else plain
    settings, machine, made = results["settings"], results["machine"], results.get("generation", {})
    head = (f"{', '.join(str(s['tracks']) for s in results['sizes'])} generated tracks of {settings['seconds']:g} s; "
            f"networks trained {settings['epochs']} epoch(s); {machine['cpus']} CPUs ({machine['cpu']}), "
            f"load average {machine['load_average']:.1f} at the start")
    if made:
        head += (f"; generating the {made['tracks']} tracks took {made['seconds']:.1f} s (not a stage)" if made["generated"]
                 else f"; the {made['tracks']} generated tracks were reused from an earlier run")
    parts = [head]
    if results["sizes"]:
        for title, key, fmt in MEASURES:
            parts.append(("**" + title + "**" if as_markdown else title) + "\n\n" + render(measure_rows(results, key, fmt)))
        parts.append("peak RSS: the stage process's own peak, its peak after imports in brackets, and the largest "
                     "joblib worker process where it started some (a worker's memory is not in its parent's peak)")
    if results.get("sharded_cache"):
        title = "log-mel cache, cold, one process vs ranks (gloo) on this machine"
        parts.append(("**" + title + "**" if as_markdown else title) + "\n\n" + render(sharded_rows(results)))
    return "\n\n".join(parts)


def plot(results: dict, path) -> None:
    """Log-log: each stage's wall time and peak RSS against the number of tracks."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = results["sizes"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for stage in _stages(results):
        points = [(size["tracks"], f) for size in sizes if (f := _figure(size, stage)) and "failed" not in f]
        if not points:
            continue
        n = [p[0] for p in points]
        left.plot(n, [max(p[1]["wall_s"], 1e-3) for p in points], marker="o", label=stage)
        right.plot(n, [p[1]["peak_mb"] for p in points], marker="o", label=stage)
    right.axhline(TARGET_MB, color="black", linestyle="--", linewidth=1)
    right.annotate(f"target: under {TARGET_MB / 1024:g} GB at any size", (sizes[0]["tracks"], TARGET_MB),
                   textcoords="offset points", xytext=(2, -12), fontsize=8)
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    for axis, label in ((left, "wall time of the stage, s"), (right, "peak RSS of the stage's process, MB")):
        axis.set(xscale="log", yscale="log", xlabel="tracks", ylabel=label)
        axis.set_xticks([size["tracks"] for size in sizes])
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(f"course pipeline vs dataset size ({results['settings']['seconds']:g} s tracks, "
                 f"{results['machine']['cpus']} CPUs)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
