"""LR schedules for annealbench: PyTorch's own schedulers behind a small registry.

A schedule arm in a study spec is a type plus kwargs. The type is a registry name (`available()`)
or an import path "package.module:Class" (constructed as Class(optimizer, **kwargs)). Four steps,
each usable on its own by the code that needs it:

  check(type_, kwargs)                 spec validation, before anything trains: None or a phrase
  default_interval(type_)              "epoch" or "step", unless the spec overrides it
  resolve(type_, kwargs, ...)          relative values -> plain numbers for one run (config.json)
  build(type_, resolved, optimizer, ...) -> BuiltSchedule

How the runner drives a BuiltSchedule (the tests simulate exactly this):
  - the LR an update uses is optimizer.param_groups[g]["lr"] read before optimizer.step();
  - interval "step":  scheduler.step() after every optimizer.step();
  - interval "epoch": scheduler.step() once after each epoch's last optimizer.step();
  - needs_metric:     scheduler.step(val_loss) at epoch end instead (ReduceLROnPlateau).
Resume: construct a fresh optimizer, build() the scheduler on it, then
optimizer.load_state_dict(...) and scheduler.load_state_dict(...). Building first matters:
constructing a scheduler writes the optimizer's LRs (and OneCycleLR reads the base LR from them),
and loading the optimizer afterwards puts back the LRs the interrupted run had reached. All
scheduler state dicts here contain only plain Python values, so they load with
torch.load(weights_only=True).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from annealbench.errors import WHOLE, Problem
from annealbench.user_code import Registry

from . import custom
from .registry import REGISTRY, ScheduleDef
from .values import INTERVALS, Run, has_relative, takes_phrase

__all__ = ["INTERVALS", "BuiltSchedule", "available", "default_interval", "check", "resolve", "build"]


@dataclass
class BuiltSchedule:
    scheduler: object  # an LRScheduler or ReduceLROnPlateau instance
    interval: str  # "epoch": step once after each epoch; "step": after every optimizer.step()
    needs_metric: bool  # True: the runner calls scheduler.step(val_loss) at epoch end


def available() -> list[str]:
    return sorted(REGISTRY)


def default_interval(type_: str) -> str:
    if custom.is_path(type_):
        # A custom class cannot tell us its unit; the spec sets `interval` when it is per step.
        return "epoch"
    return _definition(type_).interval


def check(type_: str, kwargs: dict, *, interval: str | None = None) -> str | None:
    """None if the arm can be resolved and built, else a short phrase saying what is allowed.

    Length-dependent constraints (e.g. warmup shorter than the run) can only be decided once the
    run's epochs are known; resolve() raises ValueError for those.
    """
    problem = find_problem(type_, kwargs, interval=interval)
    return None if problem is None else problem.phrase


def find_problem(type_: str, kwargs: dict, *, interval: str | None = None) -> Problem | None:
    """As ``check``, with the field to blame (errors.Problem): the spec places its message by it."""
    if not isinstance(type_, str):
        return Problem(WHOLE, f"schedule type must be a string, got {type_!r}")
    if not isinstance(kwargs, dict):
        return Problem(WHOLE, f"schedule kwargs must be a table, got {kwargs!r}")
    if interval is not None and interval not in INTERVALS:
        return Problem("interval", f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    problem = SCHEDULES.find_problem(type_, kwargs)
    if problem is None and interval == "step" and _needs_metric(type_):
        problem = Problem("interval", _PER_EPOCH_ONLY)
    return problem


def _needs_metric(type_: str) -> bool:
    if custom.is_path(type_):
        return custom.needs_metric(custom.load(type_))
    return REGISTRY[type_].needs_metric


def resolve(type_: str, kwargs: dict, *, epochs: int, steps_per_epoch: int, interval: str) -> dict:
    """Plain, JSON-serialisable kwargs for one run, with every default filled in.

    Raises ValueError (with check()'s phrase, or a length-dependent one) if they cannot be built.
    """
    problem = check(type_, kwargs, interval=interval)
    if problem is None and not (_positive_int(epochs) and _positive_int(steps_per_epoch)):
        problem = f"epochs and steps_per_epoch must be positive ints, got {epochs!r}, {steps_per_epoch!r}"
    if problem is not None:
        raise ValueError(problem)
    run = Run(epochs=epochs, steps_per_epoch=steps_per_epoch, interval=interval)
    if custom.is_path(type_):
        return custom.resolve(kwargs, run)
    d = REGISTRY[type_]
    out = {name: p.resolve(kwargs.get(name, p.default), run) for name, p in d.params.items()}
    for name in d.run_kwargs:
        out[name] = run.length
    if d.settle is not None:
        d.settle(out, run)
    return out


def build(
    type_: str, resolved: dict, optimizer: Any, *, interval: str, epochs: int, steps_per_epoch: int
) -> BuiltSchedule:
    """Construct the scheduler on `optimizer` (which must be fresh: see the module docstring).

    `resolved` is resolve()'s output for this same run. epochs and steps_per_epoch catch a config
    resolved for another run where a kwarg *is* the run length (onecycle's total_steps,
    warmup-cosine's total_iters); lengths that may be a fraction of the run cannot be checked here.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, got {interval!r}")
    unresolved = [k for k, v in resolved.items() if has_relative(v)]
    if unresolved:
        raise ValueError(f"kwargs {', '.join(unresolved)} are not resolved; pass them through resolve()")
    if custom.is_path(type_):
        cls = custom.load(type_)
        metric = custom.needs_metric(cls)
        scheduler = cls(optimizer, **resolved)
    else:
        d = _definition(type_)
        run = Run(epochs=epochs, steps_per_epoch=steps_per_epoch, interval=interval)
        stale = [k for k in d.run_kwargs if resolved.get(k) != run.length]
        if stale:
            raise ValueError(
                f"{', '.join(stale)} do not match this run ({run.length} {interval}s); resolve() again"
            )
        metric = d.needs_metric
        scheduler = d.make(optimizer, dict(resolved))
    if metric and interval != "epoch":
        raise ValueError(_PER_EPOCH_ONLY)
    return BuiltSchedule(scheduler=scheduler, interval=interval, needs_metric=metric)


_PER_EPOCH_ONLY = (
    "a metric-driven schedule (ReduceLROnPlateau) steps on validation loss, so its interval must be 'epoch'"
)


def _definition(type_: str) -> ScheduleDef:
    d = REGISTRY.get(type_)
    if d is None:
        raise ValueError(_unknown(type_))
    return d


def _unknown(type_: str) -> str:
    return f"unknown schedule {type_!r}; allowed: {', '.join(available())} or 'package.module:Class'"


def _check_registered(d: ScheduleDef, kwargs: dict[str, Any]) -> Problem | None:
    owned = [k for k in kwargs if k in d.reserved]
    if owned:
        return Problem(owned[0], d.reserved[owned[0]])
    unknown = [k for k in kwargs if k not in d.params]
    if unknown:
        return Problem(unknown[0], takes_phrase(list(d.params), unknown))
    missing = [k for k, p in d.params.items() if p.required and k not in kwargs]
    if missing:
        return Problem(missing[0], f"requires {', '.join(missing)}")
    for name, value in kwargs.items():
        phrase = d.params[name].problem(name, value)
        if phrase:
            return Problem(name, phrase)
    if d.relate is not None:
        merged = {k: kwargs.get(k, p.default) for k, p in d.params.items()}
        problem = d.relate(merged)
        if problem is not None and problem.field not in kwargs:  # between defaults: no key to show
            problem = Problem(WHOLE, problem.phrase)
        return problem
    return None


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


# Built-in schedules by name, the user's LRScheduler subclasses by import path.
SCHEDULES = Registry(REGISTRY, _check_registered, custom.find_problem, _unknown)
