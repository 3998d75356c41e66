"""The run store: one directory per run, every file replaced atomically.

A reader (another process, the report, a resume after SIGKILL) sees either the previous complete
file or the new complete file, never a torn one: write to a temp file in the same directory, fsync,
then ``os.replace``. See docs/design.md for the layout.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import tempfile
from pathlib import Path

EPOCH_COLUMNS = ("epoch", "step", "split", "metric", "value", "lr", "wall_time_s")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


class RunDir:
    """Paths and file formats of one run's directory."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.config = self.root / "config.json"
        self.status = self.root / "status.json"
        self.checkpoint = self.root / "checkpoint.pt"
        self.epochs = self.root / "epochs"
        self.lock_file = self.root / ".lock"

    def epoch_file(self, epoch: int) -> Path:
        return self.epochs / f"{epoch:05d}.csv"

    def write_epoch(self, epoch: int, rows: list[tuple]) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(EPOCH_COLUMNS)
        # repr keeps every float bit so resumed and uninterrupted runs compare equal
        w.writerows([r[:4] + tuple(repr(float(x)) for x in r[4:]) for r in rows])
        atomic_write_bytes(self.epoch_file(epoch), buf.getvalue().encode())

    def drop_epochs_after(self, epoch: int) -> None:
        """Forget epoch files the checkpoint does not cover (written just before a kill)."""
        if self.epochs.is_dir():
            for f in self.epochs.glob("*.csv"):
                if f.stem.isdigit() and int(f.stem) > epoch:
                    f.unlink()

    def clear_progress(self) -> None:
        self.checkpoint.unlink(missing_ok=True)
        self.drop_epochs_after(-1)

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

    def acquire(self) -> bool:
        self.run.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.run.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
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
