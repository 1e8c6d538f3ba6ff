"""The ``muzo`` command. ``muzo --help`` lists the subcommands."""
from __future__ import annotations

import argparse
import os
import sys

from muzo_lib.models.kinds import model_kind, trainable_kinds

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
    course.add_argument("--cv-folds", type=_cv_folds, default=None, metavar="K",
                        help="notebooks 02-04 also cross-validate their model over every track with K folds (0: off); "
                             "default: 5 when a --data-dir split leaves fewer than 48 test tracks, else off")
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
        epilog="examples: muzo train --data-dir my_music --architecture cnn --output models/my_cnn.pt\n"
               "          muzo train --data-dir my_music --architecture rf --cv 5      (cross-validation only)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--data-dir", required=True, metavar="DIR", help="dataset folder: one sub-folder per genre")
    kinds = trainable_kinds()                        # muzo_lib.models.kinds: every kind that trains
    train.add_argument("--architecture", required=True, choices=[k.name for k in kinds],
                       help=", ".join(f"{k.name} ({k.description})" for k in kinds))
    train.add_argument("--output", metavar="PATH",
                       help="model file to write (" + ", ".join(f"{k.suffixes[0]} for {k.name}" for k in kinds)
                       + "); required unless --cv is given")
    train.add_argument("--cv", type=_positive_int, default=None, metavar="K",
                       help="first cross-validate: K grouped folds, every track predicted once by a model that never "
                            "saw it; prints per-fold and pooled accuracy with a 95%% interval (the protocol for small "
                            "datasets)")
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help="most training epochs for networks (default: the library's, 30)")
    train.add_argument("--segment-seconds", type=_segment_seconds, default=None,
                       help=f"network crop length in seconds, at least {MIN_SEGMENT_SECONDS:g} (default: 3)")
    train.add_argument("--levels", choices=("auto", "genre", "both"), default="auto",
                       help="networks and forests: 'both' trains a genre head and a subgenre head (needs DIR/<genre>/"
                            "<subgenre>/<file>), 'genre' the genre only; 'auto' (default): both when the data has subgenres")
    train.add_argument("--trees", type=_positive_int, default=None,
                       help="trees of the Random Forest (default: the course's, COURSE_FOREST in muzo_lib.course.members)")
    train.add_argument("--pretrained", default=None, metavar="CHECKPOINT",
                       help="musicnn and musicnn-finetune: the musicnn checkpoint to start from, MSD_musicnn (default) or "
                            "MTT_musicnn (MSD_vgg and MTT_vgg are not yet available: their VGG network is not ported)")
    train.add_argument("--finetune", default=None, metavar="MODE",
                       help="musicnn-finetune: what trains besides the new head: head (nothing else: the body frozen), "
                            "top (default: musicnn's back end, the 200-unit dense layer and its batch-norms) or all")
    train.add_argument("--finetune-features", default=None, metavar="LAYER",
                       help="musicnn-finetune: what the new head reads: penultimate (default: the 200-unit embedding) or "
                            "pooled (the 1506 mean- and max-pooled front/mid-end channels; top then trains the mid end)")
    train.add_argument("--body-lr-factor", type=_positive_float, default=None, metavar="F",
                       help="musicnn-finetune: learning rate of the pretrained layers as a multiple of the head's, "
                            "at most 1 (default: 0.1)")
    train.add_argument("--warmup-steps", type=_positive_int, default=None, metavar="N",
                       help="networks: ramp the learning rate linearly over the first N optimizer steps (default: none; "
                            "musicnn-finetune: one epoch's steps, at most 500)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, weights and training (default: 0)")
    train.add_argument("--device", type=_device, default=None, help="networks: cpu or cuda (default: cuda when present)")
    train.add_argument("--run-dir", default=None, metavar="DIR",
                       help="folder for the split and feature cache (default: one per dataset and output in "
                            "the user cache, ~/.cache/muzo/runs/; rebuilt when the dataset's files change)")
    train.add_argument("--quiet", action="store_true", help="no per-epoch log lines, progress bars or library warnings")
    train.add_argument("--log-level", type=str.upper, choices=("DEBUG", "INFO", "WARNING", "ERROR"), default=None,
                       help="what the library logs: DEBUG, INFO (default: the per-epoch lines), WARNING (as --quiet) or "
                            "ERROR")
    train.add_argument("--log-timestamps", action="store_true", help="start every log line with the date and time")
    train.add_argument("--resume", action="store_true",
                       help="networks: continue an interrupted training from the last checkpoint kept next to --output "
                            "(OUTPUT.last.pt), with the same data and settings")
    train.add_argument("--nproc", type=_positive_int, default=1, metavar="N",
                       help="networks: train with N processes on this machine (torchrun + DistributedDataParallel, "
                            "one per GPU; see docs/distributed.md for several machines)")
    train.set_defaults(handler=_train)

    _add_listen_and_export(commands)
    _add_book(commands)
    _add_data(commands)

    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _logging(args):
            return args.handler(args) or 0
    except BrokenPipeError:  # `muzo predict ... | head`: the reader left; say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail too
        return 1
    except _user_errors() as exc:
        print(f"muzo {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"muzo {args.command}: interrupted", file=sys.stderr)
        return 130


def _logging(args):
    """The ``muzo`` logger's level and line format for this command (``--log-level``,
    ``--quiet`` = WARNING, ``--log-timestamps``), restored when it returns."""
    import contextlib

    if not hasattr(args, "log_level"):
        return contextlib.nullcontext()
    from muzo_lib.io.log import logging_settings

    level = args.log_level or ("WARNING" if getattr(args, "quiet", False) else "INFO")
    return logging_settings(level, timestamps=args.log_timestamps)


def _user_errors() -> tuple:
    """Exceptions that mean bad input or a failed notebook: one line, status 2.

    Evaluated only when an exception is being matched, and without importing the course
    machinery (which imports torch): a CourseError exists only if the course module ran.
    """
    course = sys.modules.get("muzo_lib.course.runner")
    return (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ValueError) + \
        ((course.CourseError,) if course else ())


def _course(args) -> int:
    from pathlib import Path

    from muzo_lib.course.runner import run_course

    params = {name: _literal(value) for name, value in args.parameter}
    data_dir = str(Path(args.data_dir).expanduser().resolve()) if args.data_dir else ""  # from where the command runs
    run_course(name=args.name, data_dir=data_dir, parameters=params, only=args.only, cv_folds=args.cv_folds)
    return 0


def _predict(args) -> int:
    import json
    from pathlib import Path

    from muzo_lib.inference.prediction import expand_inputs, load_model, predict_files, results_table
    from muzo_lib.models.result import Prediction

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
    results += [Prediction(path=str(item), error="no such file or folder") for item, _ in missing]
    good = [r for r in results if r.ok]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, allow_nan=False))
    else:
        import pandas as pd

        table = results_table(results, top_k=args.top_k).drop(columns="error")
        table["file"] = [r.path for r in results]
        table["confidence %"] = [f"{100 * r.confidence:.1f}" if r.ok else "-" for r in results]
        if getattr(model, "tree", None) is not None:  # two levels: "genre / subgenre" and the subgenre's confidence within its genre
            table.insert(3, "subgenre %", [f"{100 * r.subgenre_confidence:.1f}" if r.ok and r.subgenre else "-"
                                           for r in results])
        with pd.option_context("display.max_colwidth", None, "display.width", 160):
            print(table.to_string(index=False, justify="left"))
        levels = f", {len(model.tree.subgenres)} subgenres" if getattr(model, "tree", None) is not None else ""
        print(f"{len(good)} of {len(results)} file(s) predicted with {model.kind} model {model.path.name} "
              f"({len(model.classes)} genres{levels})")
    for r in results:
        if not r.ok:
            print(f"muzo predict: {r.path}: {r.error}", file=sys.stderr)
        elif r.warning:
            print(f"muzo predict: {r.path}: {r.warning}: no genre given", file=sys.stderr)
    return 0 if good else 1


def _train(args) -> int:
    from pathlib import Path

    from muzo_lib.io.paths import check_writable_file
    from muzo_lib.training.checkpoints import last_checkpoint_path
    from muzo_lib.training.distributed import init_distributed, launched_by_torchrun, shutdown

    if args.quiet:
        import warnings
        warnings.simplefilter("ignore")  # librosa/sklearn/torch warnings too: --quiet means quiet
    if args.output is None and args.cv is None:
        raise ValueError("give --output PATH (the model file to write), --cv K (cross-validate), or both")
    if args.cv is not None and args.cv < 2:
        raise ValueError(f"--cv needs at least 2 folds, got {args.cv}")
    output = Path(args.output).expanduser().resolve() if args.output else None  # relative to where it runs
    kind = model_kind(args.architecture)
    args.model_options = _model_options(args, kind)
    if output is not None and output.suffix not in kind.suffixes:
        raise ValueError(f"--output for --architecture {kind.name} should end in {kind.suffixes[0]}, got {output.name}")
    if not kind.network and (args.resume or args.nproc > 1 or launched_by_torchrun()):
        networks = ", ".join(k.name for k in trainable_kinds() if k.network)
        raise ValueError(f"--resume, --nproc and torchrun are for networks trained here ({networks}); {kind.name} "
                         "trains in one go")
    if args.resume and (output is None or not last_checkpoint_path(output).is_file()):
        raise FileNotFoundError("nothing to resume: " + (f"{last_checkpoint_path(output)} does not exist" if output
                                                           else "--resume needs --output"))
    if args.cv is not None and (args.nproc > 1 or launched_by_torchrun()):
        raise ValueError("--cv trains one process per fold; run it without --nproc or torchrun")
    if output is not None:
        check_writable_file(output)  # before any training: a bad path must not cost every epoch
    data_dir = Path(args.data_dir).expanduser().resolve()
    if not data_dir.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {args.data_dir}")
    if args.nproc > 1 and not launched_by_torchrun():
        return _torchrun(args.nproc, args.argv)
    world = init_distributed(args.device)               # joins torchrun's group; nothing when alone
    try:
        return _train_here(args, output, data_dir, world)
    finally:
        shutdown()


def _torchrun(nproc: int, argv: list[str]) -> int:
    """``muzo train --nproc N``: start N copies of this same command under torchrun on this machine."""
    import subprocess

    rest, skip = [], False
    for token in argv:                    # drop --nproc N (torchrun would read it as its own --nproc-per-node)
        name = token.split("=", 1)[0]
        if skip or (len(name) > 3 and "--nproc".startswith(name)):
            skip = not skip and "=" not in token
            continue
        rest.append(token)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "muzo_lib.cli", *rest]
    return subprocess.run(command).returncode


def _train_here(args, output, data_dir, world) -> int:
    """Train in this process: alone, or as one rank of a torchrun job (``world``)."""
    from pathlib import Path

    from muzo_lib.course.members import cross_validate, train_member
    from muzo_lib.data.runs import prepare_run
    from muzo_lib.evaluation.metrics import format_score
    from muzo_lib.io.paths import default_train_run_dir
    from muzo_lib.training.distributed import main_process_first
    from muzo_lib.training.loop import TrainConfig

    named = output if output is not None else Path(f"cv-{args.architecture}")
    run_dir = Path(args.run_dir).expanduser().resolve() if args.run_dir else default_train_run_dir(data_dir, named)
    with main_process_first():                         # rank 0 scans and writes the manifest, then the others read it
        run = prepare_run(data_dir, run_dir, seed=args.seed)
    if world.world_size > 1:                           # every rank builds its share of the log-mel cache at once
        from muzo_lib.features.spectrogram import MelConfig
        run.logmels(MelConfig(), progress=not args.quiet and world.is_main)
    say = (lambda *a: None) if args.quiet or not world.is_main else (lambda *a: print(*a, file=sys.stderr))
    if run.dataset_changes:
        say(f"the dataset changed since {run_dir} was made ({run.dataset_changes}): manifest and split rebuilt")
    say(f"{len(run.tracks)} tracks in {len(run.classes)} genres; split: {run.split_info.note}")
    for line in run.skipped():
        say(line)
    empty = [s for s in ("train", "valid", "test") if run.subset(s).empty]
    if empty:
        raise ValueError(f"{len(run.tracks)} usable tracks in {len(run.classes)} genres are too few for a train/valid/test "
                         f"split (no {' or '.join(empty)} tracks); each genre needs at least 3 tracks")
    levels = _levels(args, run, say) if model_kind(args.architecture).subgenres else "genre"  # e.g. musicnn: genre only
    overrides = {"progress": not args.quiet, "verbose": not args.quiet, "device": args.device}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.segment_seconds is not None:
        overrides["segment_seconds"] = args.segment_seconds
    if args.warmup_steps is not None:
        overrides["warmup_steps"] = args.warmup_steps
    model_options = args.model_options
    config = TrainConfig(**{**TrainConfig().to_dict(), **overrides})  # the library's defaults, not the course's
    rf_params = {"n_estimators": args.trees} if args.trees else None
    if args.cv is not None:
        cv = cross_validate(run, args.architecture, k=args.cv, seed=args.seed, train_config=config,
                            model_options=model_options, rf_params=rf_params, progress=not args.quiet, log=say)
        folds = ", ".join(f"{accuracy:.0f}" for accuracy in cv.fold_accuracy)
        print(f"{args.architecture}: cross-validated accuracy % {format_score(cv.accuracy, cv.accuracy_ci, cv.n)}"
              f", macro F1 % {format_score(cv.macro_f1, cv.macro_f1_ci, cv.n)} (95% bootstrap intervals; "
              f"per fold: {folds}); {cv.protocol}")
        if output is None:
            return 0
    out = train_member(run, args.architecture, path=output, seed=args.seed, train_config=config,
                       model_options=model_options, rf_params=rf_params, progress=not args.quiet, resume=args.resume, levels=levels)
    test = out.get("test")
    score = (f"test accuracy % {format_score(test['accuracy'], test['accuracy_ci'], test['n'])}, macro F1 % "
             f"{format_score(test['macro_f1'], test['macro_f1_ci'], test['n'])}; 95% bootstrap intervals"
             if test and test["n"] else "no test tracks")
    if world.is_main:
        print(f"saved {args.architecture} model to {out['path']} ({score})")
        if out.get("levels"):
            scores = out["levels"]["decoders"][out["levels"]["decoder"]]["scores"]
            sub, given = scores["subgenre"], scores["subgenre_given_genre"]
            print(f"subgenres ({out['levels']['decoder']}): test accuracy % {format_score(sub['value'], sub['ci'], sub['n'])} "
                  f"(chance {scores['subgenre_chance']:.1f}); given the right genre "
                  f"{format_score(given['value'], given['ci'], given['n'])}")
    return 0


def _add_listen_and_export(commands) -> None:
    listen = commands.add_parser(
        "listen", help="classify a live stream: a pipe, a file played as a stream, or the microphone",
        description="Classify audio as it arrives and print the genre every hop: SOURCE '-' reads raw float32 mono "
                    "PCM at --rate from standard input; a file path plays the file as a stream (at real speed, or "
                    "--as-fast-as-possible); no SOURCE opens the default input device (needs sounddevice). "
                    "Probabilities are smoothed over recent windows (--smoothing). Ctrl-C ends.",
        epilog="example: ffmpeg -i radio.m3u8 -f f32le -ac 1 -ar 22050 - | muzo listen - --model cnn.pt")
    listen.add_argument("source", nargs="?", default=None, metavar="SOURCE",
                        help="'-' (raw float32 PCM on stdin), an audio file, or nothing (the microphone)")
    listen.add_argument("--model", required=True, metavar="PATH", help="model file: .pt, .skops or .onnx")
    listen.add_argument("--rate", type=_positive_int, default=None, metavar="HZ",
                        help="sample rate of stdin PCM (default: 22050) or of the microphone (default: its own)")
    listen.add_argument("--window", type=_positive_float, default=None, metavar="S",
                        help="seconds of audio scored per update (default: the model's training crop)")
    listen.add_argument("--hop", type=_positive_float, default=1.0, metavar="S", help="seconds between updates (default: 1)")
    listen.add_argument("--smoothing", type=float, default=0.5,
                        help="weight of the past in the moving average of probabilities, 0 to <1 (default: 0.5)")
    listen.add_argument("--top-k", type=_positive_int, default=3, metavar="K", help="genres listed per update (default: 3)")
    listen.add_argument("--json", action="store_true", help="one JSON object per update (JSON lines)")
    listen.add_argument("--as-fast-as-possible", action="store_true",
                        help="file SOURCE: do not wait for real time (for tests and batch use)")
    listen.add_argument("--device", default=None, help="networks: cpu or cuda (default: cuda when present)")
    listen.add_argument("--threads", type=_positive_int, default=1,
                        help="CPU threads for the network (default: 1; a window is too small to share out)")
    listen.add_argument("--input-device", default=None, metavar="NAME_OR_INDEX",
                        help="no SOURCE: the sounddevice input to open (default: the system's default input)")
    listen.set_defaults(handler=_listen)

    export = commands.add_parser(
        "export", help="export a network or musicnn model to ONNX (predict without PyTorch)",
        description="Write a network checkpoint (CNN or hybrid, genre-only or two-level; musicnn-finetune) or a "
                    "musicnn embedding classifier as an ONNX file whose metadata carries the classes (and class tree) "
                    "and the log-mel settings; "
                    "`muzo predict` and `muzo listen` then run it with onnxruntime, without torch.",
        epilog="example: muzo export --model runs/course/models/cnn.pt --format onnx --output cnn.onnx")
    export.add_argument("--model", required=True, metavar="PATH",
                        help="network checkpoint (.pt) or musicnn embedding classifier (.skops)")
    export.add_argument("--format", default="onnx", choices=("onnx",), help="output format (default: onnx)")
    export.add_argument("--output", required=True, metavar="PATH", help="file to write (.onnx)")
    export.set_defaults(handler=_export)

    _add_serve(commands)


def _add_serve(commands) -> None:
    from muzo_lib.serve.limits import Limits

    d = Limits()
    serve = commands.add_parser(
        "serve", help="an HTTP service and web page that predict the genre of uploaded audio",
        description="Serve a model over HTTP (FastAPI + uvicorn): POST /predict takes an audio file (multipart field "
                    "'file', or the raw body) and answers the JSON of `muzo predict --json` plus the genre over time; "
                    "GET /health, GET /model, /openapi.json, and a web page at / (upload or record). Binds to "
                    "127.0.0.1: for other machines put a TLS reverse proxy with authentication in front. Needs "
                    "pip install 'muzo[serve]'.",
        epilog="example: muzo serve --model cnn.onnx --port 8000   (then open http://127.0.0.1:8000/)")
    serve.add_argument("--model", required=True, metavar="PATH", help="model file: .pt, .skops or .onnx (loaded once)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=_port, default=8000, help="TCP port (default: 8000)")
    serve.add_argument("--max-upload-bytes", type=_positive_int, default=d.max_upload_bytes, metavar="BYTES",
                       help=f"largest request body, refused with 413 before it is read whole (default: {d.max_upload_bytes})")
    serve.add_argument("--max-audio-seconds", type=_positive_float, default=d.max_audio_seconds, metavar="S",
                       help="longest recording by its header, refused with 413 before decoding "
                            f"(default: {d.max_audio_seconds:g})")
    serve.add_argument("--request-timeout", type=_positive_float, default=d.request_timeout_s, metavar="S",
                       help=f"longest time to receive one upload, then 408 (default: {d.request_timeout_s:g})")
    serve.add_argument("--max-concurrent", type=_positive_int, default=d.max_concurrent, metavar="N",
                       help=f"predictions running at once; the model is shared (default: {d.max_concurrent})")
    serve.add_argument("--queue-wait", type=_positive_float, default=d.queue_wait_s, metavar="S",
                       help=f"longest wait for a free prediction slot, then 503 (default: {d.queue_wait_s:g})")
    serve.add_argument("--top-k", type=_positive_int, default=3, metavar="K", help="genres listed per file (default: 3)")
    serve.add_argument("--device", type=_device, default=None, help="networks: cpu or cuda (default: cuda when present)")
    serve.set_defaults(handler=_serve)


def _serve(args) -> int:
    from pathlib import Path

    from muzo_lib.serve.limits import Limits
    from muzo_lib.serve.server import check_installed, serve

    try:
        check_installed()
    except ModuleNotFoundError as exc:
        raise ValueError(str(exc)) from None
    model = Path(args.model).expanduser().resolve()
    if not model.is_file():
        raise FileNotFoundError(f"{args.model}: no such model file")
    limits = Limits(max_upload_bytes=args.max_upload_bytes, max_audio_seconds=args.max_audio_seconds,
                    request_timeout_s=args.request_timeout, max_concurrent=args.max_concurrent,
                    queue_wait_s=args.queue_wait)
    serve(model, host=args.host, port=args.port, limits=limits, top_k=args.top_k, device=args.device)
    return 0


def _add_book(commands) -> None:
    book = commands.add_parser(
        "book", help="build the book of a course run: its executed notebooks as pages to read offline",
        description="Turn a run's executed notebooks (RUN/notebooks/) into a static site: RUN/book/index.html with the "
                    "run's summary and one page per notebook, figures included, no network needed. `muzo course` "
                    "builds it at the end of every run; this rebuilds it, or writes the compressed copy the "
                    "repository publishes in docs/book/.",
        epilog="example: muzo book runs/course --output docs/book --compress")
    book.add_argument("run", nargs="?", default="runs/course", metavar="RUN",
                      help="the run's folder (default: runs/course)")
    book.add_argument("--output", default=None, metavar="DIR", help="where to write the book (default: RUN/book)")
    book.add_argument("--compress", action="store_true",
                      help="figures as 256-colour PNGs and audio as MP3 (the published book's form)")
    book.set_defaults(handler=_book)


def _book(args) -> int:
    from pathlib import Path

    from muzo_lib.course.book import build_book

    index = build_book(Path(args.run).expanduser(), args.output and Path(args.output).expanduser(), compress=args.compress)
    size = sum(f.stat().st_size for f in index.parent.rglob("*") if f.is_file())
    print(f"muzo book: {index} ({size / 1e6:.1f} MB)")
    return 0


def _add_data(commands) -> None:
    from muzo_lib.data.sources import SOURCES  # names and defaults only: no download machinery

    data = commands.add_parser(
        "data", help="download (or take --from) GTZAN or FMA, verify, unpack and lay it out for Muzo",
        description="Obtain a dataset: download it with a progress bar (an interrupted download resumes), verify the "
                    "archive against its publisher's checksum, unpack it safely and leave <genre>/<file> (GTZAN) or "
                    "<genre>/<subgenre>/<file> plus metadata.csv with artists and FMA's split (FMA), and "
                    "muzo_data.json (what was fetched, checksums, counts, skipped tracks). GTZAN's original link is "
                    "dead: pass your copy with --from. fma-small and fma-medium need fma-metadata first.",
        epilog="examples: muzo data fma-metadata && muzo data fma-small\n"
               "          muzo data gtzan --from ~/Downloads/genres.tar.gz",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    data.add_argument("name", choices=list(SOURCES), metavar="NAME", help="one of " + ", ".join(SOURCES))
    data.add_argument("--dest", default=None, metavar="DIR",
                      help="folder to create (default: " + ", ".join(f"{n}: {s.default_dest}" for n, s in SOURCES.items())
                      + "); must be missing or empty")
    data.add_argument("--from", dest="archive", default=None, metavar="ARCHIVE",
                      help="use this archive file instead of downloading (verified the same way; never modified)")
    data.add_argument("--url", "--mirror", dest="url", default=None, metavar="URL",
                      help="download from this address (a mirror) instead of the publisher's")
    data.add_argument("--checksum", default=None, metavar="ALGO:HEX",
                      help="expect this checksum instead of the published one (a mirror's), e.g. sha1:0123...")
    data.add_argument("--allow-unknown-checksum", action="store_true",
                      help="go on with an archive that matches no known checksum (recorded as unverified)")
    data.add_argument("--download-dir", default=None, metavar="DIR",
                      help="where downloads go and are kept (default: downloads/ next to --dest)")
    data.add_argument("--metadata", default=None, metavar="DIR",
                      help="fma-small/fma-medium: the folder with tracks.csv and genres.csv (default: data/fma_metadata)")
    data.add_argument("--retries", type=_whole_number_0, default=3, metavar="N",
                      help="dropped connections resumed within one run (default: 3; running again resumes too)")
    data.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    data.set_defaults(handler=_data)


def _data(args) -> int:
    from muzo_lib.data.acquire import obtain_dataset

    obtain_dataset(args.name, dest=args.dest, archive=args.archive, url=args.url, checksum=args.checksum,
                   allow_unknown_checksum=args.allow_unknown_checksum, download_dir=args.download_dir,
                   metadata=args.metadata, retries=args.retries, progress=not args.no_progress,
                   log=print)
    return 0


def _whole_number_0(text: str) -> int:
    return _whole_number(text, 0)


def _listen(args) -> int:
    import os
    from pathlib import Path

    from muzo_lib.inference.prediction import load_model
    from muzo_lib.inference.streaming import StreamingClassifier, device_chunks, file_chunks, limit_threads, pcm_chunks

    if args.rate is not None and args.source not in (None, "-"):
        raise ValueError("--rate is for '-' (stdin) and the microphone; a file says its own rate")
    if args.source == "-" and sys.stdin.isatty():
        raise ValueError("standard input is a terminal: pipe raw float32 mono PCM in, e.g. "
                         "ffmpeg -i FILE -f f32le -ac 1 -ar 22050 - | muzo listen - --model M")
    if args.source not in (None, "-") and not Path(args.source).expanduser().is_file():
        raise FileNotFoundError(f"{args.source}: no such audio file")
    model = load_model(Path(args.model).expanduser().resolve(), device=args.device)
    limit_threads(model, args.threads)
    if args.source == "-":
        rate = args.rate or 22050
        chunks = pcm_chunks(sys.stdin.buffer, rate)
    elif args.source is None:
        device = int(args.input_device) if args.input_device and args.input_device.isdigit() else args.input_device
        chunks = device_chunks(args.rate, device=device)
        first = next(chunks)                          # opens the device: errors surface here, in one line
        rate, chunks = first[1], _prepend(first, chunks)
    else:
        chunks = file_chunks(Path(args.source).expanduser(), realtime=not args.as_fast_as_possible)
        first = next(chunks, None)
        if first is None:
            raise ValueError(f"{args.source}: no audio frames")
        rate, chunks = first[1], _prepend(first, chunks)
    stream = StreamingClassifier(model, input_rate=rate, window_seconds=args.window, hop_seconds=args.hop,
                                 smoothing=args.smoothing, top_k=args.top_k)
    interrupted = False
    try:
        for update in stream.run(chunks):
            print(_update_line(update, args.json), flush=True)
    except KeyboardInterrupt:                         # Ctrl-C is how a live stream ends
        interrupted = True
    except BrokenPipeError:                           # `muzo listen ... | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if stream.received == 0 and not interrupted:
        raise ValueError("no audio received" + (" on standard input (expected raw float32 mono PCM)"
                                                if args.source == "-" else ""))
    if not args.json:
        print(f"{stream.updates} update(s) over {stream.time_s:.1f} s of audio with {model.kind} model "
              f"{Path(model.path).name}", file=sys.stderr)
    return 0


def _prepend(first, rest):
    yield first
    yield from rest


def _update_line(update: dict, as_json: bool) -> str:
    import json

    if as_json:
        payload = {k: update.get(k) for k in ("time_s", "genre", "confidence", "subgenre", "subgenre_confidence",
                                              "silent", "rms_dbfs", "raw_genre")}
        payload["top_k"] = None if update["top_k"] is None else [{"genre": g, "probability": p} for g, p in update["top_k"]]
        return json.dumps(payload)
    if update["silent"]:
        return f"{update['time_s']:8.1f} s  (silence, {update['rms_dbfs']:.0f} dBFS)"
    also = ", ".join(f"{g} {100 * p:.0f}%" for g, p in update["top_k"][1:])
    label = update["genre"] + (f" / {update['subgenre'].split('/')[-1]}" if update.get("subgenre") else "")
    return f"{update['time_s']:8.1f} s  {label:<12} {100 * update['confidence']:5.1f}%" + (f"  ({also})" if also else "")


def _export(args) -> int:
    from pathlib import Path

    try:
        from muzo_lib.inference.export import export_onnx
        from muzo_lib.training.checkpoints import CheckpointError
    except ModuleNotFoundError as exc:
        raise ValueError(f"exporting needs the {exc.name} package, which is not installed") from None

    model = Path(args.model).expanduser().resolve()
    output = Path(args.output).expanduser().resolve()
    if not model.is_file():
        raise FileNotFoundError(f"{args.model}: no such model file")
    if output.suffix != ".onnx":
        raise ValueError(f"--output should end in .onnx, got {output.name}")
    try:
        export_onnx(model, output)
    except ModuleNotFoundError as exc:
        raise ValueError(f"exporting needs the {exc.name} package, which is not installed (pip install 'muzo[onnx]')") from None
    except CheckpointError as exc:
        raise ValueError(f"{exc} (only network checkpoints, .pt, and musicnn embedding classifiers, .skops, "
                         "can be exported)") from None
    print(f"exported {model.name} to {output} ({output.stat().st_size / 1e6:.1f} MB, onnxruntime runs it without torch)")
    return 0


def _model_options(args, kind) -> dict | None:
    """``--pretrained``, ``--finetune``, ``--body-lr-factor`` as the kind's ``model_options``;
    a flag the kind does not read is refused in one line (before any data is read)."""
    given = {"pretrained": args.pretrained, "finetune": args.finetune, "features": args.finetune_features,
             "body_lr_factor": args.body_lr_factor}
    given = {k: v for k, v in given.items() if v is not None}
    foreign = sorted(k for k in given if k not in kind.options)
    if foreign:
        flags = ", ".join("--" + {"features": "finetune-features"}.get(k, k).replace("_", "-") for k in foreign)
        raise ValueError(f"{flags}: not an option of --architecture {kind.name}")
    if "pretrained" in given:
        from muzo_lib.models.pretrained.musicnn import check_variant

        check_variant(given["pretrained"])
    if set(given) & {"finetune", "features", "body_lr_factor"}:
        from muzo_lib.models.pretrained.finetune import FinetuneConfig

        FinetuneConfig(**{k: v for k, v in given.items() if k in ("finetune", "features", "body_lr_factor")})
    return given or None


def _levels(args, run, say) -> str:
    """``--levels`` made concrete for this dataset: ``"both"`` or ``"genre"``; layout problems said once."""
    from muzo_lib.models.hierarchy import ClassTree, check_layout

    tree = ClassTree.from_labels(run.tracks.genre, run.tracks.subgenre)
    for line in check_layout(run.manifest):
        say(f"layout: {line}")
    if args.levels == "both" and not tree.has_subgenres:
        raise ValueError(f"--levels both needs subgenre folders (<genre>/<subgenre>/<file>); {args.data_dir} has none")
    levels = args.levels if args.levels != "auto" else ("both" if tree.has_subgenres else "genre")
    if levels == "both":
        say(f"two levels: {len(tree.genres)} genres, {len(tree.subgenres)} subgenres")
    return levels


def _cv_folds(text: str) -> int:
    import argparse
    value = _whole_number(text, 0)
    if value == 1:
        raise argparse.ArgumentTypeError("must be 0 (off) or at least 2 folds, got 1")
    return value


def _positive_int(text: str) -> int:
    return _whole_number(text, 1)


def _whole_number(text: str, minimum: int) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _port(text: str) -> int:
    value = _whole_number(text, 0)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be at most 65535, got {value}")
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
