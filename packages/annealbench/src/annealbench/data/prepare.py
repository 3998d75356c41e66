"""Preparing a data set on disk once: download, build or check it under an exclusive file lock.

A study's worker processes (and several studies sharing one data folder) may all find a data set
missing at the same moment. Without a lock each would download it into the same folder, and one
reading while another extracts sees half-written files. ``prepare`` makes the first caller build
it while the others wait on ``<data_dir>/.<name>.lock`` (``fcntl.flock``: released by the kernel
when its holder exits, even killed), then find it ready and do nothing. Builders publish with a
rename (a staging folder or an atomic write), so a reader that skips the lock because the data set
is already there never sees it half-made.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path

from annealbench.errors import DataError


def lock_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / f".{name}.lock"


def prepare(data_dir: Path, name: str, ready: Callable[[], bool], build: Callable[[], None]) -> bool:
    """Make ``name`` ready in ``data_dir``: ``build()`` runs in at most one process at a time, and
    only while ``ready()`` is false. Returns whether this call built it. Idempotent."""
    if ready():
        return False
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path(data_dir, name), "a")  # noqa: SIM115 - held for the whole build
    except OSError as exc:
        raise DataError(f"{data_dir}: cannot prepare {name} there ({exc.strerror}); "
                        "point --data-dir or ANNEALBENCH_DATA at a writable folder") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks while another process builds it
        if ready():  # it did while this one waited
            return False
        build()
    if not ready():
        raise DataError(f"{data_dir}: preparing {name} finished but it is still not there")
    return True


def prepare_dataset(dataset: str, data_dir: Path, *, download: bool) -> None:
    """Make a registered on-disk data set ready in ``data_dir`` (downloaded once, under its lock,
    where it may be downloaded; checked where the user supplies it). Synthetic sets need nothing."""
    if dataset == "cifar10":
        from annealbench.data.cifar10 import prepare_cifar10

        prepare_cifar10(data_dir, download=download)
    elif dataset == "tinyshakespeare":
        from annealbench.data.tinyshakespeare import locate_tinyshakespeare

        locate_tinyshakespeare(data_dir, download=download)
    elif dataset == "wikitext2":
        from annealbench.data.wikitext2 import wikitext2_paths

        wikitext2_paths(data_dir)
