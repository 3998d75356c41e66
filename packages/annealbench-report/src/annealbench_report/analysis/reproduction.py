"""This run's records against a published study's, run by run and value for value.

Runs are matched on what defines a run apart from the machine: model, data set, optimizer
setting, schedule, base LR, length and seed (the run key also hashes the device and precision, so
a run of another machine has another key for the same run; where the keys differ this is counted).
The published records are thinned (every per-epoch row, and the per-step rows of a few
representative runs: annealbench_report.thin), so a run is compared on the published rows' keys
(epoch, step, split, metric); rows only this run holds are not compared. Machine measurements are
left out: the ``wall_time_s`` column and the ``throughput`` rows (run end times are not in the
records). A run is *equal* when its status is the same and every published row exists here with
the same ``value`` and ``lr``, bit for bit (NaN equal to NaN: a diverged run's last row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from annealbench_report.records.frames import step_rows

IDENTITY = ["model", "dataset", "optimizer", "schedule", "base_lr", "epochs", "seed"]
ROW_KEY = ["epoch", "step", "split", "metric"]
COMPARED = ["value", "lr"]
MACHINE_METRICS = ("throughput",)  # items/s: a property of the machine, not of the run


@dataclass
class RunsComparison:
    """``runs``: one row per run matched on both sides (RUN_COLUMNS); ``only_published`` and
    ``only_here``: the identities of the runs one side lacks (IDENTITY plus ``run_key``)."""

    runs: pd.DataFrame
    only_published: pd.DataFrame
    only_here: pd.DataFrame
    n_published: int = 0
    n_here: int = 0
    thinned_steps: bool = False  # the published records hold step rows for some runs only

    @property
    def n_equal(self) -> int:
        return int(self.runs["equal"].sum()) if len(self.runs) else 0

    @property
    def all_equal(self) -> bool:
        """Every run on either side is on both, and equal."""
        return (self.n_published > 0 and self.n_equal == len(self.runs) == self.n_published
                == self.n_here)


RUN_COLUMNS = [*IDENTITY, "run_key", "run_key_here", "status", "status_here", "rows", "missing",
               "unequal", "max_abs", "where", "equal"]


def comparable_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The rows a comparison reads: no machine measurement, identity and key columns as plain
    values (categories of two files need not agree)."""
    d = df[~df["metric"].astype(str).isin(MACHINE_METRICS)]
    cols = {c: d[c].astype(str) for c in ("model", "dataset", "optimizer", "schedule", "split",
                                          "metric", "run_key", "status")}
    return d.assign(**cols)[[*IDENTITY, "run_key", "status", *ROW_KEY, *COMPARED]]


def run_table(d: pd.DataFrame) -> pd.DataFrame:
    """One row per run (IDENTITY, run_key, status); a run appearing under two keys stays two."""
    return d[[*IDENTITY, "run_key", "status"]].drop_duplicates([*IDENTITY, "run_key"])


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))


def _abs_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b|, 0 where both are the same (NaN and NaN, inf and inf), inf where one only is
    finite or NaN: a run that diverged on one side only differs by more than any number."""
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b)
    d[_same(a, b)] = 0.0
    d[np.isnan(d)] = np.inf
    return d


def _where(row) -> str:
    step = f", step {int(row['step'])}" if row["metric"] == "step_loss" else ""
    return f"{row['split']} {row['metric']} ({row['column']}), epoch {int(row['epoch'])}{step}"


def _per_run(m: pd.DataFrame) -> pd.DataFrame:
    """Per matched run: rows compared, rows missing here, rows unequal, the largest |difference|
    and where it is."""
    present = m["_merge"] == "both"
    diffs = {c: _abs_diff(m[f"{c}_pub"].to_numpy(float), m[f"{c}_here"].to_numpy(float))
             for c in COMPARED}
    worst = np.maximum(*diffs.values())
    worst_col = np.where(diffs["value"] >= diffs["lr"], "value", "lr")
    m = m.assign(_present=present, _unequal=present & (worst != 0), _diff=np.where(present, worst, -1.0),
                 column=worst_col)
    out = []
    for key, g in m.groupby([*IDENTITY, "run_key"], sort=False, observed=True):
        i = g["_diff"].idxmax()
        top = g.loc[i]
        found = bool(g["_present"].any())
        out.append({**dict(zip([*IDENTITY, "run_key"], key, strict=True)),
                    "rows": int(g["_present"].sum()), "missing": int((~g["_present"]).sum()),
                    "unequal": int(g["_unequal"].sum()),
                    "max_abs": float(top["_diff"]) if found else np.nan,
                    "where": _where(top) if found and top["_diff"] > 0 else ""})
    return pd.DataFrame(out, columns=[*IDENTITY, "run_key", "rows", "missing", "unequal", "max_abs",
                                      "where"])


def compare_runs(published: pd.DataFrame, here: pd.DataFrame) -> RunsComparison:
    """Each published run against this run's run of the same identity (module docstring)."""
    p, h = comparable_rows(published), comparable_rows(here)
    rp, rh = run_table(p), run_table(h)
    pairs = rp.merge(rh, on=IDENTITY, how="inner", suffixes=("", "_here"))
    # the same run under two keys on one side: its first key is compared, the other is one-sided
    pairs = pairs.drop_duplicates(IDENTITY).drop_duplicates("run_key_here")
    only_p = rp[~_in(rp, pairs, "run_key")][[*IDENTITY, "run_key"]]
    only_h = rh[~_in(rh, pairs, "run_key_here")][[*IDENTITY, "run_key"]]
    if pairs.empty:
        runs = pd.DataFrame(columns=RUN_COLUMNS)
    else:
        keys = pairs[[*IDENTITY, "run_key", "run_key_here"]]
        pub = p.merge(keys, on=[*IDENTITY, "run_key"])
        mine = h.rename(columns={"run_key": "run_key_here"}).merge(keys, on=[*IDENTITY, "run_key_here"])
        m = pub.merge(mine[[*IDENTITY, *ROW_KEY, *COMPARED]].drop_duplicates([*IDENTITY, *ROW_KEY]),
                      on=[*IDENTITY, *ROW_KEY], how="left", suffixes=("_pub", "_here"),
                      indicator=True)
        runs = pairs.merge(_per_run(m), on=[*IDENTITY, "run_key"], how="left")
        runs["equal"] = ((runs["missing"] == 0) & (runs["unequal"] == 0)
                         & (runs["status"] == runs["status_here"]))
        runs = runs[RUN_COLUMNS].reset_index(drop=True)
    steps = step_rows(published)
    thinned = bool(len(steps)) and steps["run_key"].astype(str).nunique() < len(rp)
    return RunsComparison(runs, only_p.reset_index(drop=True), only_h.reset_index(drop=True),
                          len(rp), len(rh), thinned)


def _in(runs: pd.DataFrame, pairs: pd.DataFrame, key: str) -> pd.Series:
    """Whether each run (identity and run key) is among the matched pairs, its key in column
    ``key`` of ``pairs`` (index aligned with ``runs``)."""
    ids = set(map(tuple, pairs[[*IDENTITY, key]].itertuples(index=False)))
    return pd.Series([tuple(r) in ids for r in runs[[*IDENTITY, "run_key"]].itertuples(index=False)],
                     index=runs.index, dtype=bool)
