"""Statistics over seeds, computed from the tidy records only (DataFrame in, DataFrame out).

Rules every function here keeps:
- statistics are over seeds of one arm: (model, optimizer, schedule, base LR);
- diverged runs are counted and listed, never averaged in: their numbers stop at a non-finite loss,
  and a mean over the steps before it would describe a run that does not exist;
- "final" numbers come from completed runs only (a running or failed run has no final epoch);
- spread is the sample standard deviation (ddof=1); the per-epoch curves use a t-based 95%
  interval, half-width = t(0.975, n-1) · std / sqrt(n), undefined (NaN) for n < 2 (cheap for every
  epoch of every arm); headline numbers use the bootstrap intervals of ``inference``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # inverse Student-t CDF (lighter than scipy.stats)

from annealbench_report.collect import STATUSES
from annealbench_report.errors import ReportError

ARM = ["model", "optimizer", "schedule", "schedule_type", "base_lr"]
RUN = [*ARM, "seed", "run_key"]
STEP_METRIC = "step_loss"
DEFAULT_DIRECTIONS = {"accuracy": "max"}


def direction(metric: str, directions: dict | None = None) -> str:
    """'max' or 'min' for ``metric``: the study's ``metric_directions``, else accuracy max, others min."""
    d = (directions or {}).get(metric) or DEFAULT_DIRECTIONS.get(metric, "min")
    if d not in ("max", "min"):
        raise ReportError(f"metric_directions: {metric!r} must be 'max' or 'min', not {d!r}")
    return d


def ci95(std, n):
    """Half-width of the t-based 95% confidence interval of a mean (NaN where n < 2)."""
    n = np.asarray(n, dtype=float)
    std = np.asarray(std, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stdtrit(np.where(n >= 2, n - 1, np.nan), 0.975)
        return t * std / np.sqrt(n)


def step_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per-optimizer-step rows (split=train, metric=step_loss)."""
    return df[(df["split"] == "train") & (df["metric"] == STEP_METRIC)]


def epoch_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch rows (everything but the per-step loss)."""
    return df[~((df["split"] == "train") & (df["metric"] == STEP_METRIC))]


def averaged_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that may enter a mean: not from a diverged run."""
    return df[df["status"] != "diverged"]


def _describe(grouped) -> pd.DataFrame:
    out = grouped["value"].agg(mean="mean", std="std", n="count").reset_index()
    out["n"] = out["n"].astype("int64")
    out["ci95"] = ci95(out["std"], out["n"])
    return out


def seed_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, n and 95% CI half-width over seeds per (arm, epoch, split, metric).

    Per-epoch rows only; diverged runs are left out (see :func:`status_counts`).
    """
    keys = [*ARM, "epoch", "split", "metric"]
    rows = averaged_rows(epoch_rows(df))
    out = _describe(rows.groupby(keys, observed=True, sort=True))
    return out[[*keys, "mean", "std", "n", "ci95"]]


def _value_at(df: pd.DataFrame, split: str, metric: str, name: str, epoch_of: pd.Series):
    """Per run: ``value`` of (split, metric) at the run's epoch given by ``epoch_of``."""
    sel = df[(df["split"] == split) & (df["metric"] == metric)][["run_key", "epoch", "value"]]
    sel = sel.assign(run_key=sel["run_key"].astype(str))
    at = epoch_of.rename("epoch").reset_index()
    return at.merge(sel, on=["run_key", "epoch"], how="left").set_index("run_key")["value"].rename(name)


def best_epoch(df: pd.DataFrame, metric: str, directions: dict | None = None,
               split: str = "val") -> pd.DataFrame:
    """Per run: the epoch with the best ``split``/``metric`` value (first one on ties) and that value."""
    sel = df[(df["split"] == split) & (df["metric"] == metric)]
    sel = sel.assign(run_key=sel["run_key"].astype(str)).sort_values(["run_key", "epoch"])
    sel = sel[np.isfinite(sel["value"])]
    best = sel["value"] if direction(metric, directions) == "min" else -sel["value"]
    idx = best.groupby(sel["run_key"]).idxmin()
    out = sel.loc[idx.values, ["run_key", "epoch", "value"]]
    return out.rename(columns={"epoch": "best_val_epoch", "value": "best_val"}).reset_index(drop=True)


def diverged_step(df: pd.DataFrame) -> pd.Series:
    """Per diverged run: the first global step whose loss is not finite (its last step if none)."""
    d = step_rows(df[df["status"] == "diverged"])
    d = d.assign(run_key=d["run_key"].astype(str))
    bad = d[~np.isfinite(d["value"])].groupby("run_key")["step"].min()
    last = d.groupby("run_key")["step"].max()
    return bad.combine_first(last).astype("int64").rename("diverged_step")


def run_finals(df: pd.DataFrame, primary: str, directions: dict | None = None) -> pd.DataFrame:
    """One row per run: final val/test primary metric and train loss (completed runs only; NaN for
    the others), best validation epoch, and the step a diverged run blew up at."""
    runs = (df[[*RUN, "status"]].drop_duplicates("run_key")
            .assign(run_key=lambda x: x["run_key"].astype(str)).set_index("run_key"))
    ep = epoch_rows(df).assign(run_key=lambda x: x["run_key"].astype(str))
    last = ep.groupby("run_key")["epoch"].max()
    test = ep[(ep["split"] == "test") & (ep["metric"] == primary)].groupby("run_key")["epoch"].max()
    out = runs.join(last.rename("final_epoch"))
    out = out.join(_value_at(ep, "val", primary, "final_val", last))
    out = out.join(_value_at(ep, "test", primary, "final_test", test))
    out = out.join(_value_at(ep, "train", "loss", "final_train_loss", last))
    out = out.join(best_epoch(ep, primary, directions).set_index("run_key"))
    out = out.join(diverged_step(df))
    done = out["status"] == "completed"
    for c in ("final_val", "final_test", "final_train_loss", "best_val_epoch", "best_val"):
        out[c] = out[c].where(done).astype("float64")
    out["final_epoch"] = out["final_epoch"].astype("Int64")
    out["diverged_step"] = out["diverged_step"].astype("Int64")
    return out.reset_index()[[*RUN, "status", "final_epoch", "final_val", "final_test",
                              "final_train_loss", "best_val_epoch", "best_val", "diverged_step"]]


def status_counts(finals: pd.DataFrame, keys=tuple(ARM)) -> pd.DataFrame:
    """Runs per status (completed, diverged, failed, running) per ``keys``."""
    keys = list(keys)
    c = pd.crosstab([finals[k] for k in keys], finals["status"].astype(str))
    c = c.reindex(columns=list(STATUSES), fill_value=0).add_prefix("n_")
    c.columns.name = None
    c.insert(0, "n_runs", c.sum(axis=1))
    return c.reset_index()


def final_table(finals: pd.DataFrame) -> pd.DataFrame:
    """Per arm: mean, std, n and 95% CI of final val/test primary metric and final train loss over
    completed seeds, mean best validation epoch, and run counts per status."""
    g = finals.groupby(ARM, observed=True, sort=True)
    parts = [status_counts(finals).set_index(ARM)]
    for col, name in (("final_val", "val"), ("final_test", "test"), ("final_train_loss", "train_loss")):
        s = g[col].agg(mean="mean", std="std", n="count")
        s["ci95"] = ci95(s["std"], s["n"])
        parts.append(s.add_prefix(f"{name}_"))
    parts.append(g["best_val_epoch"].mean().rename("best_val_epoch_mean"))
    out = pd.concat(parts, axis=1).reset_index()
    for c in out.columns:
        if c.startswith("n_") or c.endswith("_n"):
            out[c] = out[c].fillna(0).astype("int64")
    return out


def select_lr(table: pd.DataFrame, directions: dict | None = None, primary: str = "accuracy"):
    """Per (model, optimizer, schedule): the base LR with the best mean final validation metric.

    Base LRs where some seed diverged are passed over while another LR of the arm had none, so a
    mean over survivors cannot win the selection. Ties go to the smaller LR. An arm with no
    completed run yet keeps one row (its smallest LR) so that it is shown, not silently dropped.
    """
    if table.empty:
        return table
    cand = table.copy()
    cand["_has"] = cand["val_n"] > 0
    cand["_stable"] = cand["n_diverged"] == 0
    cand["_score"] = cand["val_mean"] if direction(primary, directions) == "min" else -cand["val_mean"]
    keys = ["model", "optimizer", "schedule"]
    cand = cand.sort_values([*keys, "_has", "_stable", "_score", "base_lr"],
                            ascending=[True, True, True, False, False, True, True], kind="mergesort")
    out = cand.groupby(keys, observed=True, sort=False).head(1)
    return out.drop(columns=["_has", "_stable", "_score"]).reset_index(drop=True)


def constant_arm(df: pd.DataFrame) -> str | None:
    """The fixed-LR arm: schedule_type 'constant' (the one named 'constant' if several)."""
    names = sorted(set(df.loc[df["schedule_type"].astype(str) == "constant", "schedule"].astype(str)))
    if not names:
        return None
    return "constant" if "constant" in names else names[0]


def summary(df: pd.DataFrame, primary: str, directions: dict | None = None) -> pd.DataFrame:
    """Per optimizer setting and schedule, at the base LR chosen on validation: final val/test
    mean ± std over completed seeds and the difference of means to the fixed-LR arm. The paired
    tests and verdicts are in :mod:`annealbench_report.claims`."""
    finals = run_finals(df, primary, directions)
    table = final_table(finals)
    sel = select_lr(table, directions, primary)
    n_lrs = table.groupby(["optimizer", "schedule"], observed=True)["base_lr"].nunique()
    const = constant_arm(df)
    rows = []
    for _, r in sel.iterrows():
        row = r.to_dict()
        row["n_base_lrs"] = int(n_lrs.loc[(r["optimizer"], r["schedule"])])
        ref = sel[(sel["optimizer"] == r["optimizer"]) & (sel["schedule"] == const)]
        row["reference"] = const
        row["delta_val"] = row["delta_test"] = np.nan
        if len(ref):
            row["delta_val"] = r["val_mean"] - ref.iloc[0]["val_mean"]
            row["delta_test"] = r["test_mean"] - ref.iloc[0]["test_mean"]
        rows.append(row)
    return pd.DataFrame(rows)
