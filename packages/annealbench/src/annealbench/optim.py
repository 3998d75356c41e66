"""Optimizers named in study specs: sgd/adam/adamw, the schedule-free schedulefree-sgd and
schedulefree-adamw, or any torch.optim.Optimizer subclass by import path ("torch.optim:RAdam",
"mypkg.opt:Lion"), built as ``Class(params, lr=base_lr, **kwargs)``.

Both are looked up and checked by ``REGISTRY``, the shape models, data sets and schedules share
(user_code.Registry); a class by path is also tried for one step at each LR (``step_problem``).

TOML has no tuples, so list values (``betas = [0.9, 0.99]``) are passed as tuples, the form
torch's optimizers document.

A schedule-free optimizer keeps two points: the parameters hold the one gradients are taken at
(y) in train mode and the averaged one to evaluate (x) in eval mode, and its step() raises in eval
mode. ``train_mode`` / ``eval_mode`` switch any optimizer (a no-op for those without modes), so
the runner calls them everywhere without asking which optimizer it has.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import schedulefree
import torch

from annealbench import user_code
from annealbench.errors import Problem
from annealbench.user_code import Registry, Signature

NOT_SPEC_KWARGS = ("params", "lr")  # set by annealbench: the model's parameters, the base LR

Rule = Callable[[Any], str | None]  # a kwarg's value -> None, or the phrase of what is allowed


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _pair(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_number(b) for b in v)


def _rule(ok: Callable[[Any], bool], phrase: str) -> Rule:
    return lambda v: None if ok(v) else phrase


_FLAG = _rule(lambda v: isinstance(v, bool), "must be true or false")
_DECAY = _rule(lambda v: _number(v) and 0 <= v < 1e3, "must be a number >= 0")
_MOMENTUM = _rule(lambda v: _number(v) and 0 <= v < 1, "must be a number >= 0 and < 1")
_EPS = _rule(lambda v: _number(v) and 0 < v < math.inf, "must be a finite number > 0")
_BETAS = _rule(lambda v: _pair(v) and all(0 <= b < 1 for b in v), "must be two numbers in [0, 1)")
# Schedule-free's eval() divides by its momentum (SGD) or beta1 (AdamW): 0 is refused here.
_SF_MOMENTUM = _rule(lambda v: _number(v) and 0 < v < 1, "must be a number > 0 and < 1")
_SF_BETAS = _rule(lambda v: _pair(v) and 0 < v[0] < 1 and 0 <= v[1] < 1,
                  "must be two numbers, the first in (0, 1), the second in [0, 1)")
_STEPS = _rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "must be an int >= 0")
_POWER = _rule(lambda v: _number(v) and 0 <= v < math.inf, "must be a finite number >= 0")


@dataclass(frozen=True)
class Builtin:
    """A built-in optimizer: its name in a study, its class, and the kwargs a study may set, each
    with the rule its value must follow."""

    name: str
    cls: type
    rules: Mapping[str, Rule]
    schedule_free: bool = False  # averages its own iterates: trained at a fixed LR, any length
    # param-group entries its step() advances (optimizer state kept in the groups, not hyperparameters)
    group_state: tuple[str, ...] = ()

    @property
    def kwargs(self) -> frozenset[str]:
        return frozenset(self.rules)


_ADAM = {"betas": _BETAS, "eps": _EPS, "weight_decay": _DECAY, "amsgrad": _FLAG}
# The schedule-free optimizers (Defazio et al. 2024) take no LR schedule: they run at a fixed LR,
# with their own linear warmup (warmup_steps). ``foreach`` is left at the package's default.
_SCHEDULE_FREE = {"weight_decay": _DECAY, "warmup_steps": _STEPS, "r": _POWER, "weight_lr_power": _POWER}
# Its step count, the running sums of its iterate average and the mode it was left in.
_SF_GROUP_STATE = ("k", "weight_sum", "lr_max", "scheduled_lr", "train_mode")
BUILTIN = {b.name: b for b in (
    Builtin("sgd", torch.optim.SGD,
            {"momentum": _MOMENTUM, "nesterov": _FLAG, "weight_decay": _DECAY, "dampening": _DECAY}),
    Builtin("adam", torch.optim.Adam, _ADAM),
    Builtin("adamw", torch.optim.AdamW, _ADAM),
    Builtin("schedulefree-adamw", schedulefree.AdamWScheduleFree,
            {"betas": _SF_BETAS, "eps": _EPS, **_SCHEDULE_FREE}, schedule_free=True,
            group_state=_SF_GROUP_STATE),
    Builtin("schedulefree-sgd", schedulefree.SGDScheduleFree, {"momentum": _SF_MOMENTUM, **_SCHEDULE_FREE},
            schedule_free=True, group_state=_SF_GROUP_STATE),
)}


def optimizer_class(type_: str) -> type:
    """The class a study's optimizer ``type`` names; ValueError with the phrase a spec error shows."""
    if type_ in BUILTIN:
        return BUILTIN[type_].cls
    cls = user_code.load(type_)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"'{type_}' is not a torch.optim.Optimizer subclass")
    return cls


def _plain(kwargs: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def build_optimizer(type_: str, params, lr: float, kwargs: dict) -> torch.optim.Optimizer:
    return optimizer_class(type_)(params, lr=lr, **_plain(kwargs))


def _check_builtin(entry: Builtin, kwargs: dict) -> Problem | None:
    """None if the built-in takes ``kwargs`` with these values; else the kwarg to blame and why."""
    for k, v in kwargs.items():  # in the table's order, so the first bad key is the one named
        phrase = _value_problem(entry, k, v)
        if phrase:
            return Problem(k, phrase)
    if kwargs.get("nesterov") and not kwargs.get("momentum"):
        return Problem("nesterov", "needs momentum > 0")
    return None


def _value_problem(entry: Builtin, k: str, v) -> str | None:
    rule = entry.rules.get(k)
    if rule is None:
        return f"{entry.name} takes {', '.join(sorted(entry.rules))}"
    return rule(v)


def _check_path(type_: str, kwargs: dict) -> Problem | None:
    """None if the class imports and its signature takes ``kwargs``; else the problem (the kwarg to
    blame, or None for the type)."""
    try:
        cls = optimizer_class(type_)
    except ValueError as e:
        return Problem(None, str(e))
    sig = Signature(cls, skip=NOT_SPEC_KWARGS)
    owned = [k for k in kwargs if k in NOT_SPEC_KWARGS]
    if owned:
        return Problem(owned[0], "is set by annealbench (the model's parameters; lr from lrs), not the spec")
    unknown = sig.unknown(kwargs)
    if unknown:
        return Problem(unknown[0], f"{type_} takes {sig.allowed()}")
    missing = [k for k in sig.required if k not in kwargs]
    if missing:
        return Problem(missing[0], f"{type_} requires {', '.join(missing)}")
    return None


def _unknown(type_: str) -> str:
    return (f"allowed: {', '.join(sorted(BUILTIN))}, or 'package.module:Class' "
            "(a torch.optim.Optimizer subclass)")


# Built-in optimizers by name, the user's torch.optim.Optimizer subclasses by import path.
REGISTRY = Registry(BUILTIN, _check_builtin, _check_path, _unknown)


def step_problem(type_: str, kwargs: dict, lrs) -> Problem | None:
    """None if the class by path, which REGISTRY passed, steps a tiny parameter at each LR; else the
    problem, blamed on the type."""
    cls = optimizer_class(type_)
    for lr in lrs:
        problem = _one_step(cls, lr, kwargs)
        if problem:
            return Problem(None, f"{type_}(lr={lr:g}, {_shown(kwargs)}) {problem}")
    return None


def _shown(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) or "no kwargs"


def _one_step(cls: type, lr: float, kwargs: dict) -> str | None:
    """Build on a two-element parameter and take one step, as the runner will: what torch or the
    class refuses (a bad beta, a step that needs a closure) shows here, not hours in."""
    param = torch.nn.Parameter(torch.ones(2))
    try:
        opt = cls([param], lr=lr, **_plain(kwargs))
        if "lr" not in opt.param_groups[0]:
            return "keeps no 'lr' in its param groups; LR schedules need one"
        param.grad = torch.full_like(param, 0.5)
        opt.step()
    except Exception as e:  # the user's class: report whatever it raised, in one line
        return f"raised {type(e).__name__}: {user_code.one_line(e)}"
    return None


def is_schedule_free(type_: str) -> bool:
    """True for the built-in schedule-free types: at the fixed LR, one run of the full length is
    the run of every shorter length too (its iterate average needs no schedule to end)."""
    entry = BUILTIN.get(type_)
    return entry is not None and entry.schedule_free


def train_mode(optimizer: torch.optim.Optimizer) -> None:
    """Before training steps: a schedule-free optimizer puts its parameters at y (``train()``);
    any other optimizer has no modes and is left alone."""
    if _has_modes(optimizer):
        optimizer.train()


def eval_mode(optimizer: torch.optim.Optimizer) -> None:
    """Before an evaluation or a checkpoint: a schedule-free optimizer puts its parameters at the
    averaged point x (``eval()``), the one its results are about; a no-op for other optimizers."""
    if _has_modes(optimizer):
        optimizer.eval()


def _has_modes(optimizer) -> bool:
    # torch.optim.Optimizer has neither method; the schedule-free optimizers (and wrappers of
    # them) have both.
    return callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))


def applied_lr(optimizer: torch.optim.Optimizer, lr_before: float) -> float:
    """The LR the step just taken applied to group 0, given its ``lr`` read before step(): a
    schedule-free optimizer's own warmup (warmup_steps) scales that lr and keeps the product as
    ``scheduled_lr``; every other optimizer applies the lr it was given."""
    return float(optimizer.param_groups[0].get("scheduled_lr", lr_before))


def group_state(optimizer: torch.optim.Optimizer) -> tuple[str, ...]:
    """The param-group entries ``optimizer``'s steps advance (a schedule-free optimizer's ``k``,
    ``weight_sum``, ...): state to carry over with the per-parameter state where a run takes over
    another's optimizer with param groups of its own (annealbench.sharing.fork)."""
    entry = next((b for b in BUILTIN.values() if type(optimizer) is b.cls), None)
    return entry.group_state if entry else ()
