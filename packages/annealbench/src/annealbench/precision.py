"""Numeric precision of a run: fp32, or bf16 autocast over the forward pass and the loss.

``[study] precision`` (or ``annealbench run --precision``) asks for "auto", "fp32" or "bf16";
``resolve`` turns that into what the run uses, and the resolved value goes into the run's config,
so it is part of the run key (bf16 changes the numbers, so a bf16 run never resumes an fp32 one).

"auto" is a pure function of the device, never of a timing taken at start-up: a rerun on a
loaded machine must resolve to the same runs, or it would retrain them instead of resuming. It
picks bf16 where the device computes it natively (CPU: the AVX512-BF16 or AMX-BF16 flags, or Arm's
BF16 extension; CUDA: compute capability 8.0 or newer, asked as
``torch.cuda.is_bf16_supported(including_emulation=False)`` where torch has that argument: its
default also counts the emulation on T4 and V100), fp32 elsewhere (emulated bf16 is slower than
fp32). "auto" for CUDA on a machine with no visible GPU (``annealbench grid --device cuda`` on a
laptop) is refused, not guessed: the GPU decides, and a guess would give run keys that differ
from the ones the GPU machine trains. Recurrent models (``RECURRENT``) on CUDA resolve to fp32:
cuDNN's RNN path under autocast may cast to fp16 whatever dtype autocast asks for (a reviewer's
reading of the CUDA path, not measured here), with no GradScaler in this project, so a run recorded
as "bf16" could have computed in fp16. Until a GPU measures the LSTM under bf16 autocast, "auto"
does not pick it there; "bf16" asked for explicitly is kept.

Measured on this project's 2-core Xeon with AMX, one thread, CPU seconds of one epoch
through the runner (training and evaluation), fp32 and bf16 interleaved, medians of 3: the quick
CIFAR-10 CNN (widths 16/32/64, batch 128, 5,000 images) 3.48 s vs 2.06 s, bf16 1.69x faster; the
quick Tiny Shakespeare LSTM (1 x 128, batch 32, BPTT 32, 300k characters) 3.93 s vs 2.28 s, 1.72x.
So both models get bf16 under "auto" there. What bf16 does to the results: the CNN's final
accuracy is checked in ``annealbench bench`` (``bf16_accuracy``); the quick LSTM after 3 epochs,
5 seeds, validation bpc bf16 minus fp32: -0.003 (95% t-interval -0.006 to -0.0003; the seeds'
spread is 0.015).

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


# models with cuDNN RNN layers (see above); a user's model by import path is not known to be one
RECURRENT = {"lstm"}


def cuda_bf16() -> bool:
    """Whether the current GPU computes bf16 natively (Ampere, compute capability 8.0, or newer)."""
    import inspect

    import torch

    if "including_emulation" in inspect.signature(torch.cuda.is_bf16_supported).parameters:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    return torch.cuda.get_device_capability() >= (8, 0)


def native_bf16(device_type: str) -> bool:
    if device_type == "cuda":
        import torch

        if not torch.cuda.is_available():
            from annealbench.errors import AnnealbenchError
            raise AnnealbenchError(
                "precision 'auto' for --device cuda depends on the GPU and no CUDA device is "
                "visible here; ask for fp32 or bf16 (--precision, or [study] precision)")
        return cuda_bf16()
    return device_type == "cpu" and cpu_bf16()


def resolve(requested: str, device_type: str, model: str | None = None) -> str:
    """"fp32" or "bf16": what a run of ``model`` on ``device_type`` computes in."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {requested!r}")
    if requested != "auto":
        return requested
    if device_type == "cuda" and model in RECURRENT:
        return "fp32"
    return "bf16" if native_bf16(device_type) else "fp32"


def autocast(precision: str, device_type: str):
    """The context the forward pass and loss run in: bf16 autocast, or nothing for fp32."""
    if precision == "bf16":
        import torch
        return torch.autocast(device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
