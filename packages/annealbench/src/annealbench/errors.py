"""Errors shown to the user as one line, without a traceback."""


class AnnealbenchError(Exception):
    """A user-facing problem; str(e) is one line."""


class DataError(AnnealbenchError):
    """Data files missing, unreadable or of the wrong shape."""


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
