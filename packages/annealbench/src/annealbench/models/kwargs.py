"""Declared keyword arguments for models and datasets, checked before anything is built.

Specs come from TOML, so values are plain ints, floats, bools and lists; "omitted" is the
only way to say None. A bool is never accepted where an int is asked for (TOML `true` is
not a width).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from annealbench.errors import WHOLE, Problem


@dataclass(frozen=True)
class Kwarg:
    """One allowed keyword: Python type(s), default, and the rule as a one-line phrase."""

    types: tuple[type, ...]
    default: object
    constraint: str
    accepts: Callable[[object], bool] = field(default=lambda value: True, repr=False)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _bounds_phrase(lo, hi, lo_open=False, hi_open=False) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi}")
    return " and ".join(parts)


def _within(value, lo, hi, lo_open, hi_open) -> bool:
    if lo is not None and (value <= lo if lo_open else value < lo):
        return False
    return not (hi is not None and (value >= hi if hi_open else value > hi))


def int_kw(default: int | None, lo: int | None = None, hi: int | None = None) -> Kwarg:
    """An int in [lo, hi]; a None default means the key may be omitted (meaning "all")."""
    optional = default is None
    phrase = "an int" + (f" {_bounds_phrase(lo, hi)}" if lo is not None or hi is not None else "")
    if optional:
        phrase += " (omit for all)"

    def accepts(value):
        return (optional and value is None) or (_is_int(value) and _within(value, lo, hi, False, False))

    return Kwarg((int,), default, phrase, accepts)


def float_kw(default: float, lo=None, hi=None, lo_open=False, hi_open=False) -> Kwarg:
    bounds = _bounds_phrase(lo, hi, lo_open, hi_open)
    phrase = "a number" + (f" {bounds}" if bounds else "")

    def accepts(value):
        return _is_number(value) and _within(value, lo, hi, lo_open, hi_open)

    return Kwarg((int, float), default, phrase, accepts)


def choice_kw(default: str, choices: tuple[str, ...]) -> Kwarg:
    return Kwarg((str,), default, f"one of {', '.join(map(repr, choices))}",
                 lambda value: value in choices)


def bool_kw(default: bool) -> Kwarg:
    return Kwarg((bool,), default, "true or false", lambda value: isinstance(value, bool))


def int_list_kw(default: list[int], lo: int = 1) -> Kwarg:
    def accepts(value):
        return (
            isinstance(value, list | tuple) and len(value) > 0 and all(_is_int(v) and v >= lo for v in value)
        )

    return Kwarg((list,), list(default), f"a non-empty list of ints >= {lo}", accepts)


def check_kwargs(specs: dict[str, Kwarg], kwargs: dict) -> Problem | None:
    """None if every key is declared and every value fits, else what is allowed and the key to blame."""
    if not isinstance(kwargs, dict):
        return Problem(WHOLE, f"must be a table, got {type(kwargs).__name__}")
    unknown = [key for key in kwargs if key not in specs]
    if unknown:
        allowed = ", ".join(specs) if specs else "no arguments"
        return Problem(unknown[0], f"takes {allowed}; got {', '.join(repr(k) for k in unknown)}")
    for key, value in kwargs.items():
        if not specs[key].accepts(value):
            return Problem(key, f"{key} must be {specs[key].constraint}, got {value!r}")
    return None


def resolve_kwargs(specs: dict[str, Kwarg], kwargs: dict) -> dict:
    """Defaults filled in; call only after check_kwargs passed."""
    resolved = {key: spec.default for key, spec in specs.items()}
    resolved.update(kwargs)
    return {key: list(v) if isinstance(v, list | tuple) else v for key, v in resolved.items()}
