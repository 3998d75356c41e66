"""Shared prefixes: which runs can start from another run's epoch-k state instead of training
epochs 1..k again, derived from the schedules' own trajectories (annealbench.sharing.trajectory).

Runs are grouped by every config field except the schedule's, the length, ``test_epochs`` and the
weight averages they carry (same model, data, seed, base LR, optimizer, batch size, device, eval
policy...). In a group, a run may fork from a donor at k = the number of leading epochs in which
every optimizer step uses the same hyperparameters and the test split is evaluated after the same
epochs: their records for epochs 0..k are then identical on a deterministic device. k equal to the
fork's whole length ("whole-length fork": the fixed LR of length B inside the fixed LR of length
E) copies the donor's records and evaluations only; a partial fork also loads the donor's kept
epoch-k state.

ReduceLROnPlateau (any metric-driven schedule) is planned as if validation always improved, an
upper bound: at run time the fork steps a fresh scheduler on the donor's recorded validation
losses, and shares only the epochs that bound survives (annealbench.sharing.fork). Two such runs built the
same way differ only in length, so the shorter is certain to be the longer one's prefix.

Policy: on by default on CPU (deterministic); on CUDA only whole-length forks by default, partial
ones with ``--share-prefix`` (kernels need not be bitwise reproducible). ``--no-share-prefix`` or
``ANNEALBENCH_SHARE_PREFIX=0`` turns all sharing off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from annealbench.errors import AnnealbenchError
from annealbench.sharing import trajectory

ENV = "ANNEALBENCH_SHARE_PREFIX"
MODES = ("off", "whole", "all")
# What may differ between a fork and its donor; every other config field must be equal. The weight
# averages a run carries leave its own records alone: a fork carrying none may start from any donor,
# one carrying some only from a donor carrying the same (trajectory.averages_agree).
SCHEDULE_FIELDS = frozenset({"schedule", "schedule_type", "schedule_kwargs", "schedule_interval",
                             "schedule_kwargs_resolved", "epochs", "test_epochs", "run_key",
                             "averages"})


@dataclass(frozen=True)
class Fork:
    """Start a run from ``donor``'s first ``epochs`` epochs (a plain, picklable value)."""
    donor: str
    epochs: int
    partial_ok: bool = True  # may fall back to an earlier kept epoch (never on CUDA by default)


@dataclass(frozen=True)
class Share:
    """What one run shares (annealbench.training.runner.run_one): the epochs whose state it keeps
    for the runs that fork from it, and its own fork. Picklable, for Ray and the pool."""
    keep_epochs: tuple[int, ...] = ()
    fork: Fork | None = None


NO_SHARE = Share()  # a run trained on its own


def mode(device_type: str, share: bool | None = None) -> str:
    """"off", "whole" or "all" from the CLI flag (True/False), else $ANNEALBENCH_SHARE_PREFIX
    ("0" off, "1" all), else the device's default."""
    if share is not None:
        return "all" if share else "off"
    env = os.environ.get(ENV, "").strip()
    if env not in ("", "0", "1"):
        raise AnnealbenchError(f"{ENV}={env!r} is not allowed; use 0 (no sharing) or 1 (share "
                               "prefixes, also partial ones on CUDA)")
    if env:
        return "all" if env == "1" else "off"
    return "all" if device_type == "cpu" else "whole"


def group_key(cfg: dict) -> str:
    return json.dumps({k: v for k, v in cfg.items() if k not in SCHEDULE_FIELDS},
                      sort_keys=True, default=str)


class _Run:
    """One run of the grid with its trajectory, computed lazily as far as comparisons need."""

    def __init__(self, cfg: dict, index: int, steps_per_epoch: int, cache: dict):
        self.cfg = cfg
        self.index = index
        self.key = cfg["run_key"]
        self.length = cfg["epochs"]
        self.spe = steps_per_epoch
        sched = json.dumps([cfg[k] for k in ("optimizer_type", "optimizer_kwargs", "base_lr",
                                              "schedule_type", "schedule_kwargs",
                                              "schedule_interval", "epochs")], default=str)
        if sched not in cache:
            try:
                resolved = trajectory.resolved_kwargs(cfg, steps_per_epoch)
                built = json.dumps([cfg["schedule_type"], resolved, cfg["schedule_interval"]],
                                   sort_keys=True, default=str)
                cache[sched] = ([], trajectory.epochs(cfg, steps_per_epoch),
                                trajectory.needs_metric(cfg, steps_per_epoch), built)
            except Exception:  # a schedule that cannot be built fails in its own run, not here
                cache[sched] = None
        self.ok = cache[sched] is not None
        # construction: runs whose schedules are built alike are certain to agree on their
        # common length, metric-driven or not
        self.done, self.gen, self.metric, self.construction = cache[sched] or ([], None, False, "")

    def epoch(self, e: int):
        while len(self.done) < e:
            self.done.append(next(self.gen))
        return self.done[e - 1], trajectory.tests_at(self.cfg, e, self.length)


def _agree(f: _Run, d: _Run) -> int:
    k = 0
    for e in range(1, min(f.length, d.length) + 1):
        try:
            if f.epoch(e) != d.epoch(e):
                break
        except Exception:  # a custom scheduler that fails to step fails in its own run, not here
            break
        k = e
    limit = trajectory.averages_agree(f.cfg, d.cfg, f.spe)
    return k if limit is None else min(k, limit)


class Plan:
    """For each run: its donor and k (``fork``), and the epochs it keeps for its own forks."""

    def __init__(self, mode_: str = "off"):
        self.mode = mode_
        self.forks: dict[str, Fork] = {}
        self.keeps: dict[str, set[int]] = {}
        self.lengths: dict[str, int] = {}
        self.bounds: set[str] = set()  # forks whose k is a metric-driven upper bound

    def after(self, run_key: str) -> str | None:
        """The run that must have finished (any final status) before this one starts."""
        fork = self.forks.get(run_key)
        return fork.donor if fork else None

    def share(self, run_key: str) -> Share:
        """What the run shares, for runner.run_one."""
        return Share(tuple(sorted(self.keeps.get(run_key, ()))), self.forks.get(run_key))

    def order(self, grid: list[dict]) -> list[dict]:
        """The grid in its own order (seeds outermost), each donor moved just before its first fork."""
        by_key = {c["run_key"]: c for c in grid}
        seen = set()
        out = []
        for cfg in grid:
            chain = []
            key = cfg["run_key"]
            while key is not None and key not in seen and key in by_key:
                chain.append(key)
                key = self.after(key)
            for key in reversed(chain):
                seen.add(key)
                out.append(by_key[key])
        return out

    def donors(self) -> dict[str, list[str]]:
        """donor -> the runs forking from it."""
        out: dict[str, list[str]] = {}
        for key, fork in self.forks.items():
            out.setdefault(fork.donor, []).append(key)
        return out

    def epochs_total(self) -> int:
        return sum(self.lengths.values())

    def epochs_shared(self) -> int:
        """Training epochs the plan is sure to skip: a metric-driven fork's k is an upper bound,
        settled at run time, so it counts for nothing here."""
        return sum(f.epochs for key, f in self.forks.items() if key not in self.bounds)


def plan(grid: list[dict], steps_per_epoch: int, mode_: str) -> Plan:
    """Donors first (longest runs, fixed-like runs, runs that share most), each run forking from the
    placed run it shares most epochs with; a partial fork needs a donor that trains epoch k itself."""
    if mode_ not in MODES:
        raise ValueError(f"prefix sharing mode must be one of {MODES}, got {mode_!r}")
    p = Plan(mode_)
    p.lengths = {c["run_key"]: c["epochs"] for c in grid}
    if mode_ == "off":
        return p
    groups: dict[str, list[_Run]] = {}
    cache: dict = {}
    for i, cfg in enumerate(grid):
        groups.setdefault(group_key(cfg), []).append(_Run(cfg, i, steps_per_epoch, cache))
    for runs in groups.values():
        _plan_group([r for r in runs if r.ok], p, mode_)
    return p


def _plan_group(runs: list[_Run], p: Plan, mode_: str) -> None:
    agree = {(f.key, d.key): _agree(f, d) for f in runs for d in runs if f is not d}
    share = {r.key: sum(agree[(r.key, d.key)] for d in runs if d is not r) for r in runs}
    placed: list[_Run] = []
    trained_from: dict[str, int] = {}  # first epoch a placed run trains itself, minus one
    # A run carrying weight averages can only fork from a donor carrying the same ones, while a run
    # carrying none can fork from any: placed first, the carrier (the fixed LR with its EMA/SWA)
    # becomes the donor of the rest (WSD's trunk) instead of training that trunk a second time.
    for f in sorted(runs, key=lambda r: (-r.length, r.metric, not r.cfg.get("averages"), -share[r.key],
                                         r.index)):
        best = None
        best_rank = None
        for pos, d in enumerate(placed):
            k = agree[(f.key, d.key)]
            whole = k == f.length
            if k == 0 or (not whole and (mode_ != "all" or trained_from[d.key] >= k)):
                continue
            certain = not (f.metric or d.metric) or f.construction == d.construction
            rank = (k, certain, -trained_from[d.key], -pos)
            if best_rank is None or rank > best_rank:
                best = (d, k, certain)
                best_rank = rank
        trained_from[f.key] = 0
        if best is not None:
            d, k, certain = best
            p.forks[f.key] = Fork(d.key, k, partial_ok=mode_ == "all")
            if not certain:
                p.bounds.add(f.key)
            trained_from[f.key] = k
            if k < f.length:
                p.keeps.setdefault(d.key, set()).add(k)
        placed.append(f)


def saved_share(study, device, steps_per_epoch: int, share: bool | None = None) -> float:
    """Share of the study's training epochs the plan skips on ``device`` (a torch.device or its
    type), under the same policy as ``annealbench run`` (0 when sharing is off)."""
    from annealbench.spec.grid import expand

    device_type = getattr(device, "type", device)
    p = plan(expand(study, device_type), steps_per_epoch, mode(device_type, share))
    return p.epochs_shared() / max(1, p.epochs_total())
