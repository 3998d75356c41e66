"""What each optimizer step of a run uses, epoch by epoch, computed without training.

A run's schedule is built on a one-element dummy parameter with the run's optimizer, base LR and
steps_per_epoch and driven exactly as the runner drives it (see annealbench.schedules), recording
before every step the hyperparameters the update reads (the optimizer's ``defaults`` keys of each
param group: lr, and momentum or betas, which OneCycleLR cycles). Two runs of one model, data and
seed whose epochs 1..k agree here, and that evaluate the test split after the same epochs, write
identical records for those epochs on a deterministic device (annealbench.sharing.plan plans on this).

A metric-driven schedule (ReduceLROnPlateau) depends on validation losses: given them (a donor's
recorded ones) its trajectory is exact; without them it is computed as if validation always
improved, an upper bound the fork checks against the recorded losses before it shares anything.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import torch

from annealbench import schedules
from annealbench.optim import build_optimizer
from annealbench.spec.arms import start_step

# A replayed scheduler steps without optimizer.step(): torch warns about the order; it is intended.
SCHEDULER_ORDER_WARNING = r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`"


def tests_at(cfg: dict, epoch: int, last_epoch: int) -> bool:
    """Test split after this epoch: every epoch, at each budget-curve epoch, and at the end."""
    return cfg["eval_test"] == "every" or epoch == last_epoch or epoch in cfg.get("test_epochs", ())


def averages_agree(fork: dict, donor: dict, steps_per_epoch: int) -> int | None:
    """How many leading epochs ``fork`` may take from ``donor`` as far as the weight averages it
    carries go: all (None) when it carries none; none when the donor does not carry the same;
    else all, unless a uniform average starts at another step in each (a start given as a fraction
    of runs of different lengths): then up to the earlier start, before which neither averages."""
    if not fork.get("averages"):
        return None
    if fork["averages"] != donor.get("averages"):
        return 0
    limit = None
    for rule in fork["averages"].values():
        sa, sb = (start_step(rule, c["epochs"], steps_per_epoch) for c in (fork, donor))
        if sa != sb:
            limit = min(limit if limit is not None else sa, sa, sb) // steps_per_epoch
    return limit


def resolved_kwargs(cfg: dict, steps_per_epoch: int) -> dict:
    """The run's resolved schedule kwargs (config.json's own when the config comes from disk)."""
    if "schedule_kwargs_resolved" in cfg:
        return cfg["schedule_kwargs_resolved"]
    return schedules.resolve(cfg["schedule_type"], cfg["schedule_kwargs"], epochs=cfg["epochs"],
                             steps_per_epoch=steps_per_epoch, interval=cfg["schedule_interval"])


def needs_metric(cfg: dict, steps_per_epoch: int) -> bool:
    return _build(cfg, steps_per_epoch)[1].needs_metric


def _build(cfg: dict, steps_per_epoch: int):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(cfg["optimizer_type"], [param], cfg["base_lr"], cfg["optimizer_kwargs"])
    built = schedules.build(cfg["schedule_type"], resolved_kwargs(cfg, steps_per_epoch), optimizer,
                            interval=cfg["schedule_interval"], epochs=cfg["epochs"],
                            steps_per_epoch=steps_per_epoch)
    return optimizer, built


def _plain(v):
    if isinstance(v, torch.Tensor):
        return v.item()
    return tuple(_plain(x) for x in v) if isinstance(v, (list, tuple)) else v


def _hyperparams(optimizer, keys) -> tuple:
    return tuple(tuple(_plain(g.get(k)) for k in keys) for g in optimizer.param_groups)


def _improving(epoch: int) -> float:
    # Strictly and steeply better every epoch, so no plateau rule (rel or abs threshold) ever cuts.
    return -(2.0 ** min(epoch, 1000))


def epochs(cfg: dict, steps_per_epoch: int, val_losses: list[float] | None = None
           ) -> Iterator[tuple]:
    """For epochs 1, 2, ...: ((hyperparams, n_steps), ...), the run-length encoding of what each of
    the epoch's optimizer steps uses. ``val_losses[e - 1]``: the validation loss after epoch e,
    fed to a metric-driven schedule (without them: an always-improving sequence). Stops at the
    run's length, or where the given losses end for a metric-driven schedule."""
    optimizer, built = _build(cfg, steps_per_epoch)
    sched = built.scheduler
    keys = sorted(optimizer.defaults)
    for epoch in range(1, cfg["epochs"] + 1):
        last = False
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", SCHEDULER_ORDER_WARNING)
            if built.interval == "step":
                runs: list[list] = []
                for _ in range(steps_per_epoch):
                    hp = _hyperparams(optimizer, keys)
                    if runs and runs[-1][0] == hp:
                        runs[-1][1] += 1
                    else:
                        runs.append([hp, 1])
                    sched.step()
                key = tuple((hp, n) for hp, n in runs)
            else:
                key = ((_hyperparams(optimizer, keys), steps_per_epoch),)
                if not built.needs_metric:
                    sched.step()
                elif val_losses is None:
                    sched.step(_improving(epoch))
                elif epoch <= len(val_losses):
                    sched.step(val_losses[epoch - 1])
                else:
                    last = True
        yield key
        if last:
            return


def replay(built, epochs_done: int, steps_per_epoch: int, val_losses: list[float]) -> None:
    """Step a freshly built scheduler as the runner would have over ``epochs_done`` epochs
    (per-step: epochs_done x steps_per_epoch steps; per-epoch: once per epoch, on the epoch's
    validation loss if metric-driven), without optimizer steps."""
    sched = built.scheduler
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", SCHEDULER_ORDER_WARNING)
        for epoch in range(1, epochs_done + 1):
            if built.interval == "step":
                for _ in range(steps_per_epoch):
                    sched.step()
            elif built.needs_metric:
                sched.step(val_losses[epoch - 1])
            else:
                sched.step()
