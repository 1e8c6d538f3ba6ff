"""What machine a run ran on, read without torch: results carry it, because speed and
precision (bf16 where the CPU has it, float32 where not) depend on it."""
from __future__ import annotations

import os
import platform

#: Environment variables that hold PyTorch's kernels below what the CPU has (how a CPU
#: without bf16 is emulated on one with it).
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where that cannot be read)."""
    if platform.system() != "Linux":
        return set()
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line for line in f if line.startswith("flags")), "").partition(":")[2].split())
    except OSError:
        return set()


def cpu_flags_have_bf16() -> bool:
    """Whether the CPU itself executes bf16 math (x86 AVX512-BF16 or AMX), whatever PyTorch is allowed."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_model() -> str:
    """The CPU's model name, or the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line for line in f if line.startswith("model name")), "")
    except OSError:
        name = ""
    return name.partition(":")[2].strip() or platform.processor() or platform.machine()


def describe_machine(environ=os.environ) -> str:
    """One line: CPU, cores, whether it has native bf16, and any cap on PyTorch's instruction sets."""
    bf16 = cpu_flags_have_bf16()
    caps = ", ".join(f"{name}={environ[name]}" for name in ISA_CAPS if environ.get(name))
    return (f"{cpu_model()}, {os.cpu_count()} cores, native bf16 {'yes' if bf16 else 'no'}"
            + (f" (capped: {caps})" if caps else ""))
