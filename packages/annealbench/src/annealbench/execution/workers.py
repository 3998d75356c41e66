"""How many runs train at once on this machine (``--workers``), with how many threads each
(``--threads``); both also read from ``ANNEALBENCH_WORKERS`` / ``ANNEALBENCH_THREADS``.

CPU default: one single-threaded worker process per usable CPU, capped by memory and by the runs
left to train. Why, measured on this project's 2-core Xeon (AMX) with the quick CIFAR-10 CNN:

- Runs do not keep two cores busy. Training images/s (batch 128, 16/32/64 widths), processes
  started together, medians of 5 interleaved repeats on a quiet machine: 1 process x 2 threads
  3,572 (fp32 GELU) and 4,664 (bf16 ReLU); 2 processes x 1 thread 5,477 and 8,532 in sum (1.53x
  and 1.83x the 2-thread process). Intra-op threading of ops this small pays little; independent
  runs scale with cores.
- On a shared machine threads are far worse: with 7-9 other processes on the 2 cores the same
  comparison (fp32 GELU) gave 1 x 2 threads 43-163 img/s, 2 x 1 thread 361-769 img/s: a thread
  that loses its core stalls the other at every op's barrier; a single-threaded run does not wait.
- The thread count changes a run's numbers: 20 steps at 1 and at 2 threads gave different losses
  from the first step on for the CNN (bf16: its forward pass; fp32: from step 2, the backward
  pass's reductions) and from step 12 for the fp32 LSTM (the bf16 LSTM agreed over 20 steps).
  So the default is 1 thread per run whatever ``--workers`` is: ``--workers 1`` and ``--workers
  8`` give the same records, and a run resumed with another ``--threads`` continues with other
  rounding (rerun with the same value for records identical to an uninterrupted run).

On a 16-core box the same rule gives 16 single-threaded runs; a study has more runs than that, and
each worker holds its own copy of the data set and torch, so the count is capped by the memory
available at WORKER_BYTES each. ``--threads T`` without ``--workers`` gives CPUs // T workers.

CUDA: RUNS_PER_GPU runs share each GPU by default, the workers spread over the GPUs in turn.
The studies' models are small for a data-centre GPU, so one run leaves most of it idle. Measured on
one NVIDIA H200 (torch 2.11, CUDA 13.0; docs/gpu.md), summed training throughput of N processes on
the GPU against one:
- the full-budget CNN (``annealbench bench``'s ``gpu_runs``: widths 64/128/256, all of CIFAR-10,
  bf16): 2 processes 2.01x, 4 processes 2.41x;
- the full-budget LSTM (2 x 512, BPTT 128, batch 64, fp32; each process timing its own epochs,
  started together): 2 processes 1.61x, 4 processes 1.63x.
Four is the best measured for the CNN and costs the LSTM nothing. ``--workers N`` sets another count
(``--workers 1``: one run at a time, in this process).

``--workers 1`` is the one-at-a-time executor of before, in this process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from annealbench.errors import AnnealbenchError
from annealbench.options import RunOptions

ENV_WORKERS = "ANNEALBENCH_WORKERS"
ENV_THREADS = "ANNEALBENCH_THREADS"
RUNS_PER_GPU = 4  # measured: see the module docstring
# Peak RSS of one worker (torch, its data set, a run), measured here training in bf16: quick CNN
# 1.05 GiB, quick LSTM 0.81 GiB, full-budget CNN (all of CIFAR-10, widths 64/128/256, batch 256)
# 1.28 GiB. Rounded up; shared libraries count in each though the workers share them.
WORKER_BYTES = 3 << 29  # 1.5 GiB


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
    if device_type == "cuda":  # threads here only feed the GPU: the CPUs divided among workers
        import torch
        gpus = max(1, torch.cuda.device_count())
        why = "as asked" if w else f"{RUNS_PER_GPU} runs per GPU x {gpus} GPU{'s' if gpus > 1 else ''}"
        w = w or RUNS_PER_GPU * gpus
        return Engine(w, t or max(1, cpus // w), why)
    t_auto = t is None
    t = t or 1
    if w is not None:
        return Engine(w, t, "as asked" if not t_auto else "as asked, one thread per run")
    w = max(1, cpus // t)
    why = f"{cpus} CPUs / {t} thread{'s' if t > 1 else ''} per run"
    mem = available_memory()
    if mem is not None and w > max(1, mem // WORKER_BYTES):
        w = max(1, mem // WORKER_BYTES)
        why += f", capped at {w} by the memory available ({mem / 2**30:.1f} GiB)"
    return Engine(w, t, why)


def resolve(opts: RunOptions) -> tuple[RunOptions, Engine]:
    """The options with everything left to decide decided: the device ("auto": CUDA if present),
    the data folder (None: $ANNEALBENCH_DATA, else ./data), the workers and threads (``choose``).
    Also returns the engine, whose ``why`` the CLI prints."""
    from annealbench.devices import resolve_device
    from annealbench.tasks import default_data_dir

    device = resolve_device(opts.device) if isinstance(opts.device, str) else opts.device
    engine = choose(device.type, opts.workers, opts.threads)
    return replace(opts, out=Path(opts.out), device=device, data_dir=default_data_dir(opts.data_dir),
                   workers=engine.workers, threads=engine.threads), engine
