"""Errors shown to the user as one line, without a traceback."""


class AnnealbenchError(Exception):
    """A user-facing problem; str(e) is one line."""


class DataError(AnnealbenchError):
    """Data files missing, unreadable or of the wrong shape."""


class SpecError(AnnealbenchError):
    """A study spec field has a value that is not allowed."""

    def __init__(self, file, field, value, allowed):
        self.file, self.field, self.value, self.allowed = file, field, value, allowed
        super().__init__(f"{file}: {field} = {value!r}: {allowed}")
