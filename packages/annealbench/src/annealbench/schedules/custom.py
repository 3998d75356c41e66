"""User schedules named by import path, "package.module:Class", constructed as Class(optimizer, **kwargs).

Validation has to happen before anything trains (a typo found after hours of the grid is expensive),
so check() imports the class and compares the kwargs with its signature. Arguments the caller
supplies itself (`optimizer`, `last_epoch`, and the long-deprecated `verbose`) are not the spec's
to set. The meaning of a custom kwarg is unknown, so the only values checked are the relative
forms ({frac = ...}, {value, ref_epochs}), which resolve() turns into numbers like any other.
A custom schedule that needs the run length takes it as {frac = 1}.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from annealbench import user_code
from annealbench.errors import WHOLE, Problem

from .values import Run, relative_problem, resolve_relative, takes_phrase

NOT_SPEC_KWARGS = ("optimizer", "last_epoch", "verbose")


def is_path(type_: str) -> bool:
    return ":" in type_


def load(path: str) -> type:
    """The class at `path`; raises ValueError with the phrase check() reports."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname or ":" in qualname:
        raise ValueError(f"'{path}' is not of the form 'package.module:Class'")
    obj = user_code.load(path)
    # ReduceLROnPlateau is not an LRScheduler subclass in every torch release; accept both.
    if not (isinstance(obj, type) and issubclass(obj, (LRScheduler, ReduceLROnPlateau))):
        raise ValueError(f"'{path}' is not an LRScheduler or ReduceLROnPlateau subclass")
    return obj


def signature(cls: type) -> tuple[list[str], list[str], bool]:
    """(kwargs the spec may set, those without a default, whether it takes **kwargs)."""
    names = []
    required = []
    takes_any = False
    for p in inspect.signature(cls).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            takes_any = True
        elif p.kind is p.VAR_POSITIONAL or p.name in NOT_SPEC_KWARGS:
            continue
        else:
            names.append(p.name)
            if p.default is p.empty:
                required.append(p.name)
    return names, required, takes_any


def needs_metric(cls: type) -> bool:
    return issubclass(cls, ReduceLROnPlateau)


def find_problem(path: str, kwargs: dict[str, Any]) -> Problem | None:
    """None if the class imports and takes ``kwargs``; else the problem and the field it is about."""
    try:
        cls = load(path)
    except ValueError as e:
        return Problem(None, str(e))
    names, required, takes_any = signature(cls)
    owned = [k for k in kwargs if k in NOT_SPEC_KWARGS]
    if owned:
        # several are named in one phrase, so no one key carries the message
        return Problem(owned[0] if len(owned) == 1 else WHOLE,
                       f"{', '.join(owned)} is set by the runner, not the spec")
    unknown = [k for k in kwargs if k not in names]
    if unknown and not takes_any:
        return Problem(unknown[0], takes_phrase(names, unknown))
    missing = [k for k in required if k not in kwargs]
    if missing:
        return Problem(missing[0], f"requires {', '.join(missing)}")
    for k, v in kwargs.items():
        phrase = relative_problem(k, v)
        if phrase:
            return Problem(k, phrase)
    return None


def resolve(kwargs: dict[str, Any], run: Run) -> dict[str, Any]:
    return {k: resolve_relative(v, run) for k, v in kwargs.items()}
