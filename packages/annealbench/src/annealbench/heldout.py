"""Per-example held-out outcomes as stored in a run's ``heldout.npz``: the keys
(``SPLIT.NAME.EPOCH`` for the run's own weights, ``ARM+SPLIT.NAME.EPOCH`` for an averaging arm
riding on it) and the compact dtypes (float16 losses, "correct" packed to bits), so that a run's
file stays small (annealbench.store.RunDir.write_heldout writes it)."""

from __future__ import annotations

import numpy as np

HELDOUT_FILE = "heldout.npz"


ARM_SEP = "+"  # the report's run key of an averaging arm is HOST + "+" + ARM too


def heldout_key(split: str, name: str, epoch: int, arm: str | None = None) -> str:
    key = f"{split}.{name}.{epoch:05d}"
    return key if arm is None else f"{arm}{ARM_SEP}{key}"


def heldout_arm(key: str) -> str | None:
    """The averaging arm a key belongs to; None for the run's own weights."""
    return key.split(ARM_SEP, 1)[0] if ARM_SEP in key else None


def heldout_epoch(key: str) -> int:
    return int(key.rsplit(".", 1)[1])


def heldout_arrays(split: str, epoch: int, arrays: dict[str, np.ndarray],
                   arm: str | None = None) -> dict[str, np.ndarray]:
    """One split's outcomes as stored: ``loss`` float16 (relative error under 0.05%, far below
    the spread between examples), ``correct`` as bits with its count in ``n``."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if name == "correct":
            out[heldout_key(split, "correct", epoch, arm)] = np.packbits(a.astype(bool))
            out[heldout_key(split, "n", epoch, arm)] = np.array([len(a)], dtype=np.int64)
        else:
            out[heldout_key(split, name, epoch, arm)] = a.astype(np.float16)
    return out
