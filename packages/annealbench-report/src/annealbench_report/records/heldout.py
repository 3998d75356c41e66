"""Per-example held-out outcomes beside the tidy records: ``heldout.npz`` of a study.

Each run that the training side evaluated example by example keeps ``runs/<run_key>/heldout.npz``
(annealbench.store.RunDir.write_heldout): arrays keyed ``SPLIT.NAME.EPOCH`` (``loss`` float16 per
image or per block of a text, ``correct`` bits with their count ``n``), at the epochs a verdict
judges, and ``ARM+SPLIT.NAME.EPOCH`` for each averaging arm riding on the run. :func:`write`
gathers them into one study file keyed ``RUN_KEY/SPLIT.NAME.EPOCH`` (an averaging arm's run key
is ``HOST+ARM``, as in the records), which
a study folder published without ``runs/`` keeps (the thinning leaves it alone), so the
two-way interval (analysis.heldout) is rebuilt from published files. Read with numpy only.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from annealbench_report.errors import ReportError
from annealbench_report.records.files import atomic_write

NAME = "heldout.npz"
SEP = "/"
AVERAGE_SEP = "+"  # run key of an averaging arm: host run key + AVERAGE_SEP + arm


def _load(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise ReportError(f"{path}: cannot read per-example outcomes ({' '.join(str(e).split())[:200]})"
                          "; rebuild it from runs/") from None


def gather(study_dir: Path, run_keys) -> dict[str, np.ndarray]:
    """The study file's arrays from each listed run's own ``heldout.npz`` (runs without one
    are absent)."""
    out = {}
    for key in sorted(run_keys):
        path = Path(study_dir) / "runs" / key / NAME
        if path.is_file():
            out.update({_study_key(key, k): a for k, a in _load(path).items()})
    return out


def _study_key(run_key: str, stored: str) -> str:
    """``ARM+SPLIT.NAME.EPOCH`` of host ``run_key`` -> ``HOST+ARM/SPLIT.NAME.EPOCH``."""
    arm, _, rest = stored.rpartition(AVERAGE_SEP)
    return f"{run_key}{AVERAGE_SEP}{arm}{SEP}{rest}" if arm else f"{run_key}{SEP}{stored}"


def write(study_dir: Path, run_keys) -> Path | None:
    """Write ``<study_dir>/heldout.npz`` (atomically) from the runs' files; remove a stale one
    when no run has outcomes. Returns its path, or None."""
    path = Path(study_dir) / NAME
    arrays = gather(study_dir, run_keys)
    if not arrays:
        path.unlink(missing_ok=True)
        return None
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()), "records-write")
    return path


# The arrays Outcomes.metric reads for each metric; a page reads its study's primary metric only.
ARRAYS_FOR = {"accuracy": ("correct", "n"), "loss": ("loss",), "bpc": ("loss",)}


def _array_name(key: str) -> str:
    """``RUN/SPLIT.NAME.EPOCH`` -> ``NAME``."""
    return key.rsplit(SEP, 1)[1].split(".")[1]


def thin(study_dir: Path, metric: str) -> tuple[int, int] | None:
    """Rewrite the study file with only the arrays a page judging ``metric`` reads (for accuracy
    the bits, one per image against the losses' sixteen). Returns its size before and after, or
    None when the study has none."""
    path = Path(study_dir) / NAME
    if not path.is_file():
        return None
    before = path.stat().st_size
    names = ARRAYS_FOR.get(metric, ())
    kept = {k: a for k, a in _load(path).items() if _array_name(k) in names}
    buf = io.BytesIO()
    np.savez_compressed(buf, **kept)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()), "records-write")
    return before, path.stat().st_size


class Outcomes:
    """A study's per-example outcomes, looked up by run, split, metric and epoch."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.arrays = arrays

    @classmethod
    def read(cls, study_dir: Path) -> Outcomes:
        path = Path(study_dir) / NAME
        return cls(_load(path) if path.is_file() else {})

    def __bool__(self) -> bool:
        return bool(self.arrays)

    def metric(self, run_key: str, split: str, metric: str, epoch: int) -> np.ndarray | None:
        """Per example (or block), the values whose mean is the split's ``metric``: accuracy from
        ``correct``, loss and bits per character from ``loss``; None where the run has none or
        the metric is not a mean over examples (perplexity)."""
        at = f"{run_key}{SEP}{split}.{{}}.{int(epoch):05d}"
        if metric == "accuracy":
            bits = self.arrays.get(at.format("correct"))
            n = self.arrays.get(at.format("n"))
            if bits is None or n is None:
                return None
            return np.unpackbits(bits)[: int(n[0])].astype(float)
        loss = self.arrays.get(at.format("loss"))
        if loss is None:
            return None
        if metric == "loss":
            return loss.astype(float)
        if metric == "bpc":
            return loss.astype(float) / math.log(2)
        return None
