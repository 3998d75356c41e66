"""Typed accessors for spec validation: each failure raises SpecError naming file, dotted field,
value and what is allowed."""

from __future__ import annotations

import difflib
import math
import re
from contextlib import contextmanager

from annealbench.errors import MISSING, SpecError, SpecErrors


def did_you_mean(word, choices) -> str:
    """" (did you mean 'X'?)" for the allowed value ``word`` most likely misspells or shortens, or "".
    """
    if not isinstance(word, str) or not word:
        return ""
    names = sorted(str(x) for x in choices)
    close = [n for n in names if n.startswith(word)] or difflib.get_close_matches(word, names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def line_of(text: str, field_: str) -> int:
    """The line of ``text`` (a TOML file) that writes dotted ``field_``: its key under the longest
    table header that is a prefix of it, else that header; 0 when neither is found."""
    lines = text.splitlines()
    parts = field_.split(".")
    for n in range(len(parts) - 1, 0, -1):
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(map(re.escape, parts[:n])) + r"\s*\]")
        start = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if start is None:
            continue
        key = re.compile(r"^\s*" + re.escape(parts[n]) + r"\s*=")
        for i in range(start + 1, len(lines)):
            if lines[i].lstrip().startswith("["):
                break
            if key.match(lines[i]):
                return i + 1
        return start + 1
    return 0


class Skipped(Exception):
    """A check that depends on one whose mistake is already kept: it would only repeat it."""


class Part:
    """One independent check of a collecting Checker; ``failed`` once a mistake was kept in it or in
    a check it holds, so that the checks needing its result are skipped (Checker.need)."""

    failed = False


class Checker:
    """Small typed accessors that raise SpecError with the full dotted field name."""

    def __init__(self, file, text: str | None = None):
        self.file = str(file)
        self.text = text  # the file's text: collect every mistake, reported in file order
        self.errors: list[SpecError] = []
        self._open: list[Part] = []  # the part() blocks open, innermost last

    def fail(self, field_, value, allowed):
        error = SpecError(self.file, field_, value, allowed)
        if self.errors and not self._open:  # a check outside any part: stop with every mistake so far
            self.errors.append(error)
            self.raise_collected()
        raise error

    @contextmanager
    def part(self):
        """A check independent of the others: when collecting, its mistake is kept and the caller
        goes on without what the block would have produced. Yields a Part that says whether it did
        (the blocks it sits in are marked too: what they produce is incomplete)."""
        here = Part()
        if self.text is None:
            yield here
            return
        self._open.append(here)
        try:
            yield here
        except SpecError as e:
            self.errors.append(e)
            self._mark_failed()
        except Skipped:
            self._mark_failed()
        finally:
            self._open.pop()

    def _mark_failed(self) -> None:
        for p in self._open:
            p.failed = True

    def need(self, *parts: Part) -> None:
        """Skip the rest of the enclosing part when one of ``parts`` failed: its result is unknown,
        and its mistake is already kept."""
        if any(p.failed for p in parts):
            raise Skipped

    def raise_collected(self) -> None:
        """The mistakes kept so far, one line each in file order (later checks depend on them). A
        mistake found again (a table every budget reads) is kept once, as first found."""
        first = {}
        for e in self.errors:
            first.setdefault((e.field, repr(e.value)), e)
        errors = list(first.values())
        if len(errors) == 1:
            raise errors[0]
        if errors:
            lines = [line_of(self.text, e.field) for e in errors]
            raise SpecErrors([e for _, _, e in sorted(zip(lines, range(len(lines)), errors))])

    def keys(self, table, where, allowed, required=()):
        if not isinstance(table, dict):
            self.fail(where, table, "must be a table")
        for k in table:
            if k not in allowed:
                self.fail(f"{where}.{k}" if where else k, table[k],
                          f"unknown key; allowed: {', '.join(sorted(allowed))}{did_you_mean(k, allowed)}")
        for k in required:
            if k not in table:
                self.fail(f"{where}.{k}" if where else k, MISSING, "required key is missing")

    def int_(self, v, where, minimum):
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            self.fail(where, v, f"must be an integer >= {minimum}")
        return v

    def pos_float(self, v, where):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or v != v or v == float("inf"):
            self.fail(where, v, "must be a finite number > 0")
        return float(v)

    def str_(self, v, where, choices=None, pattern=None):
        if not isinstance(v, str):
            self.fail(where, v, "must be a string")
        if choices is not None and v not in choices:
            self.fail(where, v, f"allowed: {', '.join(sorted(choices))}{did_you_mean(v, choices)}")
        if pattern is not None and not pattern.match(v):
            self.fail(where, v, "must be 1-64 letters, digits, '_', '.', '-' (it names a folder)")
        return v

    def seeds(self, v, where):
        if not isinstance(v, list) or not v:
            self.fail(where, v, "must be a non-empty list of integers >= 0")
        for s in v:
            self.int_(s, where, 0)
        if len(set(v)) != len(v):
            self.fail(where, v, "seeds must be distinct")
        return tuple(v)

    def lrs(self, v, where):
        if not isinstance(v, list) or not v:
            self.fail(where, v, "must be a non-empty list of numbers > 0")
        return tuple(self.pos_float(x, where) for x in v)

    def names(self, v, where, known):
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            self.fail(where, v, "must be a non-empty list of names")
        for x in v:
            if x not in known:
                self.fail(where, x, f"not defined in this file; defined: {', '.join(sorted(known))}")
        return v

    def fractions(self, v, where):
        """A budget curve: distinct fractions of the run in (0, 1], returned ascending, 1 added."""
        if not isinstance(v, list) or not v:
            self.fail(where, v, "must be a non-empty list of fractions of the run in (0, 1], "
                                "e.g. [0.25, 0.5, 1.0]")
        for x in v:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x <= 1:
                self.fail(where, x, "each budget is a fraction of the run's epochs in (0, 1]")
        if len(set(v)) != len(v):
            self.fail(where, v, "budgets must be distinct")
        return tuple(sorted({float(x) for x in v} | {1.0}))

    def finite(self, v, where, allowed):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(where, v, allowed)
        return float(v)
