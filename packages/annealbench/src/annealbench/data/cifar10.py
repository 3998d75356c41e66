"""CIFAR-10 from the official python-pickle folder `cifar-10-batches-py`.

The pickles are read here rather than through torchvision.datasets.CIFAR10, because that class
md5-checks the files and refuses faithful re-encodings (such as the JPEG-derived copy used on
offline machines); torchvision is used only as the md5-checked downloader.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from annealbench.data.images import ImageSet
from annealbench.data.prepare import prepare
from annealbench.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
NUM_CLASSES = 10

# (folder, device) -> (file signature, train, test): several runs in one process read once.
_CACHE: dict[tuple[str, str], tuple[tuple, ImageSet, ImageSet]] = {}


def cifar10_files(data_dir: Path) -> list[Path]:
    folder = Path(data_dir) / FOLDER
    return [folder / name for name in (*TRAIN_FILES, TEST_FILE)]


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _download(root: Path) -> None:
    """torchvision's md5-checked download and extraction into ``root`` (``root/FOLDER``)."""
    import torchvision

    torchvision.datasets.CIFAR10(root=str(root), download=True)


def _hint(data_dir: Path) -> str:
    return (f"put the official python-version folder at {Path(data_dir) / FOLDER} "
            "(point --data-dir or ANNEALBENCH_DATA at its parent)")


def _fetch_into(data_dir: Path, fetch: Callable[[Path], None]) -> None:
    """Download into a staging folder beside the final one, then rename it into place: a reader
    that finds the folder finds it whole."""
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-staging-", dir=data_dir))
    try:
        try:
            fetch(staging)
        except Exception as exc:  # noqa: BLE001 - any failure means "no data"; say where to put it
            raise DataError(f"CIFAR-10 not found and download failed ({_one_line(exc)[:200]}); "
                            f"{_hint(data_dir)}") from exc
        if not (staging / FOLDER).is_dir():
            raise DataError(f"CIFAR-10 download did not produce {FOLDER}; {_hint(data_dir)}")
        os.replace(staging / FOLDER, Path(data_dir) / FOLDER)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def prepare_cifar10(data_dir: Path, *, download: bool, fetch: Callable[[Path], None] = _download) -> bool:
    """Make ``data_dir/cifar-10-batches-py`` hold every batch: downloaded (``fetch``) by one process
    under the data folder's lock while any others wait. Returns whether this call downloaded it.
    A folder that exists but lacks files is the user's: reported, never overwritten."""
    folder = Path(data_dir) / FOLDER
    files = cifar10_files(data_dir)

    def ready() -> bool:
        if folder.is_dir():
            for path in files:
                if not path.is_file():
                    raise DataError(f"{path}: missing; {folder} must hold {', '.join(p.name for p in files)}")
            return True
        if not download:
            raise DataError(
                f"no CIFAR-10 folder at {folder}; put the official python-version "
                "'cifar-10-batches-py' folder there (point --data-dir or ANNEALBENCH_DATA at its parent) "
                "or allow download"
            )
        return False

    return prepare(data_dir, "cifar10", ready, lambda: _fetch_into(data_dir, fetch))


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    expected = "a CIFAR-10 python batch: dict with 'data' N x 3072 uint8 and N 'labels' in 0..9"
    if not path.is_file():
        raise DataError(f"{path}: missing; expected {expected}")
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
    except Exception as exc:  # noqa: BLE001 - corrupt/truncated pickles raise many types
        raise DataError(f"{path}: unreadable ({_one_line(exc)[:120]}); expected {expected}") from exc
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: expected {expected}")
    data = batch["data"]
    labels = np.asarray(batch["labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{getattr(data, 'shape', type(data).__name__)} {getattr(data, 'dtype', '')}".strip()
        raise DataError(f"{path}: data is {got}; expected {expected}")
    if (
        labels.shape != (data.shape[0],)
        or labels.size == 0
        or labels.min() < 0
        or labels.max() >= NUM_CLASSES
    ):
        raise DataError(f"{path}: {labels.size} labels for {data.shape[0]} images; expected {expected}")
    return data, labels.astype(np.int64)


def _to_set(parts: list[tuple[np.ndarray, np.ndarray]], device: torch.device) -> ImageSet:
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    # Rows are channel-major 3x32x32, so a reshape gives (N, C, H, W) directly.
    x = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy()).to(device)
    return ImageSet(x, torch.from_numpy(labels).to(device))


def load_cifar10(data_dir: Path, device: torch.device, *, download: bool) -> tuple[ImageSet, ImageSet]:
    """(full train set of 50,000, official test set) as uint8 on `device`, cached per process."""
    folder = Path(data_dir) / FOLDER
    prepare_cifar10(data_dir, download=download)
    files = cifar10_files(data_dir)
    signature = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(folder.resolve()), str(device))
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == signature:
        return cached[1], cached[2]
    train = _to_set([_read_batch(p) for p in files[:-1]], device)
    test = _to_set([_read_batch(files[-1])], device)
    _CACHE[key] = (signature, train, test)
    return train, test
