"""Per-example held-out outcomes as stored in a run's ``heldout.npz``: the keys
(``SPLIT.NAME.EPOCH``) and the compact dtypes (float16 losses, "correct" packed to bits), so that a
run's file stays small (annealbench.store.RunDir.write_heldout writes it)."""

from __future__ import annotations

import numpy as np

HELDOUT_FILE = "heldout.npz"


def heldout_key(split: str, name: str, epoch: int) -> str:
    return f"{split}.{name}.{epoch:05d}"


def heldout_epoch(key: str) -> int:
    return int(key.rsplit(".", 1)[1])


def heldout_arrays(split: str, epoch: int, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One split's outcomes as stored: ``loss`` float16 (relative error under 0.05%, far below
    the spread between examples), ``correct`` as bits with its count in ``n``."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if name == "correct":
            out[heldout_key(split, "correct", epoch)] = np.packbits(a.astype(bool))
            out[heldout_key(split, "n", epoch)] = np.array([len(a)], dtype=np.int64)
        else:
            out[heldout_key(split, name, epoch)] = a.astype(np.float16)
    return out
