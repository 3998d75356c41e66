"""Built-in schedules: name -> (default interval, kwargs it takes, how to construct it).

Each entry is data, so check() can validate a spec and resolve() can fill in defaults without
constructing anything. Resolved kwargs always carry every default, so that a spec that writes a
default out and one that omits it produce the same config.json and the same run key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch.optim import Optimizer
from torch.optim import lr_scheduler as sched

from annealbench.errors import Problem

from . import wsd
from .factors import ConstantFactor, LinearFactor
from .stepped_decay import SteppedDecayLR
from .trapezoid import TrapezoidLR
from .values import Choice, Flag, Length, Lengths, Number, Param, Rate, Run, frac_part

RUN_LENGTH = "{name} is the run length, filled in by the runner"


@dataclass(frozen=True)
class ScheduleDef:
    name: str
    interval: str
    params: dict[str, Param]
    make: Callable[[Optimizer, dict[str, Any]], Any]
    needs_metric: bool = False
    # kwargs the runner owns; a user setting them gets the reason instead of "unknown kwarg".
    reserved: dict[str, str] = field(default_factory=dict)
    # kwargs set to the run length at resolve time (never user-settable; listed in `reserved`).
    run_kwargs: tuple[str, ...] = ()
    # Cross-kwarg check on raw kwargs (defaults merged, each kwarg already valid): a phrase or None.
    relate: Callable[[dict[str, Any]], Problem | None] | None = None
    # Cross-kwarg check on resolved values, where lengths are known: raises ValueError.
    settle: Callable[[dict[str, Any], Run], None] | None = None


def _gamma(default: Any = 0.1) -> Number:
    return Number(default, gt=0)


def _eta_min() -> Number:
    return Number(0.0, ge=0)


# -- relate / settle ---------------------------------------------------------------------------


def _warmup_cosine_relate(kw: dict[str, Any]) -> Problem | None:
    if frac_part(kw["warmup"]) == 1:
        return Problem("warmup", "warmup must leave room for the cosine: {frac = x} needs x < 1")
    return None


def _warmup_cosine_settle(kw: dict[str, Any], run: Run) -> None:
    if kw["warmup"] >= kw["total_iters"]:
        raise ValueError(
            f"warmup ({kw['warmup']}) must be shorter than the run ({kw['total_iters']} {run.interval}s)"
        )


def _trapezoid_relate(kw: dict[str, Any]) -> Problem | None:
    w = frac_part(kw["warmup"])
    d = frac_part(kw["decay"])
    t = frac_part(kw["total_iters"])
    if w is not None and d is not None and t is not None and w + d > t + 1e-12:
        return Problem("warmup", f"warmup + decay must fit in total_iters; got fracs {w} + {d} > {t}")
    return None


def _trapezoid_settle(kw: dict[str, Any], run: Run) -> None:
    if kw["warmup"] + kw["decay"] > kw["total_iters"]:
        raise ValueError(
            f"warmup + decay ({kw['warmup']} + {kw['decay']}) exceed total_iters ({kw['total_iters']} "
            f"{run.interval}s)"
        )


def _onecycle_settle(kw: dict[str, Any], run: Run) -> None:
    # OneCycleLR divides by each phase's length; a phase of length 0 is a ZeroDivisionError
    # mid-run, so refuse it here with the reason instead.
    total = kw["total_steps"]
    pct = kw["pct_start"]
    if kw["three_phase"]:
        ends = [pct * total - 1, 2 * pct * total - 2, total - 1]
        need = "pct_start * total > 1 and pct_start < (total + 1) / (2 * total)"
    else:
        ends = [pct * total - 1, total - 1]
        need = "pct_start * total > 1"
    if not (0 < ends[0] and all(a < b for a, b in zip(ends, ends[1:]))):
        raise ValueError(
            f"onecycle has an empty phase: pct_start={pct} over {total} {run.interval}s (need {need})"
        )


# -- constructors ------------------------------------------------------------------------------


def _warmup_cosine(opt: Optimizer, kw: dict[str, Any]) -> Any:
    w = kw["warmup"]
    total = kw["total_iters"]
    # LinearLR reaches factor 1 at t = W; SequentialLR hands over at that same t and restarts the
    # cosine at its top (closed form at 0 = base LR), so the joint is continuous.
    warm = sched.LinearLR(opt, start_factor=kw["start_factor"], end_factor=1.0, total_iters=w)
    cos = sched.CosineAnnealingLR(opt, T_max=total - w, eta_min=kw["eta_min"])
    return sched.SequentialLR(opt, [warm, cos], milestones=[w])


def _onecycle(opt: Optimizer, kw: dict[str, Any]) -> Any:
    # The arm's peak is the run's base LR (the grid sweeps base_lr); read it from the optimizer,
    # which must therefore be fresh (scheduler built before optimizer.load_state_dict on resume).
    max_lr = [float(g["lr"]) for g in opt.param_groups]
    return sched.OneCycleLR(
        opt,
        max_lr=max_lr,
        total_steps=kw["total_steps"],
        pct_start=float(kw["pct_start"]),
        anneal_strategy=kw["anneal_strategy"],
        cycle_momentum=kw["cycle_momentum"],
        base_momentum=kw["base_momentum"],
        max_momentum=kw["max_momentum"],
        div_factor=kw["div_factor"],
        final_div_factor=kw["final_div_factor"],
        three_phase=kw["three_phase"],
    )


def _plateau(opt: Optimizer, kw: dict[str, Any]) -> Any:
    # mode is fixed: the runner feeds validation loss, where lower is better.
    return sched.ReduceLROnPlateau(opt, mode="min", **kw)


_ONECYCLE_OWNED = {
    "max_lr": "max_lr is the run's base LR (set base_lr instead)",
    "total_steps": RUN_LENGTH.format(name="total_steps") + " (OneCycleLR cannot run past it)",
    "epochs": RUN_LENGTH.format(name="epochs"),
    "steps_per_epoch": RUN_LENGTH.format(name="steps_per_epoch"),
}

_DEFS = [
    ScheduleDef(
        "constant",
        "epoch",
        {},
        lambda opt, kw: sched.LambdaLR(opt, ConstantFactor()),
    ),
    ScheduleDef(
        "step",
        "epoch",
        {"step_size": Length(), "gamma": _gamma()},
        lambda opt, kw: sched.StepLR(opt, **kw),
    ),
    ScheduleDef(
        "multistep",
        "epoch",
        {"milestones": Lengths(), "gamma": _gamma()},
        lambda opt, kw: sched.MultiStepLR(opt, **kw),
    ),
    ScheduleDef(
        "exponential",
        "epoch",
        {"gamma": Rate()},
        lambda opt, kw: sched.ExponentialLR(opt, **kw),
    ),
    ScheduleDef(
        "linear",
        "epoch",
        {"final_factor": Number(0.1, ge=0), "total_iters": Length({"frac": 1.0}, frac_only=True)},
        lambda opt, kw: sched.LambdaLR(opt, LinearFactor(kw["final_factor"], kw["total_iters"])),
    ),
    ScheduleDef(
        "stepped-decay",
        "epoch",
        {"step_size": Length(), "gamma": _gamma()},
        lambda opt, kw: SteppedDecayLR(opt, **kw),
    ),
    ScheduleDef(
        "cosine",
        "step",
        {"T_max": Length({"frac": 1.0}, frac_only=True), "eta_min": _eta_min()},
        lambda opt, kw: sched.CosineAnnealingLR(opt, **kw),
    ),
    ScheduleDef(
        "cosine-restarts",
        "step",
        {"T_0": Length(), "T_mult": Number(1, ge=1, integer=True), "eta_min": _eta_min()},
        lambda opt, kw: sched.CosineAnnealingWarmRestarts(opt, **kw),
    ),
    ScheduleDef(
        "onecycle",
        "step",
        {
            "pct_start": Number(0.3, gt=0, lt=1),
            "anneal_strategy": Choice("cos", ("cos", "linear")),
            "cycle_momentum": Flag(True),
            "base_momentum": Number(0.85, ge=0, lt=1),
            "max_momentum": Number(0.95, ge=0, lt=1),
            "div_factor": Number(25.0, gt=0),
            "final_div_factor": Number(1e4, gt=0),
            "three_phase": Flag(False),
        },
        _onecycle,
        reserved=_ONECYCLE_OWNED,
        run_kwargs=("total_steps",),
        settle=_onecycle_settle,
    ),
    ScheduleDef(
        "plateau",
        "epoch",
        {
            "factor": Number(0.1, gt=0, lt=1),
            "patience": Length(10, min_int=0),
            "threshold": Number(1e-4, ge=0),
            "threshold_mode": Choice("rel", ("rel", "abs")),
            "cooldown": Length(0, min_int=0),
            "min_lr": Number(0.0, ge=0),
            "eps": Number(1e-8, ge=0),
        },
        _plateau,
        needs_metric=True,
        reserved={"mode": "mode is fixed to 'min' (the runner steps plateau on validation loss)"},
    ),
    ScheduleDef(
        "warmup-cosine",
        "step",
        {"warmup": Length({"frac": 0.05}), "start_factor": Number(0.01, gt=0, le=1), "eta_min": _eta_min()},
        _warmup_cosine,
        reserved={"total_iters": RUN_LENGTH.format(name="total_iters")},
        run_kwargs=("total_iters",),
        relate=_warmup_cosine_relate,
        settle=_warmup_cosine_settle,
    ),
    ScheduleDef(
        "trapezoid",
        "step",
        {
            "warmup": Length({"frac": 0.05}, min_int=0),
            "decay": Length({"frac": 0.2}),
            "total_iters": Length({"frac": 1.0}, frac_only=True),
        },
        lambda opt, kw: TrapezoidLR(opt, **kw),
        relate=_trapezoid_relate,
        settle=_trapezoid_settle,
    ),
    ScheduleDef(
        "wsd",
        "step",
        wsd.PARAMS,
        lambda opt, kw: wsd.WSDLR(opt, **kw),
        reserved={"total_iters": RUN_LENGTH.format(name="total_iters") + " (the cooldown ends with the run)"},
        run_kwargs=("total_iters",),
        relate=wsd.relate,
        settle=wsd.settle,
    ),
]

REGISTRY: dict[str, ScheduleDef] = {d.name: d for d in _DEFS}
