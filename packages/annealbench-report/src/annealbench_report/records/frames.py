"""Row selections and per-run facts read straight off the tidy records (no statistics)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from annealbench_report.errors import ReportError
from annealbench_report.records.contract import RUN_COLUMNS, RUN_FIELDS, RUN_SORT, STATUSES, empty_runs

STEP_METRIC = "step_loss"
DEFAULT_DIRECTIONS = {"accuracy": "max"}


def direction(metric: str, directions: dict | None = None) -> str:
    """'max' or 'min' for ``metric``: the study's ``metric_directions``, else accuracy max, others min."""
    d = (directions or {}).get(metric) or DEFAULT_DIRECTIONS.get(metric, "min")
    if d not in ("max", "min"):
        raise ReportError(f"metric_directions: {metric!r} must be 'max' or 'min', not {d!r}")
    return d


def sign(metric: str, directions: dict | None = None) -> float:
    """+1 where higher is better, −1 where lower is: ``sign · (a − b) > 0`` means a is better."""
    return 1.0 if direction(metric, directions) == "max" else -1.0


def step_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per-optimizer-step rows (split=train, metric=step_loss)."""
    return df[(df["split"] == "train") & (df["metric"] == STEP_METRIC)]


def epoch_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch rows (everything but the per-step loss)."""
    return df[~((df["split"] == "train") & (df["metric"] == STEP_METRIC))]


def averaged_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that may enter a mean: not from a diverged run."""
    return df[df["status"] != "diverged"]


def diverged_step(df: pd.DataFrame) -> pd.Series:
    """Per diverged run: the first global step whose loss is not finite (its last step if none)."""
    d = step_rows(df[df["status"] == "diverged"])
    d = d.assign(run_key=d["run_key"].astype(str))
    bad = d[~np.isfinite(d["value"])].groupby("run_key")["step"].min()
    last = d.groupby("run_key")["step"].max()
    return bad.combine_first(last).astype("int64").rename("diverged_step")


def declared_baselines(study: dict) -> set[str]:
    """The baseline study.json declares; for one written before it declared one, the arms of the
    fixed-LR schedule type its ``schedules`` list."""
    if study.get("baseline"):
        return {str(study["baseline"])}
    return {n for n, s in (study.get("schedules") or {}).items() if s.get("type") == _FIXED_TYPE}


_FIXED_TYPE = "constant"  # the only place the report knows that name (older records)


def _undeclared_fixed_arms(df: pd.DataFrame) -> list[str]:
    """Records written before study.json declared its baseline: the arms of the fixed-LR schedule
    type, the one named like that type first."""
    fixed_type = _FIXED_TYPE
    arms = df[["schedule", "schedule_type"]].drop_duplicates()
    names = sorted({str(s) for s, t in zip(arms["schedule"], arms["schedule_type"]) if str(t) == fixed_type})
    return sorted(names, key=lambda s: s != fixed_type)


def baseline_arm(df: pd.DataFrame, study: dict | None = None) -> str | None:
    """The fixed-LR arm every other arm is compared with: study.json's ``baseline``; for records
    written before that key existed, the arm of the fixed-LR schedule type (None if there is none)."""
    declared = (study or {}).get("baseline")
    if declared:
        return str(declared)
    names = _undeclared_fixed_arms(df)
    return names[0] if names else None


def length_free_arms(df: pd.DataFrame, study: dict | None = None) -> set[str]:
    """Arms whose LR does not depend on the run's length, so that a longer run's epoch B stands
    for a run of B: the baseline and study.json's ``anytime`` arms; for records written before
    study.json declared its baseline, every arm of the fixed-LR schedule type."""
    study = study or {}
    if not study.get("baseline"):
        return set(_undeclared_fixed_arms(df))
    anytime = {str(n) for n, a in (study.get("arms") or {}).items() if (a or {}).get("anytime")}
    return {str(study["baseline"]), *anytime}


def runs_from_records(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run (the run table of ``collect.runs``), rebuilt from records alone: a study
    kept without runs/."""
    if df.empty:
        return empty_runs()
    g = df.groupby("run_key", observed=True, sort=False)
    out = g[[*RUN_FIELDS[:-1], "status"]].first()
    done = epoch_rows(df).groupby("run_key", observed=True)["epoch"].max()
    # a diverged run's records end in the epoch it diverged in (with a step loss, or with the
    # evaluation after that epoch's last step), which is not done
    broke = df.groupby("run_key", observed=True)["epoch"].max() - 1
    done = done.where(out["status"].astype(str) != "diverged", broke)
    out["epochs_done"] = done.reindex(out.index).fillna(0).astype("int64")
    out["diverged_step"] = diverged_step(df).reindex(out.index.astype(str)).to_numpy()
    out["error"] = None
    out["finished_at"] = None
    out = out.reset_index()
    for k in RUN_FIELDS:
        if k not in ("base_lr", "epochs", "seed"):
            out[k] = out[k].astype(str)
    out = out[list(RUN_COLUMNS)]
    out["diverged_step"] = out["diverged_step"].astype("Int64")
    out["status"] = out["status"].astype(str).astype(pd.CategoricalDtype(list(STATUSES)))
    return out.sort_values(RUN_SORT, kind="mergesort").reset_index(drop=True)
