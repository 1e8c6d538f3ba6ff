"""The ``muzo`` command. ``muzo --help`` lists the subcommands."""
from __future__ import annotations

import argparse
import os
import sys

#: Shortest --segment-seconds: a CNN's four poolings need 16 frames (0.37 s at 22050 Hz / hop 512).
MIN_SEGMENT_SECONDS = 0.5


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong argument is one line on stderr (no usage block), status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="muzo", description="Music genre classification: the Muzo course and tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    course = commands.add_parser("course", help="run the course notebooks in order with papermill",
                                 description="Run the course notebooks in order; results go to runs/NAME/.")
    course.add_argument("--name", default="course", help="run name: results go to runs/NAME/ (default: course)")
    course.add_argument("--data-dir", default="", help="dataset folder (default: the built-in generated dataset)")
    course.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose names start with these, e.g. 00 03")
    course.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter (repeatable), e.g. -p epochs 50")
    course.set_defaults(handler=_course)

    predict = commands.add_parser(
        "predict", help="predict the genre of audio files or folders with a saved model",
        description="Predict the genre of each audio file (folders: every audio file inside, recursively) with "
                    "a saved model: a network checkpoint (.pt) or a Random Forest (.skops). Prints a table, or "
                    "JSON with --json. Unreadable files are reported one per line; the exit status is non-zero "
                    "only if no file could be predicted.",
        epilog="example: muzo predict song.mp3 my_music/ --model runs/course/models/cnn.pt --top-k 3")
    predict.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files and/or folders")
    predict.add_argument("--model", required=True, metavar="PATH",
                         help="model file: network checkpoint (.pt, from `muzo train` or the course) or Random Forest (.skops)")
    predict.add_argument("--json", action="store_true", help="print JSON (one object per file) instead of a table")
    predict.add_argument("--top-k", type=_positive_int, default=3, metavar="K",
                         help="genres listed per file, best first (default: 3)")
    predict.add_argument("--device", type=_device, default=None, help="networks: cpu or cuda (default: cuda when present)")
    predict.add_argument("--max-seconds", type=_positive_float, default=None, metavar="S",
                         help="score at most the centred S seconds of each file (default: the model's own cap, "
                              "600 s for networks, 120 s for Random Forests; bounds memory on long files)")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    predict.set_defaults(handler=_predict)

    train = commands.add_parser(
        "train", help="train a genre model on a folder of genre sub-folders and save it",
        description="Train a model on DIR/<genre>/[<subgenre>/]<file> with the library defaults (artist-/track-"
                    "grouped train/valid/test split, best epoch chosen on valid) and save it to --output. "
                    "Prints the test accuracy at track level.",
        epilog="example: muzo train --data-dir my_music --architecture cnn --output models/my_cnn.pt")
    train.add_argument("--data-dir", required=True, metavar="DIR", help="dataset folder: one sub-folder per genre")
    train.add_argument("--architecture", required=True, choices=("cnn", "hybrid", "rf"),
                       help="cnn (spectrogram CNN), hybrid (CNN + BiLSTM + attention) or rf (Random Forest on "
                            "hand-made features)")
    train.add_argument("--output", required=True, metavar="PATH",
                       help="model file to write (.pt for cnn/hybrid, .skops for rf)")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="most training epochs for networks (default: the library's, 30)")
    train.add_argument("--segment-seconds", type=_segment_seconds, default=None,
                       help=f"network crop length in seconds, at least {MIN_SEGMENT_SECONDS:g} (default: 3)")
    train.add_argument("--trees", type=_positive_int, default=None, help="trees of the Random Forest (default: 200)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, weights and training (default: 0)")
    train.add_argument("--device", type=_device, default=None, help="networks: cpu or cuda (default: cuda when present)")
    train.add_argument("--run-dir", default=None, metavar="DIR",
                       help="folder for the split and feature cache (default: one per dataset and output in "
                            "the user cache, ~/.cache/muzo/runs/; rebuilt when the dataset's files change)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch log lines, progress bars or library warnings")
    train.set_defaults(handler=_train)

    args = parser.parse_args(argv)
    from .course import CourseError
    try:
        return args.handler(args) or 0
    except BrokenPipeError:  # `muzo predict ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail too
        return 1
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError, CourseError) as exc:
        print(f"muzo {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"muzo {args.command}: interrupted", file=sys.stderr)
        return 130


def _course(args) -> int:
    from .course import run_course

    params = {name: _literal(value) for name, value in args.parameter}
    run_course(name=args.name, data_dir=args.data_dir, parameters=params, only=args.only)
    return 0


def _predict(args) -> int:
    import json
    from pathlib import Path

    from .prediction import expand_inputs, load_model, predict_files, results_table

    model = load_model(Path(args.model).expanduser().resolve(), device=args.device)
    files, missing = [], []
    for item in args.inputs:  # a missing input is reported with the rest, not fatal to the batch
        try:
            files += expand_inputs([item])
        except FileNotFoundError as exc:
            missing.append((item, exc))
    if not files:
        raise missing[0][1] if missing else FileNotFoundError("no audio files found in " + ", ".join(args.inputs))
    results = predict_files(model, files, top_k=args.top_k, progress=not (args.no_progress or args.json),
                            **({"max_seconds": args.max_seconds} if args.max_seconds else {}))
    results += [{"path": item, "genre": None, "confidence": None, "top_k": None, "probabilities": None,
                 "seconds": None, "warning": None, "error": "no such file or folder"} for item, _ in missing]
    good = [r for r in results if r["error"] is None]
    if args.json:
        payload = [{"file": r["path"], "genre": r["genre"], "confidence": r["confidence"],
                    "top_k": None if r["top_k"] is None else [{"genre": g, "probability": p} for g, p in r["top_k"]],
                    "probabilities": r["probabilities"], "seconds": r["seconds"], "warning": r.get("warning"),
                    "error": r["error"]}
                   for r in results]
        print(json.dumps(payload, indent=2, allow_nan=False))
    else:
        import pandas as pd

        table = results_table(results, top_k=args.top_k).drop(columns="error")
        table["file"] = [r["path"] for r in results]
        table["confidence %"] = ["-" if r["error"] else f"{100 * r['confidence']:.1f}" for r in results]
        with pd.option_context("display.max_colwidth", None, "display.width", 160):
            print(table.to_string(index=False, justify="left"))
        print(f"{len(good)} of {len(results)} file(s) predicted with {model.kind} model {model.path.name} "
              f"({len(model.classes)} genres)")
    for r in results:
        if r["error"] is not None:
            print(f"muzo predict: {r['path']}: {r['error']}", file=sys.stderr)
        elif r.get("warning"):
            print(f"muzo predict: {r['path']}: {r['warning']}: no genre given", file=sys.stderr)
    return 0 if good else 1


def _train(args) -> int:
    from pathlib import Path

    from .ensemble import train_member
    from .paths import check_writable_file, default_train_run_dir
    from .runs import prepare_run
    from .training import TrainConfig

    if args.quiet:
        import warnings
        warnings.simplefilter("ignore")  # librosa/sklearn/torch warnings too: --quiet means quiet
    output = Path(args.output).expanduser().resolve()  # a command's paths are relative to where it runs
    expected = ".skops" if args.architecture == "rf" else ".pt"
    if output.suffix not in ((".skops",) if args.architecture == "rf" else (".pt", ".pth")):
        raise ValueError(f"--output for --architecture {args.architecture} should end in {expected}, got {output.name}")
    check_writable_file(output)  # before any training: a bad path must not cost every epoch
    data_dir = Path(args.data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {args.data_dir}")
    run_dir = Path(args.run_dir).expanduser().resolve() if args.run_dir else default_train_run_dir(data_dir, output)
    run = prepare_run(data_dir, run_dir, seed=args.seed)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    if run.dataset_changes:
        say(f"the dataset changed since {run_dir} was made ({run.dataset_changes}): manifest and split rebuilt")
    say(f"{len(run.tracks)} tracks in {len(run.classes)} genres; split: {run.split_info.note}")
    for line in run.skipped():
        say(line)
    empty = [s for s in ("train", "valid", "test") if run.subset(s).empty]
    if empty:
        raise ValueError(f"{len(run.tracks)} usable tracks in {len(run.classes)} genres are too few for a train/valid/test "
                         f"split (no {' or '.join(empty)} tracks); each genre needs at least 3 tracks")
    overrides = {"progress": not args.quiet, "verbose": not args.quiet, "device": args.device}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.segment_seconds is not None:
        overrides["segment_seconds"] = args.segment_seconds
    config = TrainConfig(**{**TrainConfig().to_dict(), **overrides})
    rf_params = {"n_estimators": args.trees} if args.trees else None
    out = train_member(run, args.architecture, path=output, seed=args.seed, train_config=config,
                       rf_params=rf_params, progress=not args.quiet)
    test = out.get("test")
    score = (f"test accuracy {test['accuracy']:.1f}%, macro F1 {test['macro_f1']:.1f}% on {test['n']} tracks"
             if test and test["n"] else "no test tracks")
    print(f"saved {args.architecture} model to {out['path']} ({score})")
    return 0


def _positive_int(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _device(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto``: checked before anything loads."""
    import re
    if not re.fullmatch(r"cpu|auto|cuda(:\d+)?", text):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda, cuda:N or auto, got {text!r}")
    return text


def _segment_seconds(text: str) -> float:
    value = _positive_float(text)
    if value < MIN_SEGMENT_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_SEGMENT_SECONDS:g} s (the networks need that many "
                                         f"frames), got {value:g}")
    return value


def _positive_float(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _literal(text: str):
    """``"50"`` -> 50, ``"0.5"`` -> 0.5, ``"true"`` -> True; anything else stays a string."""
    import ast
    lowered = {"true": True, "false": False, "none": None}.get(text.lower(), text)
    if lowered is not text:
        return lowered
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


if __name__ == "__main__":
    sys.exit(main())
