"""Training crops per second of musicnn-finetune by mode (head, top, all) and precision, side by side.

    python benchmarks/bench_finetune.py [--batch 16] [--steps 3] [--threads 2]

One step is what ``fit`` does per batch: forward on ``batch`` dB log-mel crops of 187 frames
(musicnn's 3 s patch), cross-entropy, backward, AdamW with the two learning rates. Precisions:
float32, and where the CPU has native bf16 what ``fit``'s ``mixed_precision="auto"`` picks there
(bf16 autocast with channels_last). The modes run round-robin step by step, so a load spike from
other processes hits all of them alike; the table gives the median and best crops/s over the
timed steps (one untimed step first) and names the machine.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from muzo_lib.models.devices import cpu_has_native_bf16  # noqa: E402
from muzo_lib.models.pretrained.finetune import FinetuneConfig, MusicnnClassifier  # noqa: E402
from muzo_lib.models.pretrained.musicnn import PATCH_FRAMES  # noqa: E402


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    precisions = [("float32", None, False)] + ([("bf16 + channels_last", torch.bfloat16, True)]
                                               if cpu_has_native_bf16() else [])
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 96, PATCH_FRAMES, generator=generator) * 10 - 40
    y = torch.randint(0, 6, (args.batch,), generator=generator)
    runs = {}
    for mode in ("head", "top", "all"):
        for name, dtype, channels_last in precisions:
            torch.manual_seed(0)
            model = MusicnnClassifier(FinetuneConfig(n_classes=6, finetune=mode)).load_pretrained().train()
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            runs[(mode, name)] = (model, torch.optim.AdamW(model.param_groups(1e-3)), dtype, [])

    def step(model, optimizer, dtype):
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for i in range(args.steps + 1):
        for model, optimizer, dtype, times in runs.values():
            start = time.perf_counter()
            step(model, optimizer, dtype)
            if i:                                          # the first step warms caches and allocators
                times.append(time.perf_counter() - start)
    print(f"musicnn-finetune training, batches of {args.batch} crops x {PATCH_FRAMES} frames, {args.steps} timed steps, "
          f"{args.threads} threads on {_cpu_name()} (native bf16: {cpu_has_native_bf16()})")
    print(f"{'mode':<6}{'precision':<24}{'median crops/s':>16}{'best crops/s':>14}")
    for (mode, name), (_, _, _, times) in runs.items():
        print(f"{mode:<6}{name:<24}{args.batch / np.median(times):>16.1f}{args.batch / min(times):>14.1f}")


if __name__ == "__main__":
    main()
