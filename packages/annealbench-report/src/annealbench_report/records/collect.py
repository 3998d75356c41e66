"""Run directories in, one tidy long table out (docs/design.md, "Run directory").

``collect(study_dir)`` reads every ``runs/<run_key>/{config.json, epochs/NNNNN.csv, status.json}``
and returns one row per (run, epoch or step, split, metric); a run's optional ``averages.csv``
(its averaged weights evaluated for each averaging arm riding on it: column ``arm``, then the
epoch columns) becomes the rows of arm ARM, with schedule ARM, run key ``<run_key>+ARM`` and every
other run field the host run's; ``write_records`` stores it (see
:mod:`records`). A file that cannot be read or parsed raises :class:`ReportError` with one line
naming it: a report built from half a file would be wrong without saying so. Run configs of
another ``spec_version`` are refused the same way: rows from two formats must never meet in one
table.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd

from annealbench_report.errors import ReportError
from annealbench_report.records import heldout
from annealbench_report.records.contract import (
    COLUMNS,
    DTYPES,
    EPOCH_COLUMNS,
    MEASURED_FLOATS,
    RUN_COLUMNS,
    RUN_FIELDS,
    RUN_SORT,
    SORT_KEYS,
    STATUSES,
    apply_dtypes,
    empty_records,
    write_files,
)
from annealbench_report.records.files import read_json as _read_json
from annealbench_report.records.files import read_json_optional
from annealbench_report.records.heldout import AVERAGE_SEP

_EPOCH_FILE = re.compile(r"^\d+\.csv$")
SPEC_VERSIONS = (1,)  # run config.json spec_version values this report reads
__all__ = ["COLUMNS", "collect", "runs", "write_records", "stale_runs", "has_runs", "study_info"]


def _ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.endswith(".tmp")


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


_CSV_DTYPES = {c: str if DTYPES[c] == "category" else DTYPES[c] for c in EPOCH_COLUMNS}
_CSV_NA = {c: ["nan"] for c in MEASURED_FLOATS}  # repr(float("nan")); inf parses


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


AVERAGES = "averages.csv"


def _read_averages(path: Path) -> dict[str, pd.DataFrame]:
    """A host run's ``averages.csv``: arm -> its rows (the epoch columns), checked whole."""
    cols = ("arm", *EPOCH_COLUMNS)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read averaged evaluations ({e})") from None
    header = ",".join(cols)
    if not text.startswith(header + "\n"):
        raise ReportError(f"{path}: truncated or corrupt averages file (header is not '{header}')")
    if not text.endswith("\n"):
        raise ReportError(f"{path}: truncated averages file (last line is incomplete)")
    try:
        df = pd.read_csv(io.StringIO(text), dtype={"arm": str, **_CSV_DTYPES},
                         keep_default_na=False, na_values=_CSV_NA, engine="c")
    except (ValueError, pd.errors.ParserError) as e:
        raise ReportError(f"{path}: corrupt averages file ({' '.join(str(e).split())[:200]})") from None
    if (df["arm"].str.strip() == "").any():
        raise ReportError(f"{path}: a row names no arm")
    return {str(arm): g.drop(columns="arm").reset_index(drop=True)
            for arm, g in df.groupby("arm", sort=True)}


def _averaged_run(cfg: dict, arm: str) -> dict:
    """The run fields of averaging arm ``arm`` on host run ``cfg``: the host's, but for its
    schedule and run key."""
    return {**cfg, "schedule": arm, "run_key": f"{cfg['run_key']}{AVERAGE_SEP}{arm}"}


def _averages(run_dir: Path) -> dict[str, pd.DataFrame]:
    path = run_dir / AVERAGES
    return _read_averages(path) if path.is_file() else {}


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
    parts = []
    run_rows = []
    for run_dir, cfg, st in _scan(Path(study_dir)):
        files = _epoch_files(run_dir)
        if not files:
            continue
        df = pd.concat([_read_epoch_file(f) for f in files], ignore_index=True)
        for run, rows in [(cfg, df), *((_averaged_run(cfg, arm), a)
                                       for arm, a in _averages(run_dir).items())]:
            rows["_run"] = len(run_rows)
            run_rows.append({**{k: run[k] for k in RUN_FIELDS}, "status": st["status"]})
            parts.append(rows)
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
        for run in [cfg, *(_averaged_run(cfg, arm) for arm in _averages(run_dir))]:
            rows.append({**{k: run[k] for k in RUN_FIELDS}, "status": st["status"],
                         "epochs_done": done if done is not None else max(n_files - 1, 0),
                         "diverged_step": st.get("diverged_step"), "error": st.get("error"),
                         "finished_at": st.get("finished_at")})
    df = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    df["status"] = df["status"].astype(pd.CategoricalDtype(list(STATUSES)))
    df["diverged_step"] = df["diverged_step"].astype("Int64")
    return df.sort_values(RUN_SORT, kind="mergesort").reset_index(drop=True)


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


def write_records(study_dir) -> pd.DataFrame:
    """Collect and write ``records.parquet`` and ``records.csv`` (atomically), and the runs'
    per-example outcomes as ``heldout.npz`` (records.heldout); return the frame."""
    df = collect(Path(study_dir))
    write_files(df, Path(study_dir))
    heldout.write(Path(study_dir), [d.name for d, _, _ in _scan(Path(study_dir))])
    return df
