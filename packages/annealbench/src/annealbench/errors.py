"""Errors shown to the user as one line, without a traceback, and the problems checks report."""

from dataclasses import dataclass


class AnnealbenchError(Exception):
    """A user-facing problem; str(e) is one line."""


class DataError(AnnealbenchError):
    """Data files missing, unreadable or of the wrong shape."""


@dataclass(frozen=True)
class Problem:
    """What a check of a named piece (a schedule, model, data set, optimizer) found wrong, as a value
    the caller places without reading the phrase: ``field`` is the kwarg to blame (one the table
    lacks when it is a required one), None for the piece's type or name itself, or WHOLE when no
    one key is at fault."""

    field: str | None
    phrase: str


WHOLE = "*"  # Problem.field when the table as a whole is at fault


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # SpecError value for "no value to show" (a missing key, a syntax error)


class SpecError(AnnealbenchError):
    """A study spec field has a value that is not allowed: ``file: field = value: allowed``."""

    def __init__(self, file, field, value, allowed):
        self.file = file
        self.field = field
        self.value = value
        self.allowed = allowed
        shown = "" if value is MISSING else f" = {value!r}"
        super().__init__(f"{file}: {field}{shown}: {' '.join(str(allowed).split())}")


class SpecErrors(AnnealbenchError):
    """Several SpecErrors of one study file, in file order: str(e) is one line each."""

    def __init__(self, errors: list):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class StoreError(AnnealbenchError):
    """A file of the run store cannot be written (full disk, size limit, permissions)."""


class DeviceLost(AnnealbenchError):
    """The process's CUDA context is unusable (a device-side assert, an illegal address): the run
    that hit it is failed (``outcome``), and the process must not train another."""

    def __init__(self, outcome, why: str):
        self.outcome = outcome
        super().__init__(f"{why}; this process's CUDA context is unusable: rerun to resume")


class TuningError(AnnealbenchError):
    """A budget's tuning file (its base LRs chosen on other seeds) is missing, unreadable or stale."""
