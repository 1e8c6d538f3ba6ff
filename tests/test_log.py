"""The ``muzo`` logger: the seed-style lines by default, silenced by a level, timestamped on
request, written to the stdout of the moment; ``muzo train --log-level/--quiet/--log-timestamps``."""
import contextlib
import io
import logging
import re

import pytest
from test_training import CLASSES, MEL, SMALL, quick, toy_tracks

from muzo_lib import cli
from muzo_lib.io.log import configure_logging, get_logger, logging_settings
from muzo_lib.models.networks import CNNConfig, SpectrogramCNN
from muzo_lib.training.loop import fit, seed_everything


def test_library_loggers_are_children_of_muzo():
    assert get_logger("muzo_lib.training.loop").name == "muzo.training.loop"
    assert get_logger("course").parent is logging.getLogger("muzo") and get_logger().name == "muzo"


def test_the_default_line_is_the_bare_message_on_stdout(capsys):
    get_logger("muzo_lib.training.loop").info("Epoch 1/3 completed in 1.0s")
    assert capsys.readouterr().out == "Epoch 1/3 completed in 1.0s\n"


def test_lines_go_to_the_stdout_of_the_moment():
    first, second = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(first):
        get_logger("training").info("one")
    with contextlib.redirect_stdout(second):
        get_logger("training").info("two")
    assert (first.getvalue(), second.getvalue()) == ("one\n", "two\n")


def test_a_level_silences_lines_below_it_and_is_restored(capsys):
    log = get_logger("training")
    with logging_settings("WARNING"):
        log.info("hidden")
        log.warning("shown")
    log.info("back")
    assert capsys.readouterr().out.splitlines() == ["shown", "back"]
    with pytest.raises(ValueError, match="log level"):
        configure_logging("LOUD")


def test_timestamps_start_each_line_when_asked(capsys):
    with logging_settings(timestamps=True):
        get_logger("training").info("line")
    get_logger("training").info("plain")
    timed, plain = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d line", timed) and plain == "plain"


def _fit_lines(capsys, epochs=2, **options):
    seed_everything(0)
    fit(SpectrogramCNN(CNNConfig(n_classes=3, **SMALL)), toy_tracks(), toy_tracks(n_per_class=3, seed=1), CLASSES,
        MEL, quick(epochs=epochs, verbose=True, **options))
    return capsys.readouterr().out.splitlines()


def test_fit_logs_one_completed_line_per_epoch_and_a_level_silences_them(capsys):
    lines = _fit_lines(capsys, epochs=2)
    assert sum(line.startswith("Epoch ") for line in lines) == 2
    with logging_settings("WARNING"):
        assert _fit_lines(capsys) == []


def test_compact_style_writes_exactly_one_line_per_epoch_with_its_scores_and_verdict(capsys):
    seed = [line for line in _fit_lines(capsys, epochs=3) if line.startswith(("Epoch ", "  "))]
    lines = _fit_lines(capsys, epochs=3, lr_patience=0, early_stopping_patience=3, log_style="compact")
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 3 and len(seed) >= 3 * 4                      # the seed style: four or more per epoch
    assert all(" | train loss " in line and " | valid loss " in line for line in epochs)
    assert "best so far" in epochs[0] and not any(line.startswith("  ") for line in lines)
    assert [("no better" in line) == ("LR " in line) for line in epochs[1:]] == [True, True]  # lr_patience 0: cut at once
    with pytest.raises(ValueError, match="log_style"):
        quick(log_style="table")


@pytest.mark.parametrize("argv, level, timed", [([], logging.INFO, False), (["--quiet"], logging.WARNING, False),
                                                 (["--log-level", "error"], logging.ERROR, False),
                                                 (["--log-level", "DEBUG", "--log-timestamps"], logging.DEBUG, True)])
def test_muzo_train_applies_the_log_options_for_the_command_only(monkeypatch, argv, level, timed):
    seen = {}

    def fake_train(args):
        logger = logging.getLogger("muzo")
        seen["level"] = logger.level
        seen["timed"] = any("asctime" in (h.formatter._fmt or "") for h in logger.handlers if h.formatter)
        return 0

    monkeypatch.setattr(cli, "_train", fake_train)
    assert cli.main(["train", "--data-dir", "x", "--architecture", "cnn", *argv]) == 0
    assert seen == {"level": level, "timed": timed}
    assert logging.getLogger("muzo").level == logging.INFO          # restored afterwards
