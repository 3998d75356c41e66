"""Optimizers named in study specs: sgd/adam/adamw, or any torch.optim.Optimizer subclass by import
path ("torch.optim:RAdam", "mypkg.opt:Lion"), built as ``Class(params, lr=base_lr, **kwargs)``.

TOML has no tuples, so list values (``betas = [0.9, 0.99]``) are passed as tuples, the form
torch's optimizers document.
"""

from __future__ import annotations

import torch

from annealbench import user_code
from annealbench.errors import Problem
from annealbench.user_code import Signature

BUILTIN = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
NOT_SPEC_KWARGS = ("params", "lr")  # set by annealbench: the model's parameters, the base LR


def optimizer_class(type_: str) -> type:
    if type_ in BUILTIN:
        return BUILTIN[type_]
    cls = user_code.load(type_)
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise ValueError(f"'{type_}' is not a torch.optim.Optimizer subclass")
    return cls


def _plain(kwargs: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}


def build_optimizer(type_: str, params, lr: float, kwargs: dict) -> torch.optim.Optimizer:
    return optimizer_class(type_)(params, lr=lr, **_plain(kwargs))


def check_user_optimizer(type_: str, kwargs: dict, lrs) -> Problem | None:
    """None if the class imports, takes ``kwargs`` and steps a tiny parameter at each LR;
    else the problem (errors.Problem: the kwarg to blame, or None for the type)."""
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
