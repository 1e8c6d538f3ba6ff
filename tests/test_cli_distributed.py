"""`muzo train --resume` and `muzo train --nproc N` (issues 10 item 6 and 13)."""
import subprocess
import sys

import pytest

from muzo_lib import cli
from muzo_lib.training.checkpoints import load_checkpoint, load_training_state
from tests.helpers import tiny_dataset


def test_nproc_starts_torchrun_with_the_same_command_minus_nproc(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: started.append(command) or subprocess.CompletedProcess(
        command, 0))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    argv = ["train", "--data-dir", str(tmp_path), "--architecture", "cnn", "--output", str(tmp_path / "m.pt"),
            "--nproc", "2", "--epochs", "3", "--npro=2"]
    assert cli.main(argv) == 0
    [command] = started
    assert command[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert command[5:] == ["-m", "muzo_lib.cli", "train", "--data-dir", str(tmp_path), "--architecture", "cnn",
                           "--output", str(tmp_path / "m.pt"), "--epochs", "3"]


@pytest.mark.parametrize("extra, message", [
    (["--architecture", "cnn", "--output", "{tmp}/m.pt", "--resume"], "nothing to resume: {tmp}/m.last.pt does not exist"),
    (["--architecture", "rf", "--output", "{tmp}/m.skops", "--resume"], "are for networks"),
    (["--architecture", "rf", "--output", "{tmp}/m.skops", "--nproc", "2"], "are for networks"),
])
def test_resume_and_nproc_misuse_are_one_line_errors(tmp_path, capsys, extra, message):
    args = ["train", "--data-dir", str(tmp_path)] + [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message.replace("{tmp}", str(tmp_path)) in err and err.count("\n") == 1


def _muzo(*args):
    return subprocess.run([sys.executable, "-m", "muzo_lib.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_two_process_training_then_a_one_process_resume_from_the_command_line(tmp_path):
    data = tiny_dataset(tmp_path / "data", per_genre=4, seconds=3.0)
    common = ["train", "--data-dir", data, "--architecture", "cnn", "--output", tmp_path / "out" / "m.pt",
              "--segment-seconds", "1", "--device", "cpu", "--run-dir", tmp_path / "run"]
    ddp = _muzo(*common, "--epochs", "1", "--nproc", "2")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert ddp.stdout.count("saved cnn model to") == 1                 # rank 0 speaks, rank 1 does not
    assert "2 processes (DDP, gloo)" in ddp.stdout and "Traceback" not in ddp.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["m.last.pt", "m.pt"]
    first = load_training_state(tmp_path / "out" / "m.last.pt")
    assert first["epoch"] == 1
    resumed = _muzo(*common, "--epochs", "2", "--resume")              # another world size: one process
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = load_training_state(tmp_path / "out" / "m.last.pt")
    assert after["epoch"] == 2 and after["history"]["epoch"] == [1.0, 2.0]
    assert {k: v[:1] for k, v in after["history"].items()} == first["history"]   # epoch 1 carried over, not retrained
    assert len(load_checkpoint(tmp_path / "out" / "m.pt").extra["history"]["epoch"]) == 2
