"""Optimizers named in study specs: sgd/adam/adamw, or any torch.optim.Optimizer subclass by import
path ("torch.optim:RAdam", "mypkg.opt:Lion"), built as ``Class(params, lr=base_lr, **kwargs)``.

Both are looked up and checked by ``REGISTRY``, the shape models, data sets and schedules share
(user_code.Registry); a class by path is also tried for one step at each LR (``step_problem``).

TOML has no tuples, so list values (``betas = [0.9, 0.99]``) are passed as tuples, the form
torch's optimizers document.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from annealbench import user_code
from annealbench.errors import Problem
from annealbench.user_code import Registry, Signature

NOT_SPEC_KWARGS = ("params", "lr")  # set by annealbench: the model's parameters, the base LR


@dataclass(frozen=True)
class Builtin:
    """A built-in optimizer: its name in a study, its class, and the kwargs a study may set."""

    name: str
    cls: type
    kwargs: frozenset[str]


_ADAM_KWARGS = frozenset({"betas", "eps", "weight_decay", "amsgrad"})
BUILTIN = {
    "sgd": Builtin("sgd", torch.optim.SGD, frozenset({"momentum", "nesterov", "weight_decay", "dampening"})),
    "adam": Builtin("adam", torch.optim.Adam, _ADAM_KWARGS),
    "adamw": Builtin("adamw", torch.optim.AdamW, _ADAM_KWARGS),
}


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


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _value_problem(entry: Builtin, k: str, v) -> str | None:
    if k not in entry.kwargs:
        return f"{entry.name} takes {', '.join(sorted(entry.kwargs))}"
    if k in {"momentum", "weight_decay", "dampening"} and (
            not _number(v) or not 0 <= v < 1e3 or (k == "momentum" and v >= 1)):
        return "must be a number >= 0" + (" and < 1" if k == "momentum" else "")
    if k in {"nesterov", "amsgrad"} and not isinstance(v, bool):
        return "must be true or false"
    if k == "eps" and not (_number(v) and 0 < v < math.inf):
        return "must be a finite number > 0"
    if k == "betas" and not (isinstance(v, list) and len(v) == 2 and all(
            _number(b) and 0 <= b < 1 for b in v)):
        return "must be two numbers in [0, 1)"
    return None


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
