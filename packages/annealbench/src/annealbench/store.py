"""The run store: one directory per run, every file replaced atomically.

A reader (another process, the report, a resume after SIGKILL) sees either the previous complete
file or the new complete file, never a torn one: write to a temp file in the same directory, fsync,
then ``os.replace``. See docs/design.md for the layout.

A write that fails (a full disk, a file-size limit, a read-only folder) removes its temp file and
raises :class:`StoreError`, one line naming the file: the previous complete file stays, and the
study stops (every later write would fail the same way) rather than marking runs failed. Temp
files carry the writer's pid and host, so a rerun can remove those a killed process on this host
left behind (and never those of a writer alive, here or on another node sharing the folder).
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import NamedTuple

import numpy as np

from annealbench import faults
from annealbench.errors import StoreError
from annealbench.heldout import (  # noqa: F401 (re-exported)
    HELDOUT_FILE,
    heldout_arm,
    heldout_arrays,
    heldout_epoch,
    heldout_key,
)


class EpochRow(NamedTuple):
    """One row of an epoch file (``epochs/NNNNN.csv``); its fields are the file's columns."""
    epoch: int
    step: int
    split: str
    metric: str
    value: float
    lr: float
    wall_time_s: float


EPOCH_COLUMNS = EpochRow._fields  # declared once, by EpochRow
AVERAGE_COLUMNS = ("arm", *EPOCH_COLUMNS)  # averages.csv: an averaging arm's evaluations on its host
# written with repr, so every bit survives: resumed and uninterrupted runs compare equal
FLOAT_COLUMNS = ("value", "lr", "wall_time_s")
_PARSE = {"epoch": int, "step": int, "split": str, "metric": str, "value": float, "lr": float,
          "wall_time_s": float}


# .<name>.<pid>@<host>.<random>.tmp: a later process can tell a dead writer's leftovers
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)\.[^.]+\.tmp$")
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


def atomic_write_bytes(path: Path, data: bytes, *, fault: str | None = "json-write") -> None:
    """Replace ``path`` with ``data`` atomically; ``fault`` names the point for annealbench.faults
    (None: a write no fault test targets)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:8]}.tmp"
        # not mkstemp: its 0600 would make these files unreadable on a published site, while
        # every other output follows the umask (0666 & ~umask, applied by the kernel)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if fault:
            faults.hit(fault, path)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise StoreError(
                f"cannot write {path}: {e.strerror or e}; nothing finished is lost: free space "
                "(or fix the folder) and rerun the same command to resume") from e
        raise


def atomic_write_json(path: Path, obj, *, fault: str = "json-write") -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(),
                       fault=fault)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_temps(folder: Path, *, only_dead: bool = True) -> list[Path]:
    """Remove temp files a killed writer left in ``folder`` (not recursive).

    ``only_dead``: remove only those of a dead process on this host (a writer may be alive on
    another node); False when the caller holds the folder's lock, so every temp file is stale.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for f in entries:
        if not (f.name.startswith(".") and f.name.endswith(".tmp")) or not f.is_file():
            continue
        m = _TEMP.match(f.name)
        if only_dead and (m is None or m["host"] != _HOST or _alive(int(m["pid"]))):
            continue
        f.unlink(missing_ok=True)
        removed.append(f)
    return removed


def now() -> str:
    """The wall-clock time as written into status.json and study.json (UTC, whole seconds)."""
    from datetime import UTC, datetime
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def read_epoch(path: Path) -> list[EpochRow]:
    """The rows of an epoch file, each column parsed to its type, by name."""
    with open(path, newline="") as f:
        return [EpochRow(**{c: _PARSE[c](r[c]) for c in EPOCH_COLUMNS}) for r in csv.DictReader(f)]


class RunDir:
    """Paths and file formats of one run's directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.status = self.root / "status.json"
        self.checkpoint = self.root / "checkpoint.pt"
        self.epochs = self.root / "epochs"
        self.lock_file = self.root / ".lock"
        self.prefix = self.root / "prefix"  # states kept at the epochs other runs fork from
        self.shared = self.root / "prefix.json"  # what this run took from a donor (annealbench.sharing.fork)
        self.averages = self.root / "averages.csv"  # evaluations of the averaged weights it carries
        self.heldout = self.root / HELDOUT_FILE  # per-example held-out outcomes (write_heldout)

    def epoch_file(self, epoch: int) -> Path:
        return self.epochs / f"{epoch:05d}.csv"

    def prefix_file(self, epoch: int) -> Path:
        return self.prefix / f"{epoch:05d}.pt"

    def write_epoch(self, epoch: int, rows: list[EpochRow]) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(EPOCH_COLUMNS)
        w.writerows([[repr(float(v)) if c in FLOAT_COLUMNS else v for c, v in zip(EPOCH_COLUMNS, r)]
                     for r in rows])
        atomic_write_bytes(self.epoch_file(epoch), buf.getvalue().encode(), fault="epoch-write")

    def read_epoch(self, epoch: int) -> list[EpochRow]:
        return read_epoch(self.epoch_file(epoch))

    def write_averages(self, rows: list[tuple[str, EpochRow]]) -> None:
        """averages.csv, whole: (arm, row) pairs in the order given."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(AVERAGE_COLUMNS)
        w.writerows([[arm, *(repr(float(v)) if c in FLOAT_COLUMNS else v for c, v in zip(EPOCH_COLUMNS, r))]
                     for arm, r in rows])
        atomic_write_bytes(self.averages, buf.getvalue().encode(), fault="averages-write")

    def read_averages(self) -> list[tuple[str, EpochRow]]:
        """averages.csv's (arm, row) pairs; none when there is no file."""
        if not self.averages.exists():
            return []
        with open(self.averages, newline="") as f:
            return [(r["arm"], EpochRow(**{c: _PARSE[c](r[c]) for c in EPOCH_COLUMNS}))
                    for r in csv.DictReader(f)]

    def read_heldout(self) -> dict[str, np.ndarray]:
        """The arrays of ``heldout.npz`` ({} when absent), keyed ``SPLIT.NAME.EPOCH`` (an
        averaging arm's ``ARM+SPLIT.NAME.EPOCH``)."""
        if not self.heldout.exists():
            return {}
        with np.load(self.heldout) as z:
            return {k: z[k] for k in z.files}

    def write_heldout(self, epoch: int, outcomes: dict[str, dict[str, np.ndarray]],
                      averaged: dict[str, dict[str, dict[str, np.ndarray]]] | None = None) -> None:
        """Add ``epoch``'s per-example outcomes ({split: {name: array}}) and those of the
        averaging arms riding on the run ({arm: {split: {name: array}}}) to ``heldout.npz``,
        replacing the file atomically; entries of this or later epochs (a resumed epoch) are
        dropped first. Losses are stored as float16, "correct" packed to bits
        (heldout_arrays), so a run's file stays small."""
        out = {k: v for k, v in self.read_heldout().items() if heldout_epoch(k) < epoch}
        for arm, by_split in [(None, outcomes), *sorted((averaged or {}).items())]:
            for split, arrays in by_split.items():
                out.update(heldout_arrays(split, epoch, arrays, arm))
        self.replace_heldout(out)

    def replace_heldout(self, stored: dict[str, np.ndarray], *, fault: str | None = None) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **stored)
        atomic_write_bytes(self.heldout, buf.getvalue(), fault=fault)

    def drop_epochs_after(self, epoch: int) -> None:
        """Forget epoch files (and kept states) the checkpoint does not cover (written just
        before a kill): they are written again, maybe not bitwise equal on CUDA."""
        for folder, pattern in ((self.epochs, "*.csv"), (self.prefix, "*.pt")):
            if folder.is_dir():
                for f in folder.glob(pattern):
                    if f.stem.isdigit() and int(f.stem) > epoch:
                        f.unlink()
        rows = self.read_averages()
        kept = [(a, r) for a, r in rows if r.epoch <= epoch]
        if not kept:
            self.averages.unlink(missing_ok=True)
        elif len(kept) < len(rows):
            self.write_averages(kept)

    def clear_progress(self) -> None:
        self.checkpoint.unlink(missing_ok=True)
        self.shared.unlink(missing_ok=True)
        self.heldout.unlink(missing_ok=True)
        self.drop_epochs_after(-1)

    def remove_temps(self) -> list[Path]:
        """Temp files of a writer that died; call only while holding the run's lock."""
        return [f for d in (self.root, self.epochs, self.prefix) for f in remove_temps(d, only_dead=False)]

    def write_status(self, status: str, *, epochs_done: int | None = None,
                     diverged_step: int | None = None, error: str | None = None) -> None:
        """status.json, the run's last file: completed, diverged or failed, stamped with the time."""
        atomic_write_json(self.status, {"status": status, "epochs_done": epochs_done,
                                        "diverged_step": diverged_step, "error": error,
                                        "finished_at": now()}, fault="status-write")

    def finished(self) -> dict | None:
        try:
            return read_json(self.status)
        except (OSError, ValueError):
            return None


class RunLock:
    """An exclusive, non-blocking ``flock`` on the run directory.

    The kernel drops it when the holder dies, so a SIGKILLed process never leaves a stale lock.
    """

    def __init__(self, run: RunDir):
        self.run = run
        self.fd = None

    def acquire(self, wait: bool = False, shared: bool = False) -> bool:
        """Take the lock; False if another process holds it (``wait``: block until it is free).

        ``shared``: a reader's lock (forks copying a donor), which excludes only the writer."""
        self.run.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:  # interrupted while waiting
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()
