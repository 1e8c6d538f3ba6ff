"""The ``muzo`` logger: the seed-style training lines, steerable like any ``logging`` output.

Library modules log through :func:`get_logger` (children of ``"muzo"``) instead of
printing. Out of the box the lines read exactly as the seed's prints did (no prefix, INFO
and above) and go to whatever ``sys.stdout`` is *when each line is written*, so a
notebook cell, pytest's ``capsys`` or ``contextlib.redirect_stdout`` sees them. The
``muzo`` logger does not pass its lines on to the root logger, so an application that
configures logging gets each line once; :func:`configure_logging` (what ``muzo train
--log-level/--quiet/--log-timestamps`` calls) picks the level and adds timestamps.

Example:
    >>> configure_logging("WARNING")          # silence the per-epoch lines
    >>> configure_logging(timestamps=True)    # "2026-01-01 12:00:00 Epoch 1/30 completed in 2.0s"
    >>> with logging_settings("ERROR"):       # for one block only
    ...     fit(...)
"""
from __future__ import annotations

import contextlib
import logging
import sys

ROOT = "muzo"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_PLAIN = logging.Formatter("%(message)s")
_TIMED = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S")


class CurrentStdoutHandler(logging.Handler):
    """Writes each record to the ``sys.stdout`` of the moment (not the one at import time)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging's rule: a failing handler reports, never raises into the caller
            self.handleError(record)


def _muzo_logger() -> logging.Logger:
    """The ``muzo`` logger with its one stdout handler installed (once)."""
    logger = logging.getLogger(ROOT)
    if not any(isinstance(h, CurrentStdoutHandler) for h in logger.handlers):
        handler = CurrentStdoutHandler()
        handler.setFormatter(_PLAIN)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def get_logger(name: str = ROOT) -> logging.Logger:
    """The logger for a library module: ``get_logger(__name__)`` in ``muzo_lib.training.loop``
    gives ``muzo.training.loop``, a child of ``muzo`` (so one setting steers every module)."""
    _muzo_logger()
    for prefix in ("muzo_lib.", f"{ROOT}."):
        name = name.removeprefix(prefix)
    return logging.getLogger(ROOT if name in ("", ROOT, "muzo_lib") else f"{ROOT}.{name}")


def configure_logging(level: str | int = "INFO", timestamps: bool = False) -> logging.Logger:
    """Set the ``muzo`` logger's level (``"DEBUG"``, ``"INFO"``, ``"WARNING"``, ``"ERROR"``
    or a ``logging`` number) and whether each line starts with the date and time.

    Returns:
        the ``muzo`` logger.

    Raises:
        ValueError: an unknown level name.
    """
    if isinstance(level, str):
        if level.upper() not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
        level = getattr(logging, level.upper())
    logger = _muzo_logger()
    logger.setLevel(level)
    for handler in logger.handlers:
        if isinstance(handler, CurrentStdoutHandler):
            handler.setFormatter(_TIMED if timestamps else _PLAIN)
    return logger


@contextlib.contextmanager
def logging_settings(level: str | int = "INFO", timestamps: bool = False):
    """:func:`configure_logging` for the duration of a ``with`` block (a CLI command run
    in-process, a test), then the previous level and line format again."""
    logger = _muzo_logger()
    handlers = [h for h in logger.handlers if isinstance(h, CurrentStdoutHandler)]
    before = logger.level, [h.formatter for h in handlers]
    configure_logging(level, timestamps)
    try:
        yield logger
    finally:
        logger.setLevel(before[0])
        for handler, formatter in zip(handlers, before[1]):
            handler.setFormatter(formatter)
