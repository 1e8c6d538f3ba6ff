"""docs/results.md: its commands are real `muzo` commands, and its real-clip numbers are what
the command prints (checked where the real clips are present)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from muzo_lib import cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "results.md"


def _commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("muzo ")]


def test_every_command_in_the_results_page_is_a_valid_muzo_command(monkeypatch):
    commands = _commands()
    assert {c[0] for c in commands} >= {"course", "train"}
    parsed = []
    monkeypatch.setattr(cli, "_course", lambda args: parsed.append(args) or 0)
    monkeypatch.setattr(cli, "_train", lambda args: parsed.append(args) or 0)
    for argv in commands:
        assert cli.main(argv) == 0, argv
    assert len(parsed) == len(commands)


@pytest.mark.slow
def test_the_real_clip_forest_row_is_what_its_command_prints(real_data_dir, real_run_dir):
    row = re.search(r"\| Random Forest \(`rf`\) \| ([\d.]+) \[([\d.]+), ([\d.]+)\]", DOC.read_text())
    assert row, "the real-clip table has no Random Forest row"
    argv = next(c for c in _commands() if c[:1] == ["train"] and "rf" in c and "--cv" in c)
    argv = [str(real_data_dir) if a.endswith("gtzan_mini") else a for a in argv]
    done = subprocess.run([sys.executable, "-m", "muzo_lib.cli", *argv, "--run-dir", str(real_run_dir), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = re.search(r"cross-validated accuracy % ([\d.]+) \[([\d.]+), ([\d.]+)\] on 61 tracks", done.stdout)
    assert printed and printed.groups() == row.groups(), (printed and printed.groups(), row.groups())
