"""File I/O every other module builds on: JSON reads, atomic writes, temp-file clean-up, faults.

Fault injection (tests only): ``ANNEALBENCH_FAULT`` as in ``annealbench.faults``, with the points
``records-write`` (records.parquet, records.csv) and ``render-write`` (each index.html), and the
actions ``kill`` and ``enospc``; a no-op when the variable is unset. The variable is parsed as
``annealbench.faults.parse`` parses it (a malformed entry raises ValueError), and
tests/report/test_report_files_parity.py holds the two copies to the same behaviour.

The temp-file naming and clean-up mirror ``annealbench.store`` on purpose rather than importing it:
this package installs and runs without annealbench (and so without torch).
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import uuid
from pathlib import Path

from annealbench_report.errors import ReportError

FAULT_ENV = "ANNEALBENCH_FAULT"
# every action annealbench.faults knows: one variable serves both packages, so an entry meant for
# the training side (``nan:train-step:2``) must parse here too; only kill and enospc act here
FAULT_ACTIONS = ("kill", "enospc", "oom", "nan", "cuda")

_fault_plan: tuple[str, dict[str, dict[int, str]]] = ("", {})
_fault_counts: dict[str, int] = {}


def parse_faults(spec: str) -> dict[str, dict[int, str]]:
    """``"kill:records-write:3,render-write"`` -> ``{point: {occurrence: action}}``, as
    ``annealbench.faults.parse`` reads it; a malformed entry raises ValueError (one line)."""
    plan: dict[str, dict[int, str]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split(":")
        action = parts.pop(0) if parts[0] in FAULT_ACTIONS else "kill"
        if not parts or len(parts) > 2 or not parts[0] or (len(parts) == 2 and not parts[1].isdigit()):
            raise ValueError(f"{FAULT_ENV}={spec!r}: {item!r} is not [ACTION:]POINT[:N] "
                             f"(ACTION one of {', '.join(FAULT_ACTIONS)})")
        plan.setdefault(parts[0], {})[int(parts[1]) if len(parts) == 2 else 1] = action
    return plan


def fault(point: str, path: Path) -> None:
    """Pass ``point``: at its N-th pass in this process do the action $ANNEALBENCH_FAULT plans for
    it (see module docstring); returns None, and does nothing when the variable is unset."""
    global _fault_plan
    spec = os.environ.get(FAULT_ENV)
    if spec is None:
        return
    if spec != _fault_plan[0]:  # re-read when the variable changes (tests set it in-process)
        _fault_plan = (spec, parse_faults(spec))
        _fault_counts.clear()
    planned = _fault_plan[1].get(point)
    if planned is None:
        return
    n = _fault_counts.get(point, 0) + 1
    _fault_counts[point] = n
    action = planned.get(n)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def read_json(path: Path, what: str):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"{path}: cannot read {what}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: {what} is not valid JSON ({e})") from None


def read_json_optional(path: Path, what: str) -> dict:
    """A study-level JSON file (study.json, meta.json); ``{}`` when absent, an error when corrupt."""
    path = Path(path)
    if not path.exists():
        return {}
    obj = read_json(path, what)
    if not isinstance(obj, dict):
        raise ReportError(f"{path}: {what} must be a JSON object")
    return obj


# The temp-file naming contract of docs/design.md, shared with annealbench.store; kept as a
# copy here because the report package never depends on the training package (torch).
_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)\.[^.]+\.tmp$")
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def json_objects(path: Path, lines: list[str], is_one, what: str) -> list[dict]:
    """The JSON objects of a JSON-lines file's ``lines`` (blank lines skipped); a line that is not
    one, or that ``is_one`` refuses, raises ReportError naming ``path``, the line and ``what`` it
    should be."""
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or not is_one(obj):
            raise ReportError(f"{path}: line {i} is not {what}; fix or delete that line")
        out.append(obj)
    return out


def atomic_write(path: Path, write, fault_point: str | None = None) -> None:
    """``write(tmp)`` to a hidden temp file beside ``path``, fsync, then ``os.replace``: readers
    see the old file or the new one, never half of one. Permissions follow the umask. A failed
    write (a full disk) removes the temp file, keeps the old file and raises ReportError.
    ``fault_point``: the ANNEALBENCH_FAULT point this write passes, between fsync and rename."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if fault_point:
            fault(fault_point, path)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ReportError(f"{path}: cannot write ({e.strerror or e}); the previous file is "
                              "kept: free space and rerun") from e
        raise


def write_text_atomic(path: Path, text: str, *, fault: str | None = None) -> None:
    def write(tmp):
        Path(tmp).write_text(text, encoding="utf-8")

    atomic_write(Path(path), write, fault)


def remove_temps(folder) -> list[Path]:
    """Remove the hidden temp files (``.NAME.PID@HOST.RANDOM.tmp``) that a killed writer on this
    host left in ``folder``; those of a writer still alive (or on another host) are kept."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for f in entries:
        m = _TEMP.match(f.name)
        if m is None or m["host"] != _HOST or not f.is_file():
            continue
        try:
            os.kill(int(m["pid"]), 0)
            continue  # alive (or not ours to signal): its writer may still be writing
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        f.unlink(missing_ok=True)
        removed.append(f)
    return removed
