"""One epoch of a run, the parts that do not touch its files: the fixed setting of the run, its
training steps (per-step LR and loss captured, NaN checked every FINITE_CHECK_EVERY steps), and
the evaluation rows. annealbench.training.runner writes what these return."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import torch

from annealbench import faults, schedules
from annealbench.devices import StepClock
from annealbench.devices import sync as _sync
from annealbench.optim import applied_lr, build_optimizer
from annealbench.options import TrainOptions
from annealbench.precision import autocast
from annealbench.store import EpochRow, RunDir
from annealbench.training.averaging import Averages
from annealbench.training.modes import training

# How often (in steps) the loss is checked for NaN/inf: each check is a device sync.
FINITE_CHECK_EVERY = 25


def epoch_seed(seed: int, epoch: int) -> int:
    # Re-seeding per epoch makes dropout noise a function of (seed, epoch): a resumed run
    # replays exactly what an uninterrupted one would, with no RNG state to checkpoint.
    return seed * 1_000_003 + epoch


def label(cfg: dict) -> str:
    return f"{cfg['optimizer']}/{cfg['schedule']} lr={cfg['base_lr']:g} seed={cfg['seed']}"


@dataclass
class State:
    """What a run carries from epoch to epoch: its model, optimizer and schedule (a
    schedules.build result), and the epoch, step and training wall time it has reached."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    built: object
    epoch: int = 0
    step: int = 0
    wall: float = 0.0
    averages: Averages | None = None  # averaged weights of the arms riding on the run


@dataclass(frozen=True)
class Setting:
    """What stays fixed over one run: its config, folder, task and device, how it is trained, and
    its length and schedule, resolved for its full length (also when cut short)."""
    cfg: dict
    run: RunDir
    task: object
    device: torch.device
    how: TrainOptions
    steps_per_epoch: int
    last_epoch: int       # its length, or less when ``how.max_epochs`` cuts it
    resolved: dict        # the schedule's resolved kwargs

    @classmethod
    def of(cls, cfg: dict, run: RunDir, task, device: torch.device, how: TrainOptions) -> Setting:
        spe = task.steps_per_epoch()
        epochs = cfg["epochs"]
        resolved = schedules.resolve(cfg["schedule_type"], cfg["schedule_kwargs"], epochs=epochs,
                                     steps_per_epoch=spe, interval=cfg["schedule_interval"])
        return cls(cfg, run, task, device, how, spe, min(epochs, how.max_epochs or epochs), resolved)

    @property
    def amp(self) -> tuple[str, str]:
        return self.cfg.get("precision", "fp32"), self.device.type

    def record(self) -> dict:
        """config.json: the config with what it resolves to."""
        return {**self.cfg, "schedule_kwargs_resolved": self.resolved,
                "steps_per_epoch": self.steps_per_epoch}

    def fresh(self) -> State:
        cfg = self.cfg
        torch.manual_seed(cfg["seed"])  # identical initial weights for every schedule of this seed
        model = self.task.build_model(cfg["model"], cfg["model_kwargs"])
        optimizer = build_optimizer(cfg["optimizer_type"], model.parameters(), cfg["base_lr"],
                                    cfg["optimizer_kwargs"])
        built = schedules.build(cfg["schedule_type"], self.resolved, optimizer,
                                interval=cfg["schedule_interval"], epochs=cfg["epochs"],
                                steps_per_epoch=self.steps_per_epoch)
        return State(model, optimizer, built, averages=Averages.of(cfg, model, self.steps_per_epoch))


def eval_rows(s: Setting, model, at: EpochRow, splits) -> tuple[list[EpochRow], dict]:
    """The evaluation rows of ``splits`` (epoch, step, lr and wall time as in ``at``), and the
    validation metrics."""
    rows = []
    val = {}
    for split in splits:
        with autocast(*s.amp):
            metrics = s.task.evaluate(model, split)
        if split == "val":
            val = metrics
        rows += [at._replace(split=split, metric=m, value=v) for m, v in sorted(metrics.items())]
    return rows, val


def heldout_outcomes(s: Setting, model, epoch: int) -> dict:
    """Per-example val and test outcomes at an epoch a verdict judges (the run's test_epochs and
    its last), {split: {name: array}}; {} at other epochs or for a task without
    ``evaluate_examples``."""
    if epoch != s.last_epoch and epoch not in s.cfg.get("test_epochs", ()):
        return {}
    out = {}
    for split in ("val", "test"):
        with autocast(*s.amp):
            got = s.task.evaluate_examples(model, split)
        if got is None:
            return {}
        out[split] = got
    return out


@dataclass(frozen=True)
class Steps:
    """An epoch's training steps: the loss and LR of each, when each ended, the items seen."""
    losses: list[float]
    lrs: list[float]
    stamps: list[float]   # seconds since the epoch began, at the end of each step
    items: int
    elapsed: float

    @property
    def first_bad(self) -> int | None:
        """The first step whose loss is not finite."""
        return next((j for j, v in enumerate(self.losses) if not math.isfinite(v)), None)

    def rows(self, epoch: int, step: int, wall: float) -> list[EpochRow]:
        """The per-step loss rows, up to and including the first non-finite one."""
        bad = self.first_bad
        keep = len(self.losses) if bad is None else bad + 1
        return [EpochRow(epoch, step + j + 1, "train", "step_loss", self.losses[j], self.lrs[j],
                         wall + self.stamps[j]) for j in range(keep)]


def train_steps(s: Setting, state: State, epoch: int) -> Steps:
    """One epoch of optimizer steps (the scheduler stepped per step when it is), stopped early
    at a non-finite loss."""
    cfg, how, model, optimizer = s.cfg, s.how, state.model, state.optimizer
    torch.manual_seed(epoch_seed(cfg["seed"], epoch))
    training(model, optimizer)
    losses, lrs, items = [], [], 0
    limit = how.max_steps or s.steps_per_epoch
    bar = None
    if how.progress:
        from tqdm import tqdm
        bar = tqdm(total=min(s.steps_per_epoch, limit), leave=False, unit="step", file=sys.stderr,
                   desc=f"{label(cfg)} ep {epoch}/{cfg['epochs']}")
    t0 = time.perf_counter()
    clock = StepClock(s.device)
    for i, batch in enumerate(s.task.train_batches(epoch, cfg["seed"])):
        if i >= limit:
            break
        lrs.append(optimizer.param_groups[0]["lr"])
        with autocast(*s.amp):
            loss, n = s.task.train_loss(model, batch)
        blow_up = faults.hit("train-step") == "nan"
        optimizer.zero_grad(set_to_none=True)
        (loss * math.nan if blow_up else loss).backward()
        if cfg.get("clip_grad_norm"):
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip_grad_norm"])
        optimizer.step()
        lrs[-1] = applied_lr(optimizer, lrs[-1])  # with a schedule-free optimizer's own warmup
        if state.averages is not None:
            state.averages.update(model, state.step + i + 1)
        if cfg["schedule_interval"] == "step":
            state.built.scheduler.step()
        losses.append(loss.detach())
        items += n
        clock.mark()
        if bar is not None:
            bar.update()
        if (i + 1) % FINITE_CHECK_EVERY == 0 and not torch.isfinite(
                torch.stack(losses[-FINITE_CHECK_EVERY:])).all():
            break
    _sync(s.device)
    elapsed = time.perf_counter() - t0
    stamps = clock.stamps()
    if bar is not None:
        bar.close()
    return Steps(torch.stack(losses).float().cpu().tolist(), lrs, stamps, items, elapsed)
