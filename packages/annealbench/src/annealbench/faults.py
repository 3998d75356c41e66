"""Fault injection for the reliability tests: a no-op unless ``ANNEALBENCH_FAULT`` is set.

``ANNEALBENCH_FAULT`` is a comma-separated list of ``[ACTION:]POINT[:N]`` entries: at the N-th time
(default 1, counted per process) this process passes POINT, do ACTION (default ``kill``). A point
may be named more than once, with different N:

- ``kill``    SIGKILL this process (no cleanup, no ``finally``: a power cut, an OOM killer);
- ``enospc``  raise ``OSError(ENOSPC)`` (a full disk);
- ``oom``     raise ``torch.OutOfMemoryError`` (what CUDA raises when a batch does not fit);
- ``nan``     (``train-step`` only) make that step's update NaN while its loss stays as computed:
              what a blown-up step does, at a step no CPU's rounding moves. The model is non-finite
              from then on, so the next step's loss is NaN, or, after an epoch's last step, its
              evaluation.
- ``cuda``    raise the RuntimeError of a device-side assert (the process's CUDA context is gone).

Points on the training side (``annealbench``):

- ``train-step``        after the forward pass of every optimizer step, before ``backward``;
- ``epoch-write``       an epoch CSV: its temp file is written and fsynced, not yet renamed;
- ``checkpoint-write``  ``checkpoint.pt``, same moment;
- ``averages-write``    ``averages.csv`` (a run's averaged-weight evaluations), same moment;
- ``status-write``      ``status.json``, same moment;
- ``prefix-write``      a donor's kept state (``prefix/NNNNN.pt``), same moment;
- ``fork-copy``         an epoch CSV a fork copies from its donor, same moment;
- ``json-write``        any other JSON file (``config.json``, ``study.json``, ``meta.json``).

The report side (``annealbench_report.records.files``) reads the same variable for ``records-write``
(``records.parquet`` and ``records.csv``) and ``render-write`` (each ``index.html``).

Examples: ``ANNEALBENCH_FAULT=checkpoint-write:3`` dies right before the 3rd checkpoint replaces
the previous one; ``ANNEALBENCH_FAULT=enospc:epoch-write:2`` makes the 2nd epoch file hit a full
disk; ``ANNEALBENCH_FAULT=oom:train-step:5`` makes the 5th training step run out of memory;
``ANNEALBENCH_FAULT=nan:train-step:2,nan:train-step:8`` blows up the 2nd and the 8th step.
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "ANNEALBENCH_FAULT"
ACTIONS = ("kill", "enospc", "oom", "nan", "cuda")

_parsed: tuple[str, dict[str, dict[int, str]]] = ("", {})
_counts: dict[str, int] = {}


def parse(spec: str) -> dict[str, dict[int, str]]:
    """``"kill:checkpoint-write:3,oom:train-step"`` -> ``{point: {occurrence: action}}``."""
    plan: dict[str, dict[int, str]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        action = parts.pop(0) if parts[0] in ACTIONS else "kill"
        if not parts or len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError(f"{ENV}={spec!r}: {item!r} is not [ACTION:]POINT[:N] "
                             f"(ACTION one of {', '.join(ACTIONS)})")
        plan.setdefault(parts[0], {})[int(parts[1]) if len(parts) == 2 else 1] = action
    return plan


def _plan() -> dict[str, dict[int, str]]:
    global _parsed
    spec = os.environ.get(ENV, "")
    if spec != _parsed[0]:  # re-read when the variable changes (tests set it in-process)
        _parsed = (spec, parse(spec))
        _counts.clear()
    return _parsed[1]


def hit(point: str, what: object = "") -> str | None:
    """Pass POINT; do the planned fault if this is its N-th pass. Costs a dict lookup otherwise.
    Returns the action the caller carries out itself (``nan``), else None."""
    if ENV not in os.environ:
        return None
    planned = _plan().get(point)
    if planned is None:
        return None
    _counts[point] = n = _counts.get(point, 0) + 1
    action = planned.get(n)
    if action is None:
        return None
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(what) or None)
    if action == "cuda":
        raise RuntimeError(f"CUDA error: device-side assert triggered (injected by {ENV} at "
                           f"{point} #{n})")
    if action == "oom":
        import torch
        raise torch.OutOfMemoryError(
            f"CUDA out of memory (injected by {ENV} at {point} #{n}). Tried to allocate 2.00 GiB")
    return action
