"""How a study's page says it was made: the wall time of every call that built it (a study can
be built by several ``annealbench run`` calls into one folder, each adding seeds or resuming),
and a command a reader can run from their own clone.

``meta.json`` lists the calls under ``calls`` (started_at, finished_at, wall_time_s, budget,
outcomes); a call listed with ``finished_at`` null was cut short (killed, or still running), and
its time runs to its last finished run. A folder written before calls were listed has only the
last call's ``wall_time_s``; when its ``first_started_at`` is earlier than that call's start,
earlier calls existed whose time is not known, and the page says so instead of passing the last
call off as the whole."""

from __future__ import annotations

import math
import shlex
from pathlib import PurePosixPath

from annealbench_report.pages.cells import fmt_duration

# options whose value belongs to the machine that ran (folders) or only to its screen
MACHINE_OPTIONS = {"--data-dir", "--out", "--progress", "--ray-address"}
PROGRESS = ("auto", "bar", "lines", "off")
SUBCOMMANDS = ("run", "tune")


def _seconds(x) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def calls(meta: dict) -> list[dict]:
    """Every call that built the study, oldest first, each with a finite ``wall_time_s``."""
    listed = [c for c in meta.get("calls") or [] if _seconds(c.get("wall_time_s")) is not None]
    if listed:
        return listed
    last = _seconds(meta.get("wall_time_s"))
    return [] if last is None else [{"started_at": meta.get("started_at"), "wall_time_s": last,
                                     "budget": meta.get("budget")}]


def earlier_calls_unknown(meta: dict) -> bool:
    """True when the study began before the only call whose time is known."""
    first, last = meta.get("first_started_at"), meta.get("started_at")
    return not meta.get("calls") and bool(first and last and first < last)


def wall_time_text(meta: dict) -> str:
    """``1:41:03 (6063.0 s) in 2 calls: 0:59:… and 0:41:…``; ``–`` when nothing is known."""
    cs = calls(meta)
    if not cs:
        return "–"
    total = sum(float(c["wall_time_s"]) for c in cs)
    if len(cs) == 1:
        text = fmt_duration(total) + (CUT if _cut(cs[0]) else "")
        if earlier_calls_unknown(meta):
            text += (f" for the last call only (started {meta.get('started_at')}); earlier calls "
                     f"since {meta.get('first_started_at')} did not record their time")
        return text
    each = ", ".join(f"{fmt_duration(c['wall_time_s'])} from {c.get('started_at') or '?'}"
                     + (CUT if _cut(c) else "") for c in cs)
    return f"{fmt_duration(total)} in {len(cs)} calls ({each})"


CUT = " (cut short: to its last finished run)"


def _cut(call: dict) -> bool:
    return "finished_at" in call and call["finished_at"] is None


def _is_path(arg: str) -> bool:
    return arg.startswith(("/", "~")) or "\\" in arg or (len(arg) > 1 and arg[1] == ":")


def _stem(path: str) -> str:
    return PurePosixPath(path.replace("\\", "/")).stem


def portable_command(meta: dict) -> str:
    """The recorded command as one to run from a clone of the repository: ``nox -s reproduce --``
    with the recorded study, budget and options, without the machine's folders (data and output
    go to ./data and ./reports unless given) and without an absolute path."""
    try:
        argv = shlex.split(str(meta.get("command") or ""))
    except ValueError:
        argv = []
    at = next((i for i, a in enumerate(argv) if a in SUBCOMMANDS), None)
    if at is None:
        study, budget = meta.get("study"), meta.get("budget")
        if not study:
            return "–"
        return shlex.join(["nox", "-s", "reproduce", "--", str(study),
                           *(["--budget", str(budget)] if budget else [])])
    kept, args = [], argv[at + 1:]
    i = 0
    while i < len(args):
        a = args[i]
        name, has_value, value = a.partition("=")
        takes_next = (not has_value and a.startswith("--") and i + 1 < len(args)
                      and not args[i + 1].startswith("-"))
        if takes_next:
            value = args[i + 1]
        if name in MACHINE_OPTIONS:
            i += 2 if takes_next and (name != "--progress" or value in PROGRESS) else 1
            continue
        if a.startswith("--") and (has_value or takes_next) and _is_path(value):
            if name == "--study":  # a study file by absolute path: by its name, as in experiments/
                kept += [name, _stem(value)]
            i += 2 if takes_next else 1  # any other folder of that machine: its default here
            continue
        kept.append(_stem(a) if _is_path(a) else a)
        i += 1
    head = ["nox", "-s", "reproduce", "--"] if argv[at] == "run" else ["annealbench", argv[at]]
    return shlex.join([*head, *kept])
