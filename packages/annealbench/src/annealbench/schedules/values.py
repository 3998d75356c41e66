"""What a spec may write for one schedule kwarg, and how it becomes a plain number for one run.

Studies are run under several budgets (a smoke budget shrinks the epochs), so any kwarg that is a
length or a per-interval rate may be written relative to the run instead of as a number:

  {frac = x}                   -> max(1, round(x * L)), L = run length in the schedule's interval
                                  units (epochs, or epochs * steps_per_epoch)
  {frac = [a, b, ...]}         -> a list of those (milestones)
  {value = g, ref_epochs = R}  -> a per-interval rate whose total decay over the run equals g per
                                  epoch over R epochs (g ** (R / epochs) per epoch, and that
                                  ** (1 / steps_per_epoch) per step)

Every kind answers two questions: `problem(name, value)` (a short phrase, or None) before anything
trains, and `resolve(value, run)` for a value that already passed, returning plain JSON numbers,
because the result is written to config.json and hashed into the run key.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

INTERVALS = ("epoch", "step")

# Distinct from None: None can be a real default (e.g. a custom class kwarg).
REQUIRED: Any = object()

FRAC_HINT = "{frac = x} with 0 < x <= 1"


@dataclass(frozen=True)
class Run:
    """The facts about one run that relative values depend on."""

    epochs: int
    steps_per_epoch: int
    interval: str

    @property
    def length(self) -> int:
        # In scheduler.step() calls: the runner steps once per epoch or once per optimizer step.
        return self.epochs if self.interval == "epoch" else self.epochs * self.steps_per_epoch


def is_number(v: Any) -> bool:
    # bool is an int subclass; `gamma = true` in TOML is a typo, not 1.
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_frac(x: Any) -> bool:
    # 0 would be a zero-length schedule; > 1 would outlast the run, which is what plain ints are for.
    return is_number(x) and 0 < x <= 1


def frac_of(x: float, length: int) -> int:
    return max(1, round(x * length))


def frac_part(v: Any) -> float | None:
    """x of a valid {frac = x}, else None (a plain count, or a value its own check refuses)."""
    return v["frac"] if isinstance(v, dict) and is_frac(v.get("frac")) else None


def fmt(v: Any) -> str:
    return repr(v)


class Param:
    """One kwarg: its default (REQUIRED if none) and its value kind."""

    def __init__(self, default: Any = REQUIRED) -> None:
        self.default = default

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def problem(self, name: str, value: Any) -> str | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def resolve(self, value: Any, run: Run) -> Any:
        return value


class Number(Param):
    """A finite number inside an interval; `integer` for counts."""

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        integer: bool = False,
    ) -> None:
        super().__init__(default)
        self.gt = gt
        self.ge = ge
        self.lt = lt
        self.le = le
        self.integer = integer

    def describe(self) -> str:
        lo = ("(", self.gt) if self.gt is not None else ("[", self.ge) if self.ge is not None else None
        hi = (")", self.lt) if self.lt is not None else ("]", self.le) if self.le is not None else None
        kind = "an int " if self.integer else ""
        if lo and hi:
            return f"{kind}in {lo[0]}{_n(lo[1])}, {_n(hi[1])}{hi[0]}"
        if lo:
            return f"{kind}{'>' if lo[0] == '(' else '>='} {_n(lo[1])}"
        if hi:
            return f"{kind}{'<' if hi[0] == ')' else '<='} {_n(hi[1])}"
        return "an int" if self.integer else "a number"

    def problem(self, name: str, value: Any) -> str | None:
        ok = is_int(value) if self.integer else is_number(value)
        if ok:
            ok = (
                (self.gt is None or value > self.gt)
                and (self.ge is None or value >= self.ge)
                and (self.lt is None or value < self.lt)
                and (self.le is None or value <= self.le)
            )
        return None if ok else f"{name} must be {self.describe()}, got {fmt(value)}"

    def resolve(self, value: Any, run: Run) -> Any:
        # float() so that `gamma = 1` and `gamma = 1.0` hash to the same run key.
        return int(value) if self.integer else float(value)


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class Length(Param):
    """A count of scheduler steps: a plain int, or {frac = x} of the run length.

    `frac_only` marks a length the runner owns (T_max, total_iters): by default it is the whole run,
    and a user may only shorten it relative to the run, never pin it to a number that silently
    stops matching the run when the budget changes.
    """

    def __init__(self, default: Any = REQUIRED, *, min_int: int = 1, frac_only: bool = False) -> None:
        super().__init__(default)
        self.min_int = min_int
        self.frac_only = frac_only

    def problem(self, name: str, value: Any) -> str | None:
        if _frac_dict(value) and is_frac(value["frac"]):
            return None
        if self.frac_only:
            return (
                f"{name} is the run length, filled in by the runner; only {FRAC_HINT} "
                f"may be given, got {fmt(value)}"
            )
        if is_int(value) and value >= self.min_int:
            return None
        what = "a positive int" if self.min_int == 1 else f"an int >= {self.min_int}"
        return f"{name} must be {what} or {FRAC_HINT}, got {fmt(value)}"

    def resolve(self, value: Any, run: Run) -> int:
        if isinstance(value, dict):
            return frac_of(value["frac"], run.length)
        return int(value)


class Lengths(Param):
    """Strictly increasing positive ints (milestones), or {frac = [a, b, ...]}."""

    HINT = "a non-empty increasing list of positive ints or {frac = [a, b, ...]} with increasing 0 < x <= 1"

    def problem(self, name: str, value: Any) -> str | None:
        items = value["frac"] if _frac_dict(value) else value
        ok = isinstance(items, list) and len(items) > 0
        if ok and isinstance(value, dict):
            ok = all(is_frac(x) for x in items)
        elif ok:
            ok = all(is_int(x) and x >= 1 for x in items)
        # Repeated milestones make MultiStepLR multiply by gamma twice at once: never intended.
        ok = ok and all(a < b for a, b in zip(items, items[1:]))
        return None if ok else f"{name} must be {self.HINT}, got {fmt(value)}"

    def resolve(self, value: Any, run: Run) -> list[int]:
        if isinstance(value, dict):
            out = [frac_of(x, run.length) for x in value["frac"]]
            if any(a >= b for a, b in zip(out, out[1:])):
                raise ValueError(
                    f"milestones {fmt(value)} collapse to {out} in a run of {run.length} "
                    f"{run.interval}s; space them further apart"
                )
            return out
        return [int(x) for x in value]


class Rate(Param):
    """A per-interval multiplicative rate: > 0, or {value = g, ref_epochs = R}.

    The relative form keeps the *total* decay of a run fixed when its epochs change: a spec tuned as
    "0.95 per epoch over 100 epochs" still ends at 0.95 ** 100 of the base LR in a 10-epoch smoke run.
    """

    HINT = "> 0 or {value = g, ref_epochs = R} with g > 0, R > 0"

    def problem(self, name: str, value: Any) -> str | None:
        if isinstance(value, dict):
            ok = (
                set(value) == {"value", "ref_epochs"}
                and is_number(value["value"])
                and value["value"] > 0
                and is_number(value["ref_epochs"])
                and value["ref_epochs"] > 0
            )
        else:
            ok = is_number(value) and value > 0
        return None if ok else f"{name} must be {self.HINT}, got {fmt(value)}"

    def resolve(self, value: Any, run: Run) -> float:
        if not isinstance(value, dict):
            return float(value)
        per_epoch = float(value["value"]) ** (float(value["ref_epochs"]) / run.epochs)
        if run.interval == "epoch":
            return per_epoch
        return per_epoch ** (1.0 / run.steps_per_epoch)


class Choice(Param):
    def __init__(self, default: Any, options: tuple[str, ...]) -> None:
        super().__init__(default)
        self.options = options

    def problem(self, name: str, value: Any) -> str | None:
        if value in self.options and isinstance(value, str):
            return None
        allowed = ", ".join(repr(o) for o in self.options)
        return f"{name} must be one of {allowed}, got {fmt(value)}"


class Flag(Param):
    def problem(self, name: str, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"{name} must be true or false, got {fmt(value)}"

    def resolve(self, value: Any, run: Run) -> bool:
        return bool(value)


def _frac_dict(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"frac"}


def relative_problem(name: str, value: Any) -> str | None:
    """For kwargs whose meaning we cannot know (custom classes): only the relative forms are ours to check."""
    if not isinstance(value, dict):
        return None
    if "frac" in value:
        kind: Param = Lengths() if isinstance(value.get("frac"), list) else Length()
        return kind.problem(name, value)
    if "value" in value or "ref_epochs" in value:
        return Rate().problem(name, value)
    return None


def resolve_relative(value: Any, run: Run) -> Any:
    if isinstance(value, dict) and "frac" in value:
        kind: Param = Lengths() if isinstance(value["frac"], list) else Length()
        return kind.resolve(value, run)
    if isinstance(value, dict) and "ref_epochs" in value:
        return Rate().resolve(value, run)
    return value


def has_relative(value: Any) -> bool:
    """True if a value still holds a relative form (i.e. it was not passed through resolve)."""
    return isinstance(value, dict) and ("frac" in value or "ref_epochs" in value)


def takes_phrase(names: list[str], unknown: list[str]) -> str:
    """The unknown-kwarg message: what is allowed, what was given, and the likely typo."""
    takes = ", ".join(names) if names else "no arguments"
    got = ", ".join(f"'{k}'" for k in unknown)
    hint = ""
    if len(unknown) == 1:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"takes {takes}; got {got}{hint}"
