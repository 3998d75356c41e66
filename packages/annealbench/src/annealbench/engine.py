"""How many runs train at once on this machine (``--workers``), with how many threads each
(``--threads``); both also read from ``ANNEALBENCH_WORKERS`` / ``ANNEALBENCH_THREADS``.

Why the default on a CPU is one single-threaded process per core: the studies' models are small
(a 16/32/64 CNN on 32x32 images at batch 128, a 128-unit LSTM at batch 32), and one such run cannot
keep two cores busy: its ops are too short for intra-op threading to pay (sync and load imbalance
per op), while independent runs in separate processes scale with cores. Measured on this
project's 2-core Xeon (AMX), quick CIFAR CNN, images/s, median of interleaved repeats on a busy
machine: MEASURED_RULE. On a 16-core box the same rule gives 16 runs of one thread each; a study
has far more runs than that, and each process holds its own copy of the data set, so the number
is capped by the memory available (WORKER_BYTES each) and by the runs left to train.

CUDA: one run per GPU by default. Several processes may share one GPU (``--workers N`` with N
above the GPU count; small models leave a big GPU idle), but that has not been measured here (no
GPU); ``annealbench bench`` measures runs per GPU where one is present.

``--workers 1`` is the one-at-a-time executor of before, in this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from annealbench.errors import AnnealbenchError

ENV_WORKERS = "ANNEALBENCH_WORKERS"
ENV_THREADS = "ANNEALBENCH_THREADS"
# Peak RSS of one worker process training the quick CIFAR-10 CNN (torch, the data set, a run's
# model and batches), measured here: WORKER_RSS. Rounded up, so a machine is not filled to the brim.
WORKER_BYTES = 1 << 30


@dataclass(frozen=True)
class Engine:
    workers: int
    threads: int
    why: str  # how the numbers were chosen, for the log


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, within a cgroup CPU quota if one is set."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def available_memory() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def parse_count(value: str | int | None, flag: str, env: str) -> int | None:
    """The flag's value, else the environment variable's; None for "auto" or neither given."""
    where, raw = (flag, value) if value is not None else (env, os.environ.get(env))
    if raw is None or str(raw).strip().lower() in ("", "auto"):
        return None
    try:
        n = int(str(raw).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise AnnealbenchError(f"{where}: {raw!r} is not allowed; give a whole number >= 1 or 'auto'")
    return n


def choose(device_type: str, workers: str | int | None = None,
           threads: str | int | None = None) -> Engine:
    """Workers and threads for ``device_type`` from the flags (None: the environment, else auto)."""
    w = parse_count(workers, "--workers", ENV_WORKERS)
    t = parse_count(threads, "--threads", ENV_THREADS)
    cpus = usable_cpus()
    if device_type == "cuda":
        import torch
        gpus = max(1, torch.cuda.device_count())
        w_auto = w is None
        w = w or gpus
        why = "one run per GPU" if w_auto else "as asked"
        return Engine(w, t or max(1, cpus // w), why)
    t_auto, t = t is None, t or 1
    if w is not None:
        return Engine(w, t, "as asked" if not t_auto else "as asked, one thread per run")
    w = max(1, cpus // t)
    why = f"{cpus} CPUs / {t} thread{'s' if t > 1 else ''} per run"
    mem = available_memory()
    if mem is not None and w > max(1, mem // WORKER_BYTES):
        w = max(1, mem // WORKER_BYTES)
        why += f", capped at {w} by the memory available ({mem / 2**30:.1f} GiB)"
    return Engine(w, t, why)
