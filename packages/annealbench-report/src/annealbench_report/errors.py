"""The one error the report raises for a problem a user can act on."""


class ReportError(Exception):
    """A user-facing problem with the study's files; ``str(e)`` is one line naming the file."""
