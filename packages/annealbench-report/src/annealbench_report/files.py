"""File I/O every other module builds on: JSON reads, atomic writes, temp-file clean-up, faults.

Fault injection (tests only): ``ANNEALBENCH_FAULT`` as in ``annealbench.faults``, with the points
``records-write`` (records.parquet, records.csv) and ``render-write`` (each index.html), and the
actions ``kill`` and ``enospc``; a no-op when the variable is unset.

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
_fault_counts: dict[tuple[str, str], int] = {}


def fault(point: str, path: Path) -> None:
    """``[kill|enospc:]POINT[:N]`` entries of $ANNEALBENCH_FAULT (see module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        parts = item.strip().split(":")
        action = parts.pop(0) if parts[0] in ("kill", "enospc", "oom") else "kill"
        if not parts or parts[0] != point:
            continue
        at = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
        _fault_counts[(spec, point)] = n = _fault_counts.get((spec, point), 0) + 1
        if n == at and action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if n == at and action == "enospc":
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
