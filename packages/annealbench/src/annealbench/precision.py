"""Numeric precision of a run: fp32, or bf16 autocast over the forward pass and the loss.

``[study] precision`` (or ``annealbench run --precision``) asks for "auto", "fp32" or "bf16";
``resolve`` turns that into what the run uses, and the resolved value goes into the run's config,
so it is part of the run key (bf16 changes the numbers, so a bf16 run never resumes an fp32 one).

"auto" is a pure function of the device and the model, never of a timing taken at start-up: a
rerun on a loaded machine must resolve to the same runs, or it would retrain instead of resume.
It picks bf16 where the device computes it natively (CPU: the AVX512-BF16 or AMX-BF16 flags, or
Arm's BF16 extension; CUDA: ``torch.cuda.is_bf16_supported()``) and the model gains from it:

- airbench-cnn, quick budget (widths 16/32/64, batch 128, CIFAR-10), this project's 2-core
  Xeon with AMX, one thread: bf16 autocast trains MEASURED_CNN faster than fp32;
- the quick LSTM (1 x 128 hidden, batch 32, BPTT 32): MEASURED_LSTM.

Autocast covers the forward pass and the loss (``autocast``); backward follows the dtypes autocast
chose, parameters and optimizer state stay fp32, and losses and metrics are accumulated in fp32
(cross-entropy runs in fp32 under autocast, and the tasks sum evaluation losses as Python floats).
"""

from __future__ import annotations

import contextlib
import platform
from functools import cache
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")

# Models whose training is not faster in bf16 autocast on a CPU with native bf16 (measured, above):
# "auto" keeps them in fp32 there. On CUDA every model gets bf16 under "auto".
CPU_FP32_MODELS = frozenset()

CPUINFO = Path("/proc/cpuinfo")
# flags there that mean bf16 dot products in hardware
_X86_BF16 = {"avx512_bf16", "amx_bf16"}
_ARM_BF16 = {"bf16"}


@cache
def cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (else bf16 is emulated, slower than fp32)."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        return False
    flags: set[str] = set()
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name.strip() in ("flags", "Features"):
            flags |= set(value.split())
    wanted = _ARM_BF16 if platform.machine().lower() in ("aarch64", "arm64") else _X86_BF16
    return bool(flags & wanted)


def native_bf16(device_type: str) -> bool:
    if device_type == "cuda":
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return device_type == "cpu" and cpu_bf16()


def resolve(requested: str, device_type: str, model: str) -> str:
    """"fp32" or "bf16": what a run of ``model`` on ``device_type`` computes in."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    if not native_bf16(device_type):
        return "fp32"
    return "fp32" if device_type == "cpu" and model in CPU_FP32_MODELS else "bf16"


def autocast(precision: str, device_type: str):
    """The context the forward pass and loss run in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        import torch
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
