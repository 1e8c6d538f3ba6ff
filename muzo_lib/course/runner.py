"""Run the course notebooks in order with papermill, as one experiment.

Each executed notebook, every figure it drew and a short results summary land under
``runs/<name>/``. The same parameters reach every notebook, so
``run_course(data_dir="data/gtzan", parameters={"epochs": 50})`` is a real experiment.

Small real datasets: when the run's test split holds fewer than :data:`SMALL_TEST_SPLIT`
tracks, one split cannot tell models apart (a 95% interval on 48 tracks still spans up to
+-14 points), so the notebooks that train a model (02 forest, 03 CNN, 04 hybrid) also
cross-validate it over every track (``cv_folds``, :func:`course_cv_folds`) and the summary
lists both protocols side by side.
"""
from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

import nbformat

from muzo_lib.data.runs import load_metrics
from muzo_lib.io.log import get_logger
from muzo_lib.io.machine import describe_machine
from muzo_lib.io.paths import atomic_write_text, checkout_root, project_path, project_root

#: `muzo course` cross-validates when the run's test split holds fewer tracks than this.
SMALL_TEST_SPLIT = 48
#: Folds it then uses (each notebook's ``cv_folds``).
COURSE_CV_FOLDS = 5


class CourseError(RuntimeError):
    """A notebook of the course failed; the message names it and the error in one line."""


def course_notebooks(folder: str | os.PathLike | None = None) -> list[Path]:
    """The course notebooks (``NN_name.ipynb``), in order."""
    folder = Path(folder) if folder else (checkout_root() or project_root()) / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(f"notebooks folder not found: {folder} (run from a Muzo checkout)")
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


def run_course(name: str = "course", data_dir: str = "", parameters: dict | None = None,
               only: list[str] | None = None, notebooks_dir: str | os.PathLike | None = None,
               log=None, cv_folds: int | None = None) -> Path:
    """Execute every course notebook (or those whose names start with an entry of ``only``).

    Args:
        name: the run's name; everything goes to ``runs/<name>/``.
        data_dir: dataset folder passed to every notebook ("" = built-in generated data).
        parameters: extra papermill parameters; each notebook receives only those its
            ``parameters`` cell defines.
        only: e.g. ``["00", "03"]`` to run a subset.
        log: called with each progress line; ``None``: the ``muzo`` logger (:mod:`muzo_lib.io.log`).
        cv_folds: folds of the cross-validation run by the notebooks that have a
            ``cv_folds`` parameter (0: off); ``None``: ``parameters["cv_folds"]`` if given,
            else :func:`course_cv_folds` decides from the dataset.

    Returns:
        The run folder, holding ``notebooks/``, ``figures/``, ``summary.md`` and ``book/``
        (the executed notebooks as pages, :mod:`muzo_lib.course.book`).
    """
    import papermill as pm

    log = log or get_logger(__name__).info
    run_dir = project_path(Path("runs") / name)
    out_dir = run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [nb for nb in course_notebooks(notebooks_dir)
                 if not only or any(nb.name.startswith(prefix) for prefix in only)]
    names = {nb: _parameter_names(nb) for nb in notebooks}
    given = {"data_dir": data_dir, "run_dir": str(run_dir), **(parameters or {})}
    cv_note = ""
    if any("cv_folds" in known for known in names.values()):
        given["cv_folds"], cv_note = _cv_choice(cv_folds, given, run_dir)
    timings = []
    for nb_path in notebooks:
        known = names[nb_path]
        params = {k: v for k, v in given.items() if k in known}
        if "cv_folds" in known:
            _forget_cross_validation(run_dir, nb_path.name)
        log(f"[{time.strftime('%H:%M:%S')}] running {nb_path.name} ...")
        start = time.perf_counter()
        out = out_dir / nb_path.name
        try:
            pm.execute_notebook(str(nb_path), str(out), parameters=params, kernel_name="python3",
                                cwd=str(nb_path.parent), progress_bar=False,
                                kernel_manager_class=_local_kernel_manager())
        except pm.PapermillExecutionError as exc:
            raise CourseError(f"{nb_path.name} failed: {exc.ename}: {exc.evalue} "
                              f"(the executed notebook is {out})") from None
        seconds = time.perf_counter() - start
        timings.append((nb_path.name, seconds))
        figures = _export_figures(out, run_dir / "figures")
        log(f"    done in {seconds:.0f} s, {figures} figure(s)")
    summary = _summary(run_dir, timings, data_dir, parameters, cv_note)
    atomic_write_text(run_dir / "summary.md", summary)
    log(summary)
    _book(run_dir, log)
    return run_dir


def _book(run_dir: Path, log) -> None:
    """The run's book (:mod:`muzo_lib.course.book`). The notebooks are already saved, so a book
    that cannot be built is one warning line, not a failed run."""
    from muzo_lib.course.book import build_book

    try:
        log(f"book: {build_book(run_dir)}")
    except Exception as exc:  # noqa: BLE001 (any failure here must not cost the run)
        get_logger(__name__).warning(f"muzo course: the book was not built: {type(exc).__name__}: {exc} "
                                     f"(rebuild it with `muzo book {run_dir}`)")


def course_cv_folds(data_dir: str | os.PathLike, run_dir: str | os.PathLike, seed: int = 0) -> tuple[int, str]:
    """How many folds `muzo course` cross-validates with, and why, in words.

    The rule: a dataset folder (real recordings) whose split (made exactly as the notebooks
    make it, and kept in ``run_dir`` for them) leaves fewer than :data:`SMALL_TEST_SPLIT`
    test tracks gets :data:`COURSE_CV_FOLDS` folds; larger test splits get none (0), and so
    does the built-in generated dataset without being scanned first (its split leaves 48 test
    tracks, and it may not be generated yet).
    """
    if not data_dir:
        return 0, "off (the built-in generated dataset)"
    from muzo_lib.data.runs import prepare_run

    run = prepare_run(project_path(data_dir), run_dir, seed=seed)
    n_test = int((run.tracks.split == "test").sum())
    if n_test >= SMALL_TEST_SPLIT:
        return 0, f"off (the test split holds {n_test} tracks, at least {SMALL_TEST_SPLIT})"
    return COURSE_CV_FOLDS, (f"{COURSE_CV_FOLDS} folds over all {len(run.tracks)} tracks, because the test split "
                             f"holds only {n_test} (fewer than {SMALL_TEST_SPLIT})")


def _cv_choice(cv_folds: int | None, given: dict, run_dir: Path) -> tuple[int, str]:
    """The ``cv_folds`` every notebook that has one receives, and the summary's line on it."""
    if cv_folds is None and given.get("cv_folds") is None:
        folds, why = course_cv_folds(given["data_dir"], run_dir, seed=given.get("seed", 0))
    else:
        folds = int(cv_folds if cv_folds is not None else given["cv_folds"])
        why = f"{folds} folds, as asked" if folds else "off, as asked"
    if folds == 1 or folds < 0:
        raise ValueError(f"cv_folds must be 0 (off) or at least 2, got {folds}")
    return folds, (f"Cross-validation: {why}; automatic below {SMALL_TEST_SPLIT} test tracks on a dataset folder, "
                   "`--cv-folds K` sets it (0: off)")


def _forget_cross_validation(run_dir: Path, notebook: str) -> None:
    """Remove the cross-validation results an earlier run of ``notebook`` left in the run, so
    the summary never shows a stale one (the notebook writes them again when it cross-validates)."""
    import json

    for path in sorted((run_dir / "cv").glob("*.json")):
        try:
            stale = json.loads(path.read_text()).get("notebook") == notebook
        except (OSError, ValueError):
            stale = False
        if stale:
            path.unlink()


def _local_kernel_manager():
    """A kernel manager that talks to its kernel over local Unix sockets (IPC) rather than
    TCP ports: nothing listens on the network, and ipykernel has no reason to warn about
    unencrypted TCP for every notebook."""
    from jupyter_client.manager import AsyncKernelManager

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return LocalKernelManager


def _parameter_names(nb_path: Path) -> set[str]:
    """The names a notebook's ``parameters`` cell defines, as papermill reads them."""
    import papermill as pm

    return set(pm.inspect_notebook(str(nb_path)))


def _export_figures(executed: Path, folder: Path) -> int:
    """Save every PNG output of an executed notebook as ``<notebook>_<n>.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for cell in nbformat.read(executed, as_version=4).cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                count += 1
                (folder / f"{executed.stem}_{count:02d}.png").write_bytes(base64.b64decode(png))
    return count


def _with_interval(metrics: dict, key: str) -> str:
    value, interval = metrics.get(key), metrics.get(f"{key}_ci")
    if value is None:
        return "-"
    return f"{value:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]" if interval else f"{value:.1f}"


def _summary(run_dir: Path, timings: list[tuple[str, float]], data_dir: str, parameters: dict | None = None,
             cv_note: str = "") -> str:
    lines = [f"# Muzo course run `{run_dir.name}`", "",
             f"Dataset: {data_dir or 'built-in generated dataset'}; python {sys.version.split()[0]}",
             f"Machine: {describe_machine()}",
             f"Settings: {_settings(parameters)}", *_protocol(run_dir), *([cv_note] if cv_note else []), "",
             "| notebook | minutes |", "|---|---|"]
    lines += [f"| {name} | {seconds / 60:.1f} |" for name, seconds in timings]
    metrics = load_metrics(run_dir)
    if metrics:
        lines += ["", "Test split (the run's train/valid/test split, protocol above), track level, with 95% bootstrap "
                  "intervals over the test tracks:", "",
                  "| model | accuracy % | macro F1 % | tracks |", "|---|---|---|---|"]
        for name, m in metrics.items():
            if m.get("accuracy") is not None:
                lines.append(f"| {name} | {_with_interval(m, 'accuracy')} | {_with_interval(m, 'macro_f1')} "
                             f"| {m.get('n', '')} |")
    return "\n".join(lines + _cross_validation_table(run_dir)) + "\n"


def _cross_validation_table(run_dir: Path) -> list[str]:
    """The run's cross-validated scores (``cv/<name>.json``, see :func:`muzo_lib.data.runs.save_cv_metrics`)."""
    results = {name: m for name, m in load_metrics(run_dir, "cv").items() if m.get("accuracy") is not None}
    if not results:
        return []
    lines = ["", "Cross-validation, track level: every track predicted once by a model trained without it "
                 "(the run's split ignored), with 95% bootstrap intervals over all the tracks:", "",
             "| model | accuracy % | macro F1 % | tracks | folds | accuracy % per fold | notebook |",
             "|---|---|---|---|---|---|---|"]
    for name, m in results.items():
        folds = ", ".join(f"{f['accuracy']:.0f}" for f in m.get("per_fold", []))
        lines.append(f"| {name} | {_with_interval(m, 'accuracy')} | {_with_interval(m, 'macro_f1')} | {m.get('n', '')} "
                     f"| {m.get('k', '')} | {folds} | {m.get('notebook', '')} |")
    protocols = sorted({m.get("protocol", "") for m in results.values()} - {""})
    return lines + ["", *(f"Cross-validation protocol: {p}" for p in protocols)]


def _settings(parameters: dict | None) -> str:
    given = {k: v for k, v in (parameters or {}).items() if k not in ("data_dir", "run_dir")}
    return ", ".join(f"{k}={v!r}" for k, v in sorted(given.items())) or "the notebooks' defaults"


def split_sizes(run_dir: Path) -> dict[str, tuple[int, int]]:
    """Per side of the run's split (``train``, ``valid``, ``test``): its tracks and its known
    artists (0 when none is known), from ``split.csv``; empty when the run has no split yet."""
    import pandas as pd

    split = Path(run_dir) / "split.csv"
    if not split.is_file():
        return {}
    table = pd.read_csv(split, keep_default_na=False, dtype={"artist": str})
    sizes = {}
    for side in ("train", "valid", "test"):
        part = table[table.split == side]
        sizes[side] = (len(part), int(part.artist.where(part.artist != "", None).nunique()))
    return sizes


def _protocol(run_dir: Path) -> list[str]:
    """How the run split its tracks: the split, and per split how many tracks and artists."""
    import json

    meta, sizes = run_dir / "dataset.json", split_sizes(run_dir)
    if not meta.is_file() or not sizes:
        return []
    note = json.loads(meta.read_text()).get("split_note", "")
    sides = [f"{side} {tracks} tracks" + (f" / {artists} artists" if artists else "")
             for side, (tracks, artists) in sizes.items()]
    return [f"Protocol: {note}; " + ", ".join(sides)]
