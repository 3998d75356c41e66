"""User code named by import path, "package.module:attribute", and where it is looked for.

A study may name its model, data set, optimizer or schedule by import path. The folder holding
the study file (the current directory for a study given as a dict) is searched first, as Python
searches a script's own folder, then the installed packages (``pip install -e your-package``).
That folder also goes on ``PYTHONPATH``, because the processes annealbench starts to train runs
(parallel workers, a local Ray instance) must import the same code: ``multiprocessing`` passes
``sys.path`` on, but a subprocess or a Ray worker sees only the environment. A Ray cluster
started elsewhere sees neither: install the package on its nodes."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annealbench.errors import Problem

FORM = "package.module:attribute"


@dataclass(frozen=True)
class Registry:
    """One kind of piece a study names (a model, data set, optimizer, schedule): a built-in by name,
    or the user's own by import path, whose signature says which kwargs it takes. Each kind gives
    its built-ins, the check of a built-in's kwargs, the check of a piece by path, and the phrase
    for a name that is neither."""

    entries: Mapping[str, Any]
    check_entry: Callable[[Any, dict], Problem | None]
    check_path: Callable[[str, dict], Problem | None]
    unknown: Callable[[str], str]

    def find_problem(self, name: str, kwargs: dict) -> Problem | None:
        """None if ``name`` is known and takes ``kwargs``; else what is wrong (None: the name)."""
        if is_path(name):
            return self.check_path(name, kwargs)
        entry = self.entries.get(name)
        if entry is None:
            return Problem(None, self.unknown(name))
        return self.check_entry(entry, kwargs)

    def check(self, name: str, kwargs: dict) -> str | None:
        """The phrase of ``find_problem`` (None if there is none)."""
        problem = self.find_problem(name, kwargs)
        return None if problem is None else problem.phrase


def is_path(name: object) -> bool:
    return isinstance(name, str) and ":" in name


def add_search_folder(folder: Path) -> None:
    """Look for user modules in ``folder`` too, in this process and in those it starts later."""
    folder = str(Path(folder).resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)
        importlib.invalidate_caches()
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if folder not in parts:
        os.environ["PYTHONPATH"] = os.pathsep.join([folder, *parts])


def load(path: str) -> Any:
    """The object at ``path``; ValueError with a one-line reason if it cannot be had."""
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname or ":" in qualname:
        raise ValueError(f"'{path}' is not of the form '{FORM}'")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # an import can fail with anything; the spec author needs the cause
        raise ValueError(f"cannot import '{path}' ({type(e).__name__}: {one_line(e)})") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"cannot import '{path}': module '{module_name}' has no attribute "
                             f"'{qualname}'")
        obj = getattr(obj, part)
    return obj


def one_line(e: BaseException, limit: int = 200) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class PieceError(ValueError):
    """A user piece failed its check; ``key`` is the study key to blame (None: the piece's name)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


class Signature:
    """The keyword arguments a callable takes, as a study may set them.

    ``skip``: arguments annealbench passes itself; ``first``: the first positional parameter is
    annealbench's too (the data directory of a data set callable), whatever its name.
    """

    def __init__(self, fn, skip: tuple[str, ...] = (), first: bool = False):
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):  # a builtin without a signature: take it on trust
            params = []
            self.var_keyword = True
            self.takes_first = True
        else:
            self.var_keyword = any(p.kind is p.VAR_KEYWORD for p in params)
            self.takes_first = bool(params) and params[0].kind in (
                params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD, params[0].VAR_POSITIONAL)
            if first and self.takes_first:
                params = params[1:]
        named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        self.names = [p.name for p in named if p.name not in skip]
        self.required = [p.name for p in named if p.name not in skip and p.default is p.empty]

    def takes(self, name: str) -> bool:
        """Named explicitly (a ``**kwargs`` does not count: it may not mean what the name says)."""
        return name in self.names

    def unknown(self, kwargs) -> list[str]:
        return [] if self.var_keyword else [k for k in kwargs if k not in self.names]

    def allowed(self) -> str:
        names = ", ".join(self.names) or "no keyword arguments"
        return names + (" (and any other, through **kwargs)" if self.var_keyword else "")
