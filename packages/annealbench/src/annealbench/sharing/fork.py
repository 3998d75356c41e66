"""Shared prefixes at run time (the plan is annealbench.sharing.plan).

A donor keeps an atomic copy of its checkpoint at each epoch a fork starts from
(``prefix/NNNNN.pt``, the donor's run key inside). A fork with no progress of its own, holding
its own lock and briefly a shared lock on its donor (so no process trains it meanwhile):

1. reads the donor's config.json, status, epoch files 0..k and kept state, and proves on them
   that the records would be identical: every config field but the schedule's and the length
   equal, and both schedules, stepped on the donor's recorded validation losses, use the same
   hyperparameters in every step of epochs 1..k with test evaluated after the same epochs;
2. copies the epoch files 0..k byte for byte (wall_time_s is the donor's measured training time),
   writes ``prefix.json`` (donor and k), and then either
   - k = its length: the runner writes its status (nothing to train), or
   - replays its own scheduler over k epochs, takes the donor's model and per-parameter optimizer
     state (its own param groups: they hold its own schedule's values), and the runner writes its
     checkpoint at k and trains the rest as a resume would.

Until that checkpoint (or status) lands the fork has no progress of its own, so a kill anywhere
in between makes the rerun start over cleanly. When the donor diverged before k, or a file is
missing, unreadable or does not prove identity, one line is logged and the run trains from scratch.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from annealbench.devices import transient
from annealbench.errors import StoreError
from annealbench.optim import group_state
from annealbench.sharing import trajectory
from annealbench.sharing.plan import SCHEDULE_FIELDS, Fork, Plan
from annealbench.store import (
    RunDir,
    RunLock,
    atomic_write_bytes,
    atomic_write_json,
    heldout_arm,
    heldout_epoch,
    read_json,
)


@dataclass(frozen=True)
class Shared:
    epochs: int   # epochs 0..epochs now hold the donor's records
    step: int
    wall: float
    whole: bool   # the run's whole length: nothing left to train


class _NoShare(Exception):
    """Why the records cannot be proven identical (one phrase)."""


def materialise(fork: Fork, record: dict, run: RunDir, model, optimizer, built, log,
                averages=None) -> Shared | None:
    """Start ``run`` (config.json written, no progress) from its donor; None: train from scratch
    (the caller then rebuilds model, optimizer and scheduler from the seed). ``averages``: the
    averaged weights the run carries (annealbench.training.averaging), the donor's after a partial
    fork (the plan pairs only runs carrying the same averages)."""
    donor = RunDir(run.root.parent / fork.donor)
    why = None
    if not donor.config.exists():
        why = "it has not run"
    else:
        lock = RunLock(donor)
        if not _share_lock(lock):
            why = "another process is running it"
        else:
            with lock:
                try:
                    return _materialise(fork, record, run, model, optimizer, built, log,
                                        averages)
                except StoreError:
                    raise  # a full disk stops the study, as anywhere else
                except _NoShare as e:
                    why = str(e)
                except Exception as e:  # a truncated or foreign file
                    if transient(e):  # the device's or memory's: not the donor's files
                        run.clear_progress()
                        raise
                    why = " ".join(f"unreadable: {type(e).__name__}: {e}".split())[:200]
    run.clear_progress()  # anything copied before the problem showed
    log(f"[{record['run_key']}] not sharing epochs 1-{fork.epochs} of {fork.donor}: {why}; "
        "training from scratch")
    return None


def _share_lock(lock: RunLock, tries: int = 20) -> bool:
    """A shared lock on the donor (other forks may read it at the same time). Another process
    may hold it for a moment (checking the donor's status): retry briefly, but never block, so two
    processes with different plans cannot wait on each other's runs."""
    for _ in range(tries):
        if lock.acquire(shared=True):
            return True
        time.sleep(0.1)
    return False


def _materialise(fork, record, run, model, optimizer, built, log, averages) -> Shared:
    donor = RunDir(run.root.parent / fork.donor)
    spe = record["steps_per_epoch"]
    length = record["epochs"]
    theirs = read_json(donor.config)
    mine = json.loads(json.dumps(record, default=str))
    if not isinstance(theirs, dict) or _common(theirs) != _common(mine):
        raise _NoShare("its config.json differs beyond the schedule and length")
    status = donor.finished() or {}
    limit = min(fork.epochs, length)
    done = status.get("epochs_done") or 0 if status.get("status") in ("completed", "diverged") else 0
    if done < limit:
        raise _NoShare(f"its status is {status.get('status', 'unfinished')} after {done} epochs")
    agreed = _agreement(mine, theirs, spe, _val_losses(donor, limit - 1), limit)
    if agreed == length:
        k = length
    elif not fork.partial_ok:
        raise _NoShare(f"the records agree for {agreed} of {length} epochs and partial forks are "
                       "off on this device (--share-prefix)")
    else:  # the planned epoch, or (a metric-driven schedule that cut earlier) a kept one before
        kept = [e for e in range(min(agreed, length - 1), 0, -1) if donor.prefix_file(e).exists()]
        if not kept:
            raise _NoShare(f"the records agree for {agreed} epochs and it kept no state up to there")
        k = kept[0]
    files = [donor.epoch_file(e).read_bytes() for e in range(k + 1)]
    if k == length:
        _copy(run, files, fork.donor, k, mine, whole=True)
        log(f"[{record['run_key']}] all {k} epochs shared with {fork.donor} (same trajectory)")
        return Shared(k, k * spe, 0.0, True)
    ck = torch.load(donor.prefix_file(k), map_location="cpu", weights_only=True)  # as resume
    if ck.get("run_key") != fork.donor or ck.get("epoch") != k or ck.get("step") != k * spe:
        raise _NoShare(f"{donor.prefix_file(k)} is not its state after epoch {k}")
    _copy(run, files, fork.donor, k, mine, whole=False)
    trajectory.replay(built, k, spe, _val_losses(run, k))
    optimizer.load_state_dict({"state": ck["optimizer"]["state"],
                               "param_groups": _groups(optimizer, ck["optimizer"]["param_groups"])})
    model.load_state_dict(ck["model"])
    if averages is not None:
        averages.load_state_dict(ck["averages"])
    log(f"[{record['run_key']}] epochs 1-{k} shared with {fork.donor} (same trajectory), "
        f"training {k + 1}-{length}")
    return Shared(k, int(ck["step"]), float(ck["wall_time_s"]), False)


def _groups(optimizer, donors: list[dict]) -> list[dict]:
    """The fork's own param groups (they hold its own schedule's values) with the entries the
    donor's steps advanced: else a schedule-free optimizer's average would restart mid-run."""
    carried = group_state(optimizer)
    own = optimizer.state_dict()["param_groups"]
    return [{**g, **{k: d[k] for k in carried if k in d}} for g, d in zip(own, donors, strict=True)]


def _common(cfg: dict) -> dict:
    return {k: v for k, v in cfg.items() if k not in SCHEDULE_FIELDS}


def _val_losses(run: RunDir, epochs: int) -> list[float]:
    """Validation loss after epochs 1..epochs (what a metric-driven schedule steps on), as far
    as the files go."""
    out = []
    for e in range(1, epochs + 1):
        try:
            rows = [r for r in run.read_epoch(e) if (r.split, r.metric) == ("val", "loss")]
        except OSError:
            break
        if len(rows) != 1:
            break
        out.append(rows[0].value)
    return out


def _agreement(mine: dict, theirs: dict, spe: int, val: list[float], limit: int) -> int:
    k = 0
    pairs = zip(trajectory.epochs(mine, spe, val), trajectory.epochs(theirs, spe, val))
    averaged = trajectory.averages_agree(mine, theirs, spe)
    limit = limit if averaged is None else min(limit, averaged)
    for e, (a, b) in enumerate(pairs, 1):
        if e > limit or a != b or trajectory.tests_at(mine, e, mine["epochs"]) != \
                trajectory.tests_at(theirs, e, theirs["epochs"]):
            break
        k = e
    return k


def _copy(run: RunDir, files: list[bytes], donor: str, k: int, mine: dict, *, whole: bool) -> None:
    for e, data in enumerate(files):
        atomic_write_bytes(run.epoch_file(e), data, fault="fork-copy")
    arms = mine.get("averages") or {}  # the donor carries the same (trajectory.averages_agree)
    averaged = [(a, r) for a, r in RunDir(run.root.parent / donor).read_averages()
                if a in arms and r.epoch <= k]
    if averaged:  # the averaged weights' evaluations, which the same trajectory gives alike
        run.write_averages(averaged)
    _copy_heldout(run, RunDir(run.root.parent / donor), k, arms)
    atomic_write_json(run.shared, {"donor": donor, "epochs": k, "whole": whole})


def _copy_heldout(run: RunDir, donor: RunDir, k: int, arms) -> None:
    """The donor's per-example outcomes of the shared epochs 1..k (the judged ones among them),
    its own weights' and those of the averaging ``arms`` the fork carries too."""
    shared = {key: a for key, a in donor.read_heldout().items()
              if heldout_epoch(key) <= k and heldout_arm(key) in (None, *arms)}
    if shared:
        run.replace_heldout(shared, fault="fork-copy")


def totals(root: Path, grid: list[dict], plan: Plan) -> dict:
    """For meta.json: the policy, and how many of the grid's training epochs were shared."""
    forks = whole = shared = 0
    for cfg in grid:
        try:
            got = read_json(Path(root) / "runs" / cfg["run_key"] / "prefix.json")
            got_whole = bool(got["whole"])
            got_epochs = int(got["epochs"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        forks += 1  # only a prefix.json that reads in full counts
        whole += got_whole
        shared += got_epochs
    total = plan.epochs_total()
    return {"mode": plan.mode, "epochs_total": total, "epochs_planned": plan.epochs_shared(),
            "epochs_shared": shared, "forks": forks, "whole_forks": whole,
            "share": round(shared / max(1, total), 4)}


def prune(root: Path, plan: Plan) -> None:
    """Drop a donor's kept states once every run forking from it has a final status."""
    for donor, forks in plan.donors().items():
        runs = [RunDir(Path(root) / "runs" / key) for key in forks]
        if not all((r.finished() or {}).get("status") in ("completed", "diverged") for r in runs):
            continue
        d = RunDir(Path(root) / "runs" / donor)
        if not d.prefix.is_dir():
            continue
        lock = RunLock(d)
        if lock.acquire():  # not while another process trains (and keeps) it
            with lock:
                shutil.rmtree(d.prefix, ignore_errors=True)


def keep(run: RunDir, model, optimizer, scheduler, epoch: int, step: int, wall: float,
         averages=None) -> None:
    """Donor side: a copy of the state after ``epoch`` for the runs that fork there. Written after
    the epoch's records and before its checkpoint, so a resume (which drops kept states newer
    than its checkpoint) never pairs a kept state with records of another attempt."""
    atomic_write_bytes(run.prefix_file(epoch), state_bytes(run, model, optimizer, scheduler, epoch,
                                                           step, wall, averages), fault="prefix-write")


def state_bytes(run: RunDir, model, optimizer, scheduler, epoch: int, step: int, wall: float,
                averages=None) -> bytes:
    """A run's state after ``epoch``: what checkpoint.pt and the kept prefix files hold (with the
    averaged weights it carries, annealbench.training.averaging, when it carries any)."""
    buf = io.BytesIO()
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "scheduler": scheduler.state_dict(), "epoch": epoch, "step": step,
             "wall_time_s": wall, "run_key": run.root.name}
    if averages is not None:
        state["averages"] = averages.state_dict()
    torch.save(state, buf)
    return buf.getvalue()
