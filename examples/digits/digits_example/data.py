"""scikit-learn's handwritten digits (1,797 real 8x8 grey images, shipped inside the package, no
download) as the mapping annealbench's built-in classification task batches and evaluates."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits


def digits(data_dir, n_val: int = 300, n_test: int = 300, n_train: int | None = None,
           seed: int = 0) -> dict:
    """{"train"|"val"|"test": (x uint8 N x 1 x 8 x 8, y int64 N)}: one fixed shuffle, the first
    n_train images (default: all the others) to train on, the last n_val + n_test held out.
    ``data_dir`` is not needed: the data ship inside scikit-learn."""
    bunch = load_digits()
    # pixel values are 0..16: stretched to 0..255 so they read like any 8-bit image
    x = np.clip(np.round(bunch.images * (255 / 16)), 0, 255).astype(np.uint8)[:, None]
    y = bunch.target.astype(np.int64)
    if n_val < 1 or n_test < 1 or n_val + n_test >= len(y):
        raise ValueError(f"n_val + n_test must leave training images of the {len(y)}; "
                         f"got n_val={n_val}, n_test={n_test}")
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    rest = len(y) - n_val - n_test
    if n_train is not None and not 1 <= n_train <= rest:
        raise ValueError(f"n_train must be in [1, {rest}]; got {n_train}")
    train = slice(0, rest if n_train is None else n_train)
    return {"train": (x[train], y[train]),
            "val": (x[rest:rest + n_val], y[rest:rest + n_val]),
            "test": (x[rest + n_val:], y[rest + n_val:])}
