"""The tidy records contract (docs/design.md, "Tidy records"): columns, dtypes, files.

``records.parquet`` carries ``RECORDS_VERSION`` in its schema metadata; a file from another
version, a torn file, or one whose columns do not hold what the contract says is refused with one
line. Both files are replaced atomically.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from annealbench_report.errors import ReportError
from annealbench_report.records.files import atomic_write

RUN_FIELDS = ("study", "model", "dataset", "optimizer", "schedule", "schedule_type", "base_lr",
              "epochs", "seed", "run_key")
# a run's per-epoch file, written by the training side (annealbench.store.EPOCH_COLUMNS; a parity
# test holds the two equal) and the measured columns of every records row
EPOCH_COLUMNS = ("epoch", "step", "split", "metric", "value", "lr", "wall_time_s")
COLUMNS = (*RUN_FIELDS, *EPOCH_COLUMNS, "status")
STATUSES = ("completed", "diverged", "failed", "running")
SPLITS = ("train", "val", "test")
CATEGORY_COLUMNS = ("study", "model", "dataset", "optimizer", "schedule", "schedule_type",
                    "run_key", "split", "metric")
DTYPES = {
    **{c: "category" for c in CATEGORY_COLUMNS},
    "base_lr": "float64", "epochs": "int64", "seed": "int64", "epoch": "int64", "step": "int64",
    "value": "float64", "lr": "float64", "wall_time_s": "float64",
    "status": pd.CategoricalDtype(list(STATUSES)),
}
# the measured floats: a missing one is written as an empty field or "nan"
MEASURED_FLOATS = tuple(c for c in EPOCH_COLUMNS if DTYPES[c] == "float64")
SORT_KEYS = ["optimizer", "base_lr", "schedule", "epochs", "seed", "run_key", "epoch", "step",
             "split", "metric"]
RUN_COLUMNS = (*RUN_FIELDS, "status", "epochs_done", "diverged_step", "error", "finished_at")
RUN_SORT = ["optimizer", "base_lr", "schedule", "epochs", "seed", "run_key"]
RECORDS_VERSION = "2"  # bump when COLUMNS or their meaning change
_VERSION_KEY = b"annealbench.records_version"


def empty_records() -> pd.DataFrame:
    return apply_dtypes(pd.DataFrame({c: [] for c in COLUMNS}))


def apply_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Columns in contract order with contract dtypes; categories sorted, so equal data gives
    equal frames whichever file it came from."""
    out = pd.DataFrame(index=df.index)
    for c in COLUMNS:
        dtype = DTYPES[c]
        col = df[c]
        if isinstance(dtype, str) and dtype == "category":
            if not isinstance(col.dtype, pd.CategoricalDtype):
                col = col.astype(str).astype("category")
            col = col.cat.remove_unused_categories()
            cats = col.cat.categories.astype(str)
            col = col.cat.rename_categories(cats).cat.reorder_categories(sorted(cats))
        else:
            col = col.astype(dtype)
        out[c] = col
    return out


def empty_runs() -> pd.DataFrame:
    df = pd.DataFrame({c: [] for c in RUN_COLUMNS})
    df["status"] = df["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    return df


def _write_csv(df: pd.DataFrame, path: str) -> None:
    """CSV through Arrow (several times faster than pandas on millions of rows); floats keep
    every bit (shortest round-trip form), a missing value is an empty field."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type)
                                  else f for f in table.schema]))
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


def _write_parquet(df: pd.DataFrame, path: str) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {**(table.schema.metadata or {}), _VERSION_KEY: RECORDS_VERSION.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def write_files(df: pd.DataFrame, study_dir: Path) -> None:
    """``records.parquet`` and ``records.csv`` of ``df`` in ``study_dir``, each atomically."""
    study_dir = Path(study_dir)
    atomic_write(study_dir / "records.parquet", lambda tmp: _write_parquet(df, tmp), "records-write")
    atomic_write(study_dir / "records.csv", lambda tmp: _write_csv(df, tmp), "records-write")


def write_parquet(df: pd.DataFrame, path) -> None:
    """``df`` as a records.parquet file at ``path`` (atomically), without its csv twin: for a
    thinned table (annealbench_report.thin)."""
    atomic_write(Path(path), lambda tmp: _write_parquet(df, tmp), "records-write")


def _check_records(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The contract's dtypes, or one line saying which column holds what it must not."""
    for col, allowed in (("status", STATUSES), ("split", SPLITS)):
        bad = sorted(set(df[col].dropna().astype(str)) - set(allowed))
        if bad or df[col].isna().any():
            shown = bad[0] if bad else "(empty)"
            raise ReportError(f"{path}: column {col} holds {shown!r}; allowed: {', '.join(allowed)} "
                              "(records from another version? rebuild them from runs/)")
    try:
        out = apply_dtypes(df)
    except (ValueError, TypeError) as e:
        raise ReportError(f"{path}: records do not have the contract's column types ({e}); "
                          "rebuild them from runs/") from None
    for col in ("seed", "epoch", "step", "epochs"):
        if len(out) and (out[col] < 0).any():
            raise ReportError(f"{path}: column {col} holds negative values")
    return out


def read_records(path) -> pd.DataFrame:
    """Read ``records.parquet`` or ``records.csv`` back with the contract's dtypes."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            version = (pq.read_schema(path).metadata or {}).get(_VERSION_KEY)
            if version is not None and version.decode(errors="replace") != RECORDS_VERSION:
                raise ReportError(
                    f"{path}: records version {version.decode(errors='replace')!r}; this "
                    f"annealbench-report reads version {RECORDS_VERSION} (rebuild the records from "
                    "runs/ with this version)")
            df = pd.read_parquet(path)
        else:
            text_cols = {c: str for c in (*CATEGORY_COLUMNS, "status")}
            df = pd.read_csv(path, dtype=text_cols, keep_default_na=False,
                             na_values={c: ["nan", "NaN", ""] for c in MEASURED_FLOATS})
    except (OSError, ValueError, pa.ArrowException) as e:
        raise ReportError(f"{path}: cannot read records ({' '.join(str(e).split())[:200]}); "
                          "a truncated or foreign file: rebuild it from runs/") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ReportError(f"{path}: records lack columns {', '.join(missing)}")
    return _check_records(df, path)
