"""The ``muzo`` command. ``muzo --help`` lists the subcommands."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="muzo", description="Music genre classification: the Muzo course and tools.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    course = commands.add_parser("course", help="run the course notebooks in order with papermill",
                                 description="Run the course notebooks in order; results go to runs/NAME/.")
    course.add_argument("--name", default="course", help="run name: results go to runs/NAME/ (default: course)")
    course.add_argument("--data-dir", default="", help="dataset folder (default: the built-in generated dataset)")
    course.add_argument("--only", nargs="+", metavar="NN", help="run only notebooks whose names start with these, e.g. 00 03")
    course.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="extra notebook parameter (repeatable), e.g. -p epochs 50")
    course.set_defaults(handler=_course)

    args = parser.parse_args(argv)
    from .course import CourseError
    try:
        return args.handler(args) or 0
    except (FileNotFoundError, ValueError, CourseError) as exc:
        print(f"muzo {args.command}: {exc}", file=sys.stderr)
        return 2


def _course(args) -> int:
    from .course import run_course

    params = {name: _literal(value) for name, value in args.parameter}
    run_course(name=args.name, data_dir=args.data_dir, parameters=params, only=args.only)
    return 0


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
