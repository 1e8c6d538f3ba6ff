"""The course pipeline at several dataset sizes: wall time, peak memory and disk of every stage.

    PYTHONPATH=. python benchmarks/scale.py --tracks 240 1000 2000 --seconds 30 --workdir /tmp/scale \\
        --out docs/scale_results.json --plot docs/scale.png [--world-size 2]
    PYTHONPATH=. python benchmarks/scale.py --tracks 36 72 --seconds 5 --epochs 1     # a try: a few minutes
    PYTHONPATH=. python benchmarks/scale.py --from-json docs/scale_results.json --markdown   # the tables again

The largest size is generated once with the built-in synthesiser (``tracks_per_subgenre`` x its
12 subgenres, rounded up) into ``--workdir`` and kept for later runs; every size is a folder of
hard links to the first tracks of each subgenre (the same files a smaller generation would
write: a track's seed depends on its subgenre and index only). Generating is timed but is not
a stage.

For each size the run folder starts empty, and every stage of benchmarks/scale_stages.py (scan,
log-mels, hand-made features, Random Forest, CNN, hybrid, musicnn embeddings + logistic
regression, ensemble) runs in a fresh process, so its wall time and peak RSS are its own. Disk
added is the run folder's size after the stage minus before (caches, models, metrics). Runs use
the course's split (stratified by subgenre, grouped by artist), which needs 3 tracks (so 3
artists) per subgenre: 36 tracks at least.

``--world-size W`` also builds each size's log-mel cache cold in one process and in ``W`` gloo
processes under torchrun (each computes every W-th track, then reads the others'), prints both
times and checks that the two caches hold the same files, byte for byte. On one machine the
ranks share its cores, so expect little speed-up there: sharding pays across machines.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE_SCRIPT = Path(__file__).resolve().parent / "scale_stages.py"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(STAGE_SCRIPT.parent))

import scale_report  # noqa: E402
from scale_stages import STAGES  # noqa: E402

#: fewest tracks per subgenre for the course's split: one artist each for train, valid and test
MIN_PER_SUBGENRE = 3


# ---------------------------------------------------------------- the datasets

def subgenres() -> list[tuple[str, str]]:
    """Every (genre, subgenre) of the synthesiser, in its order."""
    from muzo_lib.data.synth.styles import GENRES

    return [(genre, sub) for genre in GENRES for sub in GENRES[genre]]


def generate_largest(work: Path, tracks: int, seconds: float) -> tuple[Path, dict]:
    """The generated dataset with at least ``tracks`` tracks (made once, reused after)."""
    from muzo_lib.data.synth.dataset import PARAMS_FILE, generate_dataset

    per_subgenre = math.ceil(tracks / len(subgenres()))
    root = work / f"synth-{per_subgenre}x{seconds:g}s"
    made = not (root / PARAMS_FILE).exists()
    start = time.perf_counter()
    generate_dataset(root, tracks_per_subgenre=per_subgenre, duration=seconds)
    return root, {"tracks": per_subgenre * len(subgenres()), "seconds": time.perf_counter() - start, "generated": made}


def subset(source: Path, tracks: int, dest: Path) -> Path:
    """``tracks`` tracks of ``source`` as hard links in ``dest``: the first ones of every subgenre,
    the subgenres' counts differing by one at most (so every size has every genre and artist mix)."""
    import pandas as pd

    meta = pd.read_csv(source / "metadata.csv")
    groups = subgenres()
    quota = {g: tracks // len(groups) + (i < tracks % len(groups)) for i, g in enumerate(groups)}
    rank = meta.groupby(["genre", "subgenre"]).cumcount()
    keep = meta[rank < [quota[(g, s)] for g, s in zip(meta.genre, meta.subgenre)]]
    listing = dest / "metadata.csv"
    if listing.exists() and listing.read_text() == keep.to_csv(index=False):
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    for rel in keep.path:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source / rel, target)
        except OSError:                      # another file system: a copy
            shutil.copy2(source / rel, target)
    listing.write_text(keep.to_csv(index=False))   # last: marks the subset complete
    return dest


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20 if folder.exists() else 0.0


# ---------------------------------------------------------------- the stages, each in its own process

def child_env(**extra) -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), **extra}


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def run_stage(stage: str, data: Path, run_dir: Path, epochs: int, work: Path) -> dict:
    """One stage in a fresh process: its figures, plus the process's whole time and the disk it added."""
    before = folder_mb(run_dir)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(STAGE_SCRIPT), stage, str(data), str(run_dir), "--epochs", str(epochs)],
                          capture_output=True, text=True, env=child_env(), cwd=work)  # not the checkout
    process_s = time.perf_counter() - start
    if done.returncode != 0 or not json_lines(done.stdout):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"stage": stage, "failed": tail[:300], "returncode": done.returncode}
    figures = json_lines(done.stdout)[-1]
    return {**figures, "process_s": round(process_s, 2), "disk_added_mb": round(folder_mb(run_dir) - before, 2)}


def run_pipeline(data: Path, run_dir: Path, tracks: int, stages, epochs: int, work: Path) -> list[dict]:
    shutil.rmtree(run_dir, ignore_errors=True)           # cold: every stage computes what it caches
    out = []
    for stage in stages:
        figures = run_stage(stage, data, run_dir, epochs, work)
        if "failed" not in figures:
            figures["per_track_ms"] = round(1000 * figures["wall_s"] / tracks, 2)
        print(f"  {tracks} tracks, {stage}: " + (f"{figures['wall_s']:.1f} s, peak {figures['peak_mb']:.0f} MB"
                                                 if "failed" not in figures else f"FAILED: {figures['failed']}"),
              flush=True)
        out.append(figures)
    return out


# ---------------------------------------------------------------- the log-mel cache over ranks

def cache_files(run_dir: Path) -> list[Path]:
    return sorted(p.relative_to(run_dir / "cache") for p in (run_dir / "cache").rglob("*.npy"))


def compare_sharded_cache(data: Path, tracks: int, world_size: int, work: Path) -> dict:
    """The log-mel cache built cold by one process and by ``world_size`` torchrun ranks (gloo)."""
    one, many = work / "runs" / f"cache-1-{tracks}", work / "runs" / f"cache-{world_size}-{tracks}"
    for run_dir in (one, many):
        shutil.rmtree(run_dir, ignore_errors=True)
        run_stage("scan", data, run_dir, 1, work)           # the manifest both builds read
    alone = run_stage("logmels", data, one, 1, work)
    threads = max(1, (os.cpu_count() or 1) // world_size)    # the ranks share the cores one process had
    figures_dir = work / "runs" / f"ranks-{world_size}-{tracks}"
    shutil.rmtree(figures_dir, ignore_errors=True)
    figures_dir.mkdir(parents=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={world_size}", str(STAGE_SCRIPT), "logmels", str(data), str(many),
                           "--figures-dir", str(figures_dir)],
                          capture_output=True, text=True, env=child_env(OMP_NUM_THREADS=str(threads)), cwd=work)
    torchrun_s = time.perf_counter() - start
    ranks = [json.loads(p.read_text()) for p in sorted(figures_dir.glob("rank*.json"))]
    if done.returncode != 0 or len(ranks) != world_size or "failed" in alone:
        raise SystemExit(f"sharded log-mel build failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    files_one, files_many = cache_files(one), cache_files(many)
    identical = files_one == files_many and all(
        filecmp.cmp(one / "cache" / f, many / "cache" / f, shallow=False) for f in files_one)
    ranks_s = max(r["wall_s"] for r in ranks)
    result = {"tracks": tracks, "world_size": world_size, "one_process_s": alone["wall_s"], "ranks_s": ranks_s,
              "speedup": alone["wall_s"] / ranks_s, "identical": identical, "files": len(files_one),
              "rank_peak_mb": [r["peak_mb"] for r in ranks], "one_process_peak_mb": alone["peak_mb"],
              "one_process_process_s": alone["process_s"], "torchrun_process_s": round(torchrun_s, 2)}
    print(f"  {tracks} tracks, log-mel cache: 1 process {alone['wall_s']:.2f} s, {world_size} ranks {ranks_s:.2f} s "
          f"({result['speedup']:.2f}x); caches identical: {identical} ({len(files_one)} files)", flush=True)
    return result


# ---------------------------------------------------------------- the command

def machine() -> dict:
    from muzo_lib.io.machine import cpu_model

    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "load_average": os.getloadavg()[0], "python": sys.version.split()[0]}


def measure(args) -> dict:
    work = Path(args.workdir).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    sizes = sorted(set(args.tracks))
    smallest = MIN_PER_SUBGENRE * len(subgenres())
    if sizes[0] < smallest:
        raise SystemExit(f"--tracks {sizes[0]}: the course's split (stratified by subgenre, grouped by artist) needs "
                         f"{MIN_PER_SUBGENRE} tracks per subgenre, so at least {smallest} tracks")
    results = {"settings": {"tracks": sizes, "seconds": args.seconds, "epochs": args.epochs, "stages": args.stages,
                            "world_size": args.world_size},
               "machine": machine(), "sizes": [], "sharded_cache": []}
    source, results["generation"] = generate_largest(work, sizes[-1], args.seconds)
    print(f"dataset: {source} ({results['generation']['seconds']:.1f} s)", flush=True)
    for n in sizes:
        data = subset(source, n, work / f"data-{n}")
        if args.stages:
            stages = run_pipeline(data, work / "runs" / f"pipeline-{n}", n, args.stages, args.epochs, work)
            results["sizes"].append({"tracks": n, "data_dir": str(data), "stages": stages})
        if args.world_size > 1:
            results["sharded_cache"].append(compare_sharded_cache(data, n, args.world_size, work))
        if args.out:                      # after every size: a long run stopped later keeps what it measured
            save_results(args.out, results)
    return results


def save_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--tracks", type=int, nargs="+", default=[240], help="dataset sizes (default: 240)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each generated track (default: 10)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the CNN and the hybrid (default: 1)")
    parser.add_argument("--stages", nargs="*", choices=STAGES, default=list(STAGES),
                        help="stages to run, in the pipeline's order (default: all; none: only --world-size)")
    parser.add_argument("--world-size", type=int, default=1, metavar="W",
                        help="also build the log-mel cache with W torchrun ranks and compare (default: 1, off)")
    parser.add_argument("--workdir", default="/tmp/muzo-scale", help="datasets and runs (kept for later runs)")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    parser.add_argument("--plot", type=Path, help="draw time and peak RSS per stage against tracks (log-log PNG)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    parser.add_argument("--from-json", type=Path, help="report these results instead of measuring")
    args = parser.parse_args(argv)
    args.stages = [s for s in STAGES if s in args.stages]      # the pipeline's order, whatever the command's
    results = json.loads(args.from_json.read_text()) if args.from_json else measure(args)
    if args.out and not args.from_json:
        save_results(args.out, results)
    print()
    print(scale_report.report(results, as_markdown=args.markdown))
    if args.plot and results["sizes"]:
        scale_report.plot(results, args.plot)
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
