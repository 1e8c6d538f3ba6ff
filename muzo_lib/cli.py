"""The ``muzo`` command. ``muzo --help`` lists the subcommands."""
from __future__ import annotations

import argparse
import sys


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
    predict.add_argument("--device", default=None, help="networks: cpu or cuda (default: cuda when present)")
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
    train.add_argument("--segment-seconds", type=_positive_float, default=None,
                       help="network crop length in seconds (default: 3)")
    train.add_argument("--levels", choices=("auto", "genre", "both"), default="auto",
                       help="networks: 'both' trains a genre head and a subgenre head (needs DIR/<genre>/<subgenre>/"
                            "<file>), 'genre' the genre only; 'auto' (default): both when the data has subgenres")
    train.add_argument("--trees", type=_positive_int, default=None, help="trees of the Random Forest (default: 200)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, weights and training (default: 0)")
    train.add_argument("--device", default=None, help="networks: cpu or cuda (default: cuda when present)")
    train.add_argument("--run-dir", default=None, metavar="DIR",
                       help="folder for the split and feature cache (default: runs/train-<output name>)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch log lines or progress bars")
    train.set_defaults(handler=_train)

    args = parser.parse_args(argv)
    from .course import CourseError
    try:
        return args.handler(args) or 0
    except (FileNotFoundError, NotADirectoryError, ValueError, CourseError) as exc:
        print(f"muzo {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"muzo {args.command}: interrupted", file=sys.stderr)
        return 130


def _course(args) -> int:
    from pathlib import Path

    from .course import run_course

    params = {name: _literal(value) for name, value in args.parameter}
    data_dir = str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else ""  # from where the command runs
    run_course(name=args.name, data_dir=data_dir, parameters=params, only=args.only)
    return 0


def _predict(args) -> int:
    import json
    from pathlib import Path

    from .prediction import expand_inputs, load_model, predict_files, results_table

    model = load_model(Path(args.model).expanduser().resolve(), device=args.device)
    files = expand_inputs(args.inputs)
    if not files:
        raise FileNotFoundError("no audio files found in " + ", ".join(args.inputs))
    results = predict_files(model, files, top_k=args.top_k, progress=not (args.no_progress or args.json))
    good = [r for r in results if r.ok]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        import pandas as pd

        table = results_table(results, top_k=args.top_k).drop(columns="error")
        table["file"] = [r.path for r in results]
        table["confidence %"] = [f"{100 * r.confidence:.1f}" if r.ok else "-" for r in results]
        if model.tree is not None:  # two levels: "genre / subgenre" and the subgenre's confidence within its genre
            table.insert(3, "subgenre %", [f"{100 * r.subgenre_confidence:.1f}" if r.ok and r.subgenre else "-"
                                           for r in results])
        with pd.option_context("display.max_colwidth", None, "display.width", 160):
            print(table.to_string(index=False, justify="left"))
        levels = f", {len(model.tree.subgenres)} subgenres" if model.tree is not None else ""
        print(f"{len(good)} of {len(results)} file(s) predicted with {model.kind} model {model.path.name} "
              f"({len(model.classes)} genres{levels})")
    for r in results:
        if not r.ok:
            print(f"muzo predict: {r.path}: {r.error}", file=sys.stderr)
    return 0 if good else 1


def _train(args) -> int:
    from pathlib import Path

    from .course_models import train_member
    from .evaluation import format_score
    from .paths import project_path
    from .runs import prepare_run
    from .training import TrainConfig

    output = Path(args.output).expanduser().resolve()  # a command's paths are relative to where it runs
    expected = ".skops" if args.architecture == "rf" else ".pt"
    if output.suffix not in ((".skops",) if args.architecture == "rf" else (".pt", ".pth")):
        raise ValueError(f"--output for --architecture {args.architecture} should end in {expected}, got {output.name}")
    data_dir = Path(args.data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {args.data_dir}")
    run_dir = Path(args.run_dir).expanduser().resolve() if args.run_dir else project_path(Path("runs") / f"train-{output.stem}")
    run = prepare_run(data_dir, run_dir, seed=args.seed)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    say(f"{len(run.tracks)} tracks in {len(run.classes)} genres; split: {run.split_info.note}")
    for line in run.skipped():
        say(f"skipped {line}")
    levels = _levels(args, run, say)
    overrides = {"progress": not args.quiet, "verbose": not args.quiet, "device": args.device}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.segment_seconds is not None:
        overrides["segment_seconds"] = args.segment_seconds
    config = TrainConfig(**{**TrainConfig().to_dict(), **overrides})  # the library's defaults, not the course's
    rf_params = {"n_estimators": args.trees} if args.trees else None
    out = train_member(run, args.architecture, path=output, seed=args.seed, train_config=config,
                       rf_params=rf_params, progress=not args.quiet, levels=levels)
    test = out.get("test")
    score = (f"test accuracy % {format_score(test['accuracy'], test['accuracy_ci'], test['n'])}, macro F1 % "
             f"{format_score(test['macro_f1'], test['macro_f1_ci'], test['n'])}; 95% bootstrap intervals"
             if test and test["n"] else "no test tracks")
    print(f"saved {args.architecture} model to {out['path']} ({score})")
    if out.get("levels"):
        scores = out["levels"]["decoders"][out["levels"]["decoder"]]["scores"]
        sub, given = scores["subgenre"], scores["subgenre_given_genre"]
        print(f"subgenres ({out['levels']['decoder']}): test accuracy % {format_score(sub['value'], sub['ci'], sub['n'])} "
              f"(chance {scores['subgenre_chance']:.1f}); given the right genre "
              f"{format_score(given['value'], given['ci'], given['n'])}")
    return 0


def _levels(args, run, say) -> str:
    """``--levels`` made concrete for this dataset: ``"both"`` or ``"genre"``; layout problems said once."""
    from .hierarchy import ClassTree, check_layout

    tree = ClassTree.from_labels(run.tracks.genre, run.tracks.subgenre)
    for line in check_layout(run.manifest):
        say(f"layout: {line}")
    if args.levels == "both" and not tree.has_subgenres:
        raise ValueError(f"--levels both needs subgenre folders (<genre>/<subgenre>/<file>); {args.data_dir} has none")
    levels = args.levels if args.levels != "auto" else ("both" if tree.has_subgenres else "genre")
    if levels == "both":
        say(f"two levels: {len(tree.genres)} genres, {len(tree.subgenres)} subgenres")
    return levels


def _positive_int(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
