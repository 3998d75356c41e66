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
import sys
import time
from dataclasses import dataclass

import torch

from annealbench import faults, schedules
from annealbench.devices import (
    StepClock,
    broken_context,
    resolve_device,  # noqa: F401  (cli, api, estimate import it from here)
)
from annealbench.devices import configure as configure_device
from annealbench.devices import sync as _sync
from annealbench.errors import DeviceLost, StoreError
from annealbench.optim import build_optimizer
from annealbench.options import TRAIN_DEFAULTS, TrainOptions
from annealbench.precision import autocast
from annealbench.sharing.fork import keep as keep_state
from annealbench.sharing.fork import materialise
from annealbench.sharing.plan import NO_SHARE, Share
from annealbench.sharing.trajectory import tests_at as _tests_at
from annealbench.store import RunDir, RunLock, atomic_write_json
from annealbench.training.resume import load_checkpoint as _load_checkpoint
from annealbench.training.resume import same_config as _same_config
from annealbench.training.resume import save_checkpoint as _save_checkpoint

# How often (in steps) the loss is checked for NaN/inf: each check is a device sync.
FINITE_CHECK_EVERY = 25
# Statuses a rerun leaves alone; a failed run (an OOM, a crash) is tried again.
FINAL_STATUSES = ("completed", "diverged")


@dataclass
class RunOutcome:
    run_key: str
    status: str            # completed | diverged | failed | skipped | busy
    epochs_trained: int = 0
    message: str = ""


def epoch_seed(seed: int, epoch: int) -> int:
    # Re-seeding per epoch makes dropout noise a function of (seed, epoch): a resumed run
    # replays exactly what an uninterrupted one would, with no RNG state to checkpoint.
    return seed * 1_000_003 + epoch


def _eval_rows(task, model, epoch, step, lr, wall, splits, amp) -> tuple[list[tuple], dict]:
    rows = []
    val = {}
    for split in splits:
        with autocast(*amp):
            metrics = task.evaluate(model, split)
        if split == "val":
            val = metrics
        rows += [(epoch, step, split, m, v, lr, wall) for m, v in sorted(metrics.items())]
    return rows, val


def _label(cfg: dict) -> str:
    return f"{cfg['optimizer']}/{cfg['schedule']} lr={cfg['base_lr']:g} seed={cfg['seed']}"


def train_run(cfg: dict, run: RunDir, task, device: torch.device, how: TrainOptions = TRAIN_DEFAULTS,
              share: Share = NO_SHARE) -> RunOutcome:
    """Train (or resume) one run to the end. The caller holds the run's lock.

    ``how.max_steps``/``how.max_epochs`` cut the run short (dry runs, benchmarks) without changing
    the schedule, which is still resolved for the full run length (and share no prefixes).
    ``share.keep_epochs``: keep the state after these epochs for runs that fork from this one;
    ``share.fork``: start from a donor's first epochs when there is no progress yet
    (annealbench.sharing.fork).
    """
    log, progress, max_steps, max_epochs = how.log, how.progress, how.max_steps, how.max_epochs
    keep_epochs, fork = share.keep_epochs, share.fork
    key = cfg["run_key"]
    configure_device(device)  # TF32 off, cuDNN benchmark off: annealbench.devices says why
    if max_steps or max_epochs:
        keep_epochs = ()
        fork = None
    amp = (cfg.get("precision", "fp32"), device.type)
    steps_per_epoch = task.steps_per_epoch()
    epochs = cfg["epochs"]
    interval = cfg["schedule_interval"]
    last_epoch = min(epochs, max_epochs or epochs)
    resolved = schedules.resolve(cfg["schedule_type"], cfg["schedule_kwargs"], epochs=epochs,
                                 steps_per_epoch=steps_per_epoch, interval=interval)

    def fresh():
        torch.manual_seed(cfg["seed"])  # identical initial weights for every schedule of this seed
        model = task.build_model(cfg["model"], cfg["model_kwargs"])
        optimizer = build_optimizer(cfg["optimizer_type"], model.parameters(), cfg["base_lr"],
                                    cfg["optimizer_kwargs"])
        built = schedules.build(cfg["schedule_type"], resolved, optimizer, interval=interval,
                                epochs=epochs, steps_per_epoch=steps_per_epoch)
        return model, optimizer, built

    model, optimizer, built = fresh()
    sched = built.scheduler
    record = {**cfg, "schedule_kwargs_resolved": resolved, "steps_per_epoch": steps_per_epoch}
    if run.config.exists() and not _same_config(run, record, log):
        run.clear_progress()
        run.config.unlink()
    if not run.config.exists():
        atomic_write_json(run.config, record)

    had_checkpoint = run.checkpoint.exists()
    state = _load_checkpoint(run, device, model, optimizer, sched, log, last_epoch)
    if state is None:
        if had_checkpoint:
            model, optimizer, built = fresh()  # a bad checkpoint may have half-loaded into them
        run.clear_progress()
        shared = fork and materialise(fork, record, run, model, optimizer, built, log)
        if shared and shared.whole:
            return _completed(run, key, last_epoch, 0)
        if shared:  # a donor keeps only epochs it trains itself: none up to here
            state = shared.epochs, shared.step, shared.wall
            _save_checkpoint(run, model, optimizer, built.scheduler, *state)
        elif fork:
            model, optimizer, built = fresh()  # the donor's state may have half-loaded into them
    sched = built.scheduler
    if state is None:
        splits = ("val", "test") if cfg["eval_test"] == "every" else ("val",)
        rows, _ = _eval_rows(task, model, 0, 0, optimizer.param_groups[0]["lr"], 0.0, splits,
                             amp)
        run.write_epoch(0, rows)
        epoch0 = 0
        step = 0
        wall = 0.0
    else:
        epoch0, step, wall = state
        run.drop_epochs_after(epoch0)
    trained = 0
    unit = task.item_unit
    for epoch in range(epoch0 + 1, last_epoch + 1):
        torch.manual_seed(epoch_seed(cfg["seed"], epoch))
        model.train()
        losses = []
        lrs = []
        items = 0
        bad = None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=min(steps_per_epoch, max_steps or steps_per_epoch), leave=False,
                       desc=f"{_label(cfg)} ep {epoch}/{epochs}", file=sys.stderr, unit="step")
        t0 = time.perf_counter()
        clock = StepClock(device)
        for i, batch in enumerate(task.train_batches(epoch, cfg["seed"])):
            if i >= (max_steps or steps_per_epoch):
                break
            lrs.append(optimizer.param_groups[0]["lr"])
            with autocast(*amp):
                loss, n = task.train_loss(model, batch)
            blow_up = faults.hit("train-step") == "nan"
            optimizer.zero_grad(set_to_none=True)
            (loss * math.nan if blow_up else loss).backward()
            if cfg.get("clip_grad_norm"):
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad_norm"])
            optimizer.step()
            if interval == "step":
                sched.step()
            losses.append(loss.detach())
            items += n
            clock.mark()
            if bar is not None:
                bar.update()
            if (i + 1) % FINITE_CHECK_EVERY == 0 and not torch.isfinite(
                    torch.stack(losses[-FINITE_CHECK_EVERY:])).all():
                break
        _sync(device)
        elapsed = time.perf_counter() - t0
        stamps = clock.stamps()
        if bar is not None:
            bar.close()
        values = torch.stack(losses).float().cpu().tolist()
        bad = next((j for j, v in enumerate(values) if not math.isfinite(v)), None)
        keep = len(values) if bad is None else bad + 1
        rows = [(epoch, step + j + 1, "train", "step_loss", values[j], lrs[j], wall + stamps[j])
                for j in range(keep)]
        if bad is not None:
            return _diverged(run, cfg, epoch, rows, step + bad + 1, f"loss {values[bad]}", trained, log)
        step += keep
        wall += elapsed
        last_lr = lrs[-1]
        rows += [(epoch, step, "train", "loss", sum(values) / len(values), last_lr, wall),
                 (epoch, step, "train", "throughput", items / max(elapsed, 1e-9), last_lr, wall)]
        splits = ("val", "test") if _tests_at(cfg, epoch, last_epoch) else ("val",)
        eval_rows, val = _eval_rows(task, model, epoch, step, last_lr, wall, splits, amp)
        rows += eval_rows
        # The epoch's last update is only seen by the evaluation after it: a model it made
        # non-finite diverged at that step (no checkpoint, no scheduler step on a NaN metric).
        first = next((j for j, r in enumerate(rows) if not math.isfinite(r[4])), None)
        if first is not None:
            what = " ".join(map(str, rows[first][2:5]))
            return _diverged(run, cfg, epoch, rows[:first + 1], step, what, trained, log)
        if interval == "epoch":
            sched.step(val["loss"]) if built.needs_metric else sched.step()
        run.write_epoch(epoch, rows)
        if epoch in keep_epochs:
            keep_state(run, model, optimizer, sched, epoch, step, wall)
        _save_checkpoint(run, model, optimizer, sched, epoch, step, wall)
        trained += 1
        metric = cfg["primary_metric"]
        log(f"[{key}] {_label(cfg)} epoch {epoch}/{epochs} loss {rows[keep][4]:.4f} "
            f"val_{metric} {val.get(metric, float('nan')):.4f} lr {last_lr:.3g} "
            f"{items / max(elapsed, 1e-9):,.0f} {unit}/s")
    return _completed(run, key, last_epoch, trained)


def _diverged(run: RunDir, cfg: dict, epoch: int, rows: list[tuple], at_step: int, what: str,
              trained: int, log) -> RunOutcome:
    """The epoch's records up to and including the first non-finite value (``rows`` end with it),
    then the status: diverged at ``at_step``, in ``epoch``, which does not count as done."""
    run.write_epoch(epoch, rows)
    run.write_status("diverged", epochs_done=epoch - 1, diverged_step=at_step)
    log(f"[{cfg['run_key']}] {_label(cfg)} diverged at step {at_step} ({what})")
    return RunOutcome(cfg["run_key"], "diverged", trained)


def _completed(run: RunDir, key: str, last_epoch: int, trained: int) -> RunOutcome:
    run.write_status("completed", epochs_done=last_epoch)
    return RunOutcome(key, "completed", trained)


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
        how.log(f"[{key}] {_label(cfg)} failed: {msg}")
        if lost:
            raise DeviceLost(RunOutcome(key, "failed", 0, msg), msg)
        return RunOutcome(key, "failed", 0, msg)


def _final(status: dict | None) -> bool:
    return (status or {}).get("status") in FINAL_STATUSES


