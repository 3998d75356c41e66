"""One run = one process-safe, resumable unit; a study = its grid of runs, in order.

Order of writes per epoch: the epoch's records, then (at an epoch other runs fork from) a kept copy
of the state, then the checkpoint that covers them, so a kill at any point leaves either a
consistent (records, checkpoint) pair or records (and kept state) the resume drops. A run with no
progress may start from a donor's identical first epochs (annealbench.sharing.fork).
A checkpoint or config.json that cannot be read, or that belongs to another config, restarts the
run from scratch (with a log line); a full disk (StoreError) stops the study, leaving every run
resumable, instead of marking runs failed. After an OOM the memory is released once the handler
is done (its traceback holds the model and activations); an error that leaves the CUDA context
unusable fails the run and raises DeviceLost, so the process stops instead of failing every later
run (a pool worker exits and a fresh one takes its place).
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

import torch

from annealbench.devices import (
    broken_context,
    resolve_device,  # noqa: F401  (cli, api, estimate import it from here)
)
from annealbench.devices import configure as configure_device
from annealbench.errors import DeviceLost, StoreError
from annealbench.options import TRAIN_DEFAULTS, TrainOptions
from annealbench.sharing.fork import keep as keep_state
from annealbench.sharing.fork import materialise
from annealbench.sharing.plan import NO_SHARE, Fork, Share
from annealbench.sharing.trajectory import tests_at as _tests_at
from annealbench.store import EpochRow, RunDir, RunLock, atomic_write_json
from annealbench.training import averaging
from annealbench.training.epoch import (
    Setting,
    State,
    epoch_seed,  # noqa: F401  (tests import it from here)
    eval_rows,
    heldout_outcomes,
    label,
    train_steps,
)
from annealbench.training.modes import evaluated_point
from annealbench.training.resume import load_checkpoint as _load_checkpoint
from annealbench.training.resume import same_config as _same_config
from annealbench.training.resume import save_checkpoint as _save_checkpoint

# Statuses a rerun leaves alone; a failed run (an OOM, a crash) is tried again.
FINAL_STATUSES = ("completed", "diverged")


@dataclass
class RunOutcome:
    run_key: str
    status: str            # completed | diverged | failed | skipped | busy
    epochs_trained: int = 0
    message: str = ""


@dataclass(frozen=True)
class _Diverged:
    """An epoch's records up to and including its first non-finite value, and where that was."""
    rows: list[EpochRow]
    at_step: int
    what: str


def train_run(cfg: dict, run: RunDir, task, device: torch.device, how: TrainOptions = TRAIN_DEFAULTS,
              share: Share = NO_SHARE) -> RunOutcome:
    """Train (or resume) one run to the end. The caller holds the run's lock.

    ``how.max_steps``/``how.max_epochs`` cut the run short (dry runs, benchmarks) without changing
    the schedule, which is still resolved for the full run length (and share no prefixes).
    ``share.keep_epochs``: keep the state after these epochs for runs that fork from this one;
    ``share.fork``: start from a donor's first epochs when there is no progress yet
    (annealbench.sharing.fork).
    """
    configure_device(device)  # TF32 off, cuDNN benchmark off: annealbench.devices says why
    if how.max_steps or how.max_epochs:
        share = NO_SHARE
    s = Setting.of(cfg, run, task, device, how)
    state = _start(s, share.fork)
    if state is None:  # a whole-length fork: every epoch's records are the donor's
        return _completed(s, 0)
    trained = 0
    for epoch in range(state.epoch + 1, s.last_epoch + 1):
        end = _epoch(s, state, epoch, epoch in share.keep_epochs)
        if end is not None:
            return _diverged(s, epoch, end, trained)
        trained += 1
    return _completed(s, trained)


def _start(s: Setting, fork: Fork | None) -> State | None:
    """The run's state to train on from: its checkpoint's (resume), else a donor's (fork), else
    fresh weights with the epoch-0 evaluation written. None: nothing left to train."""
    run, log = s.run, s.how.log
    state = s.fresh()
    record = s.record()
    if run.config.exists() and not _same_config(run, record, log):
        run.clear_progress()
        run.config.unlink()
    if not run.config.exists():
        atomic_write_json(run.config, record)
    had_checkpoint = run.checkpoint.exists()
    at = _load_checkpoint(run, s.device, state.model, state.optimizer, state.built.scheduler, log,
                          s.last_epoch, state.averages)
    if at is None:
        if had_checkpoint:
            state = s.fresh()  # a bad checkpoint may have half-loaded into them
        run.clear_progress()
        if fork is None:
            return _begin(s, state)
        shared = materialise(fork, record, run, state.model, state.optimizer, state.built, log,
                             state.averages)
        if shared and shared.whole:
            return None
        if not shared:
            return _begin(s, s.fresh())  # the donor's state may have half-loaded into them
        at = shared.epochs, shared.step, shared.wall  # a donor keeps only epochs it trains itself
        _save_checkpoint(run, state.model, state.optimizer, state.built.scheduler, *at, state.averages)
    state.epoch, state.step, state.wall = at
    run.drop_epochs_after(state.epoch)
    return state


def _begin(s: Setting, state: State) -> State:
    """A run from fresh weights: its epoch-0 evaluation (test too when every epoch has one)."""
    splits = ("val", "test") if s.cfg["eval_test"] == "every" else ("val",)
    lr = state.optimizer.param_groups[0]["lr"]
    at = EpochRow(0, 0, "", "", 0.0, lr, 0.0)
    with evaluated_point(state.model, state.optimizer, s.task, s.cfg, s.amp):
        rows, _ = eval_rows(s, state.model, at, splits)
    s.run.write_epoch(0, rows)
    averaging.record(s, state.averages, state.model, lambda m: eval_rows(s, m, at, splits)[0])
    return state


def _epoch(s: Setting, state: State, epoch: int, keep: bool) -> _Diverged | None:
    """Train, evaluate and record one epoch, then checkpoint it (and keep its state for forks)."""
    steps = train_steps(s, state, epoch)
    rows = steps.rows(epoch, state.step, state.wall)
    if steps.first_bad is not None:
        bad = rows[-1]
        return _Diverged(rows, bad.step, f"loss {bad.value}")
    state.step += len(rows)
    state.wall += steps.elapsed
    last_lr = steps.lrs[-1]
    rate = steps.items / max(steps.elapsed, 1e-9)
    loss = EpochRow(epoch, state.step, "train", "loss", sum(steps.losses) / len(steps.losses),
                    last_lr, state.wall)
    rows += [loss, loss._replace(metric="throughput", value=rate)]
    splits = ("val", "test") if _tests_at(s.cfg, epoch, s.last_epoch) else ("val",)
    with evaluated_point(state.model, state.optimizer, s.task, s.cfg, s.amp):  # and the checkpoint's
        evaluated, val = eval_rows(s, state.model, loss, splits)
    rows += evaluated
    # The epoch's last update is only seen by the evaluation after it: a model it made
    # non-finite diverged at that step (no checkpoint, no scheduler step on a NaN metric).
    first = next((j for j, r in enumerate(rows) if not math.isfinite(r.value)), None)
    if first is not None:
        r = rows[first]
        return _Diverged(rows[:first + 1], state.step, f"{r.split} {r.metric} {r.value}")
    averaged = averaging.record(s, state.averages, state.model, lambda m: eval_rows(s, m, loss, splits)[0],
                                lambda m: heldout_outcomes(s, m, epoch))
    _checkpoint(s, state, epoch, rows, val, keep, averaged)
    metric = s.cfg["primary_metric"]
    s.how.log(f"[{s.cfg['run_key']}] {label(s.cfg)} epoch {epoch}/{s.cfg['epochs']} loss "
              f"{loss.value:.4f} val_{metric} {val.get(metric, float('nan')):.4f} lr {last_lr:.3g} "
              f"{rate:,.0f} {s.task.item_unit}/s")
    return None


def _checkpoint(s: Setting, state: State, epoch: int, rows: list[EpochRow], val: dict, keep: bool,
                averaged: dict):
    """The epoch's scheduler step (per-epoch schedules), records, per-example held-out outcomes
    (judged epochs; ``averaged``: the averaging arms', averaging.record), kept state, then
    checkpoint."""
    built, run = state.built, s.run
    if s.cfg["schedule_interval"] == "epoch":
        built.scheduler.step(val["loss"]) if built.needs_metric else built.scheduler.step()
    run.write_epoch(epoch, rows)
    heldout = heldout_outcomes(s, state.model, epoch)
    if heldout:
        run.write_heldout(epoch, heldout, averaged)
    if keep:
        keep_state(run, state.model, state.optimizer, built.scheduler, epoch, state.step, state.wall,
                   state.averages)
    _save_checkpoint(run, state.model, state.optimizer, built.scheduler, epoch, state.step, state.wall,
                     state.averages)


def _diverged(s: Setting, epoch: int, end: _Diverged, trained: int) -> RunOutcome:
    """The epoch's records up to and including the first non-finite value, then the status:
    diverged at ``end.at_step``, in ``epoch``, which does not count as done."""
    s.run.write_epoch(epoch, end.rows)
    s.run.write_status("diverged", epochs_done=epoch - 1, diverged_step=end.at_step)
    s.how.log(f"[{s.cfg['run_key']}] {label(s.cfg)} diverged at step {end.at_step} ({end.what})")
    return RunOutcome(s.cfg["run_key"], "diverged", trained)


def _completed(s: Setting, trained: int) -> RunOutcome:
    s.run.write_status("completed", epochs_done=s.last_epoch)
    return RunOutcome(s.cfg["run_key"], "completed", trained)
def run_one(cfg: dict, run: RunDir, task, device: torch.device, how: TrainOptions = TRAIN_DEFAULTS,
            share: Share = NO_SHARE, *, wait: bool = False) -> RunOutcome:
    """Skip finished runs, leave runs another process holds ("busy"), train the rest.

    ``wait``: block until another process holding the run lets go; then report what it wrote
    (its status), or finish the run here if it died before writing one.
    """
    key = cfg["run_key"]
    st = run.finished()
    if _final(st):
        return RunOutcome(key, "skipped", 0, st["status"])
    lock = RunLock(run)
    if not lock.acquire(wait=wait):
        return RunOutcome(key, "busy", 0, "another process is running it")
    with lock:
        st = run.finished()
        if _final(st):  # another process finished it between our check and our lock
            return RunOutcome(key, "skipped", 0, st["status"])
        if wait and st is not None:  # the process we waited for failed it: not twice
            msg = st.get("error") or "failed"
            return RunOutcome(key, "failed", 0, f"failed in another process: {msg}")
        run.remove_temps()  # a killed writer's leftovers: this process owns the run now
        run.status.unlink(missing_ok=True)  # a failed run is retried from its last checkpoint
        oom = lost = False
        try:
            return train_run(cfg, run, task, device, how, share)
        except torch.OutOfMemoryError:
            oom = True
            msg = (f"out of memory on {device} at batch_size {cfg['batch_size']}; "
                   "try a smaller batch_size in the study or its budget")
        except (KeyboardInterrupt, SystemExit, StoreError):
            raise  # a full disk is not the run's fault: stop, leaving it resumable
        except Exception as e:
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
            lost = broken_context(e)
        if oom and device.type == "cuda":  # the traceback is gone: its tensors can be freed now
            gc.collect()
            torch.cuda.empty_cache()
        run.write_status("failed", error=msg)
        how.log(f"[{key}] {label(cfg)} failed: {msg}")
        if lost:
            raise DeviceLost(RunOutcome(key, "failed", 0, msg), msg)
        return RunOutcome(key, "failed", 0, msg)


def _final(status: dict | None) -> bool:
    return (status or {}).get("status") in FINAL_STATUSES


