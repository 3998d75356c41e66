"""Run directories in, one tidy long table out (docs/design.md, "Tidy records").

``collect(study_dir)`` reads every ``runs/<run_key>/{config.json, epochs/NNNNN.csv, status.json}``
and returns one row per (run, epoch or step, split, metric). ``write_records`` stores it as
``records.parquet`` and ``records.csv``, each replaced atomically. A file that cannot be read or
parsed raises :class:`ReportError` with one line naming it: a report built from half a file would
be wrong without saying so.

``records.parquet`` carries ``RECORDS_VERSION`` in its schema metadata; a file from another
version, a torn file, or one whose columns do not hold what the contract says is refused with one
line. Run configs of another ``spec_version`` are refused the same way: rows from two formats
must never meet in one table.

Fault injection (tests only): ``ANNEALBENCH_FAULT`` as in ``annealbench.faults``, with the points
``records-write`` (records.parquet, records.csv) and ``render-write`` (each index.html), and the
actions ``kill`` and ``enospc``; a no-op when the variable is unset.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import signal
import socket
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from annealbench_report.errors import ReportError

EPOCH_COLUMNS = ("epoch", "step", "split", "metric", "value", "lr", "wall_time_s")
RUN_FIELDS = ("study", "model", "dataset", "optimizer", "schedule", "schedule_type", "base_lr",
              "epochs", "seed", "run_key")
COLUMNS = (*RUN_FIELDS[:-1], "run_key", "epoch", "step", "split", "metric", "value", "lr",
           "wall_time_s", "status")
STATUSES = ("completed", "diverged", "failed", "running")
CATEGORY_COLUMNS = ("study", "model", "dataset", "optimizer", "schedule", "schedule_type",
                    "run_key", "split", "metric")
DTYPES = {
    **{c: "category" for c in CATEGORY_COLUMNS},
    "base_lr": "float64", "epochs": "int64", "seed": "int64", "epoch": "int64", "step": "int64",
    "value": "float64", "lr": "float64", "wall_time_s": "float64",
    "status": pd.CategoricalDtype(list(STATUSES)),
}
SORT_KEYS = ["optimizer", "base_lr", "schedule", "epochs", "seed", "run_key", "epoch", "step",
             "split", "metric"]
RUN_COLUMNS = (*RUN_FIELDS, "status", "epochs_done", "diverged_step", "error",
               "finished_at")
_EPOCH_FILE = re.compile(r"^\d+\.csv$")
RECORDS_VERSION = "2"  # bump when COLUMNS or their meaning change
_VERSION_KEY = b"annealbench.records_version"
SPEC_VERSIONS = (1,)  # run config.json spec_version values this report reads
SPLITS = ("train", "val", "test")
FAULT_ENV = "ANNEALBENCH_FAULT"
_fault_counts: dict[tuple[str, str], int] = {}


def _fault(point: str, path: Path) -> None:
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


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith(".tmp")


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"{path}: cannot read {what}: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: {what} is not valid JSON ({e})") from None


def read_json_optional(path: Path, what: str) -> dict:
    """A study-level JSON file (study.json, meta.json); ``{}`` when absent, an error when corrupt."""
    path = Path(path)
    if not path.exists():
        return {}
    obj = _read_json(path, what)
    if not isinstance(obj, dict):
        raise ReportError(f"{path}: {what} must be a JSON object")
    return obj


def run_dirs(study_dir: Path) -> list[Path]:
    """Run directories of a study, sorted by name; temp and hidden entries are skipped."""
    runs = Path(study_dir) / "runs"
    if not runs.is_dir():
        raise ReportError(f"{runs}: no runs/ directory (is {study_dir} a study output directory?)")
    return sorted(p for p in runs.iterdir() if p.is_dir() and not _ignored(p))


def _config(run_dir: Path) -> dict | None:
    path = run_dir / "config.json"
    if not path.exists():
        if (run_dir / "epochs").is_dir():
            raise ReportError(f"{path}: missing, but the run has epoch files")
        return None  # a run directory being created: nothing to report yet
    cfg = _read_json(path, "run config")
    if not isinstance(cfg, dict):
        raise ReportError(f"{path}: run config must be a JSON object")
    version = cfg.get("spec_version", SPEC_VERSIONS[-1])
    if version not in SPEC_VERSIONS:
        raise ReportError(
            f"{path}: run config has spec_version {version!r}; this annealbench-report reads "
            f"spec_version {', '.join(map(str, SPEC_VERSIONS))} (a run from another annealbench "
            f"version: move {run_dir} out of runs/, or report it with the matching version)")
    missing = [k for k in RUN_FIELDS if k not in cfg and k != "run_key"]
    if missing:
        raise ReportError(f"{path}: run config lacks {', '.join(missing)}")
    try:
        cfg["base_lr"] = float(cfg["base_lr"])
        cfg["seed"] = int(cfg["seed"])
        cfg["epochs"] = int(cfg["epochs"])
    except (TypeError, ValueError):
        raise ReportError(f"{path}: base_lr, epochs and seed must be numbers") from None
    cfg["run_key"] = str(cfg.get("run_key") or run_dir.name)
    return cfg


def _status(run_dir: Path) -> dict:
    path = run_dir / "status.json"
    if not path.exists():
        return {"status": "running", "epochs_done": None, "diverged_step": None, "error": None,
                "finished_at": None}
    st = _read_json(path, "run status")
    if not isinstance(st, dict) or st.get("status") not in STATUSES[:3]:
        raise ReportError(f"{path}: status must be one of completed, diverged, failed")
    return st


def _epoch_files(run_dir: Path) -> list[Path]:
    d = run_dir / "epochs"
    if not d.is_dir():
        return []
    files = [p for p in d.iterdir() if not _ignored(p) and _EPOCH_FILE.match(p.name)]
    return sorted(files, key=lambda p: int(p.stem))


_CSV_DTYPES = {"epoch": "int64", "step": "int64", "split": str, "metric": str,
               "value": "float64", "lr": "float64", "wall_time_s": "float64"}
_CSV_NA = {c: ["nan"] for c in ("value", "lr", "wall_time_s")}  # repr(float("nan")); inf parses


def _read_epoch_file(path: Path) -> pd.DataFrame:
    """One epoch CSV, checked whole: a torn or malformed file raises naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read epoch file ({e})") from None
    header = ",".join(EPOCH_COLUMNS)
    if not text.startswith(header + "\n"):
        raise ReportError(f"{path}: truncated or corrupt epoch file (header is not '{header}')")
    if not text.endswith("\n"):
        raise ReportError(f"{path}: truncated epoch file (last line is incomplete)")
    n_sep = len(EPOCH_COLUMNS) - 1
    lines = text.split("\n")[1:-1]
    bad = next((i for i, line in enumerate(lines) if line.count(",") != n_sep or ",," in line
                or line.startswith(",") or line.endswith(",")), None)
    if bad is not None:
        raise ReportError(f"{path}: truncated or corrupt epoch file (line {bad + 2}: {lines[bad]!r})")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=_CSV_DTYPES, keep_default_na=False,
                         na_values=_CSV_NA, engine="c")
    except (ValueError, pd.errors.ParserError) as e:
        raise ReportError(f"{path}: corrupt epoch file (a number does not parse: {e})") from None
    if len(df) and not (df["epoch"] == int(path.stem)).all():
        raise ReportError(f"{path}: rows name an epoch other than {int(path.stem)}")
    return df


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


def current_keys(study_dir: Path) -> set[str] | None:
    """Run keys of the study's latest grid (``meta.json`` ``run_keys``); None when not recorded."""
    keys = read_json_optional(Path(study_dir) / "meta.json", "meta.json").get("run_keys")
    if keys is None:
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ReportError(f"{Path(study_dir) / 'meta.json'}: run_keys must be a list of run keys")
    return set(keys)


def stale_runs(study_dir) -> list[str]:
    """Run directories left from an earlier grid of the study (another budget, an edited spec)."""
    keys = current_keys(Path(study_dir))
    if keys is None:
        return []
    return [d.name for d in run_dirs(study_dir) if d.name not in keys]


def _scan(study_dir: Path):
    keys = current_keys(study_dir)
    for run_dir in run_dirs(study_dir):
        if keys is not None and run_dir.name not in keys:
            continue
        cfg = _config(run_dir)
        if cfg is not None:
            yield run_dir, cfg, _status(run_dir)


def collect(study_dir) -> pd.DataFrame:
    """The tidy long table of every run in ``study_dir`` (columns: :data:`COLUMNS`)."""
    parts, run_rows = [], []
    for run_dir, cfg, st in _scan(Path(study_dir)):
        files = _epoch_files(run_dir)
        if not files:
            continue
        df = pd.concat([_read_epoch_file(f) for f in files], ignore_index=True)
        df["_run"] = len(run_rows)
        run_rows.append({**{k: cfg[k] for k in RUN_FIELDS}, "status": st["status"]})
        parts.append(df)
    if not parts:
        return empty_records()
    data = pd.concat(parts, ignore_index=True)
    idx = data.pop("_run").to_numpy()
    per_run = pd.DataFrame(run_rows)
    for k in (*RUN_FIELDS, "status"):  # run-level columns, broadcast without per-row strings
        if k in ("base_lr", "epochs", "seed"):
            data[k] = per_run[k].to_numpy()[idx]
        else:
            cat = pd.Categorical(per_run[k].astype(str))
            data[k] = pd.Categorical.from_codes(cat.codes[idx], dtype=cat.dtype)
    df = apply_dtypes(data)
    return df.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)


def runs(study_dir) -> pd.DataFrame:
    """One row per run directory with its status, including runs that have no epoch yet."""
    rows = []
    for run_dir, cfg, st in _scan(Path(study_dir)):
        n_files = len(_epoch_files(run_dir))
        done = st.get("epochs_done")
        rows.append({**{k: cfg[k] for k in RUN_FIELDS}, "status": st["status"],
                     "epochs_done": done if done is not None else max(n_files - 1, 0),
                     "diverged_step": st.get("diverged_step"), "error": st.get("error"),
                     "finished_at": st.get("finished_at")})
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df["status"] = df["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    df["diverged_step"] = df["diverged_step"].astype("Int64")
    return df.sort_values(["optimizer", "base_lr", "schedule", "epochs", "seed", "run_key"],
                          kind="mergesort").reset_index(drop=True)


def runs_from_records(df: pd.DataFrame) -> pd.DataFrame:
    """The run table of :func:`runs`, rebuilt from records alone (a study kept without runs/)."""
    from annealbench_report import stats

    if df.empty:
        return runs_from_records_empty()
    g = df.groupby("run_key", observed=True, sort=False)
    out = g[[*RUN_FIELDS[:-1], "status"]].first()
    done = stats.epoch_rows(df).groupby("run_key", observed=True)["epoch"].max()
    out["epochs_done"] = done.reindex(out.index).fillna(0).astype("int64")
    out["diverged_step"] = stats.diverged_step(df).reindex(out.index.astype(str)).to_numpy()
    out["error"] = None
    out["finished_at"] = None
    out = out.reset_index()
    for k in RUN_FIELDS:
        if k not in ("base_lr", "epochs", "seed"):
            out[k] = out[k].astype(str)
    out = out[list(RUN_COLUMNS)]
    out["diverged_step"] = out["diverged_step"].astype("Int64")
    return out.sort_values(["optimizer", "base_lr", "schedule", "epochs", "seed", "run_key"],
                           kind="mergesort").reset_index(drop=True)


def runs_from_records_empty() -> pd.DataFrame:
    df = pd.DataFrame({c: [] for c in RUN_COLUMNS})
    df["status"] = df["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    return df


def has_runs(study_dir) -> bool:
    return (Path(study_dir) / "runs").is_dir()


def study_info(study_dir) -> dict:
    """``study.json`` and ``meta.json`` of a study (each ``{}`` when absent)."""
    study_dir = Path(study_dir)
    return {"study": read_json_optional(study_dir / "study.json", "study.json"),
            "meta": read_json_optional(study_dir / "meta.json", "meta.json")}


def first_config(study_dir) -> dict:
    """The config of the first run (for primary metric and directions when study.json is absent)."""
    if not has_runs(study_dir):
        return {}
    for _, cfg, _ in _scan(Path(study_dir)):
        return cfg
    return {}


def _atomic_write(path: Path, write, fault: str | None) -> None:
    """``write(tmp)`` to a hidden temp file beside ``path``, fsync, then ``os.replace``: readers
    see the old file or the new one, never half of one. Permissions follow the umask. A failed
    write (a full disk) removes the temp file, keeps the old file and raises ReportError.
    ``fault``: the ANNEALBENCH_FAULT point this write passes, between fsync and rename."""
    tmp = path.parent / f".{path.name}.{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        write(str(tmp))
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if fault:
            _fault(fault, path)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise ReportError(f"{path}: cannot write ({e.strerror or e}); the previous file is "
                              "kept: free space and rerun") from e
        raise


# The temp-file naming contract of docs/design.md, shared with annealbench.store; kept as a
# copy here because the report package never depends on the training package (torch).
_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9_-]+)\.[^.]+\.tmp$")
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname().split(".")[0]) or "host"


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


def write_text_atomic(path: Path, text: str, *, fault: str | None = None) -> None:
    path = Path(path)

    def write(tmp):
        Path(tmp).write_text(text, encoding="utf-8")

    _atomic_write(path, write, fault)


def _write_csv(df: pd.DataFrame, path: str) -> None:
    """CSV through Arrow (several times faster than pandas on millions of rows); floats keep
    every bit (shortest round-trip form), a missing value is an empty field."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type)
                                  else f for f in table.schema]))
    pa_csv.write_csv(table, path, pa_csv.WriteOptions(quoting_style="needed"))


def write_records(study_dir) -> pd.DataFrame:
    """Collect and write ``records.parquet`` and ``records.csv`` (atomically); return the frame."""
    study_dir = Path(study_dir)
    df = collect(study_dir)
    _atomic_write(study_dir / "records.parquet", lambda tmp: _write_parquet(df, tmp), "records-write")
    _atomic_write(study_dir / "records.csv", lambda tmp: _write_csv(df, tmp), "records-write")
    return df


def _write_parquet(df: pd.DataFrame, path: str) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = {**(table.schema.metadata or {}), _VERSION_KEY: RECORDS_VERSION.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


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
    for col in ("seed", "epoch", "step"):
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
                             na_values={c: ["nan", "NaN", ""] for c in ("value", "lr",
                                                                        "wall_time_s")})
    except (OSError, ValueError, pa.ArrowException) as e:
        raise ReportError(f"{path}: cannot read records ({' '.join(str(e).split())[:200]}); "
                          "a truncated or foreign file: rebuild it from runs/") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ReportError(f"{path}: records lack columns {', '.join(missing)}")
    return _check_records(df, path)
