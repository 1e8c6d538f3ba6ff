"""benchmarks/gpu_check.py runs its CPU fallback end to end (the GPU path needs a CUDA machine)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_cpu_fallback_prints_every_row_of_its_table():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--cpu"], capture_output=True,
                          text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "CPU fallback" in out and "Traceback" not in done.stderr
    for row in ("cnn fp32", "cnn AMP", "hybrid fp32", "hybrid AMP", "musicnn-finetune all fp32", "musicnn-finetune all AMP",
                "OOM back-off", "predicted on cpu",
                "torchrun DDP, 1 process (gloo)"):
        assert row in out, row
    assert "world size 1" in out and "FAILED" not in out
    difference = float(out.split("max |p_cpu - p_cpu| = ")[1].split()[0])
    assert difference < 1e-5                                   # a saved and reloaded model predicts the same
