"""Where a network runs and in which precision, decided at run time.

One place for the device choice every layer needs (training, prediction, the seed API,
benchmarks): CUDA when present, and bf16 autocast on a CPU only where it has native bf16
instructions (elsewhere emulated bf16 is several times slower than float32).
"""
from __future__ import annotations

import functools
import os

import torch

from muzo_lib.io.machine import cpu_flags_have_bf16


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``torch.device`` from a name; ``None``/``"auto"`` means CUDA when available, else CPU.

    Raises:
        ValueError: CUDA was asked for on a machine without it.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available here; use 'cpu' or None")
    return device


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU executes bf16 math natively (x86 AVX512-BF16 or AMX) *and* PyTorch
    is allowed to use those instructions.

    Without them PyTorch emulates bf16 and autocast runs 2-6x *slower* than float32, so the
    answer is read at run time rather than assumed: from the CPU's flags, and from the
    instruction sets PyTorch was limited to (``ATEN_CPU_CAPABILITY=avx2`` or
    ``ONEDNN_MAX_CPU_ISA=AVX2``, the way an AVX2-only machine is emulated on a newer one).
    """
    return cpu_flags_have_bf16() and _isa_allows_bf16(os.environ, torch.backends.cpu.get_cpu_capability())


def _isa_allows_bf16(environ, aten_capability: str) -> bool:
    """False when PyTorch's kernels (ATen's capability) or oneDNN's (``ONEDNN_MAX_CPU_ISA``,
    also spelt ``DNNL_MAX_CPU_ISA``) are held below the AVX-512 bf16 instructions."""
    if not aten_capability.upper().startswith(("AVX512", "AMX")):
        return False
    isa = (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "ALL").upper()
    return isa == "ALL" or "BF16" in isa or "AMX" in isa


def autocast_dtype(device: torch.device, mode: str | bool = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None`` = plain float32), see ``TrainConfig.mixed_precision``."""
    if mode is False or mode in ("off", "fp32", "float32", None):
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and (mode is True or mode in ("bf16", "on") or cpu_has_native_bf16()):
        return torch.bfloat16
    return None


def use_channels_last(device: torch.device, amp_dtype: torch.dtype | None, setting: str | bool = "auto") -> bool:
    """Whether convolutions run on channels-last tensors (``TrainConfig.channels_last``).

    ``"auto"``: always on a CPU, where oneDNN's channels-last kernels are faster in float32 as
    well as bf16 (the default CNN on the course's 64 mels, 2 cores capped to AVX2: 87 -> 123
    training crops/s, 279 -> 347 inference segments/s; ``benchmarks/bench_cnn.py``); on a GPU
    only with mixed precision (tensor cores want it; float32 cuDNN gains little).
    ``True``/``False`` force it.
    """
    if setting != "auto":
        return bool(setting)
    return device.type == "cpu" or amp_dtype is not None


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "float32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast + GradScaler"}[dtype]
