"""Descriptive statistics over seeds for the curves and status tables (DataFrame in, out).

- statistics are over seeds of one arm at one base LR and run length;
- diverged runs are counted and listed, never averaged in: their numbers stop at a non-finite
  loss, and a mean over the steps before it would describe a run that does not exist;
- spread is the sample standard deviation (ddof=1); the 95% interval of a mean is the t-interval,
  half-width t(0.975, n−1)·std/√n, undefined (NaN) for n < 2.
"""

from __future__ import annotations

import pandas as pd

from annealbench_report.analysis.inference import t_half_width
from annealbench_report.records.contract import STATUSES
from annealbench_report.records.frames import averaged_rows, epoch_rows

ARM = ["model", "optimizer", "schedule", "schedule_type", "base_lr", "epochs"]


def seed_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, n and 95% t-interval half-width over seeds per (arm, epoch, split, metric).

    Per-epoch rows only; diverged runs are left out (see :func:`status_counts`)."""
    keys = [*ARM, "epoch", "split", "metric"]
    rows = averaged_rows(epoch_rows(df))
    out = rows.groupby(keys, observed=True, sort=True)["value"].agg(
        mean="mean", std="std", n="count").reset_index()
    out["n"] = out["n"].astype("int64")
    out["ci95"] = t_half_width(out["std"], out["n"])
    return out[[*keys, "mean", "std", "n", "ci95"]]


def status_counts(runs: pd.DataFrame, keys) -> pd.DataFrame:
    """Runs per status (completed, diverged, failed, running) per ``keys``."""
    keys = list(keys)
    c = pd.crosstab([runs[k] for k in keys], runs["status"].astype(str))
    c = c.reindex(columns=list(STATUSES), fill_value=0).add_prefix("n_")
    c.columns.name = None
    c.insert(0, "n_runs", c.sum(axis=1))
    return c.reset_index()
