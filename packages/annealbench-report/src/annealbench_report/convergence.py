"""Time to target: when a run's validation metric first reaches the study's target.

A run that never reaches the target within its budget is censored, never dropped. Every run of
an arm trains the same number of epochs, so censoring happens only at the end of the budget; a
Kaplan–Meier estimate then equals the plain share of runs that reached the target by time t,
and that share is what the curves show (scipy.stats.ecdf on CensoredData computes it).

For the paired comparison a censored run counts as ``budget + 1`` epochs: the earliest it could
have reached the target. That understates its time, so the benefit of the doubt goes to the run
that did not get there. A diverged run never converged: it counts as not reaching the target,
even if its metric crossed the target before it blew up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from annealbench_report import stats
from annealbench_report.errors import ReportError

TIME_COLUMNS = ["optimizer", "schedule", "base_lr", "seed", "run_key", "status", "reached",
                "epochs", "seconds", "end_epoch", "end_seconds", "restricted_epochs"]


def declared_target(study: dict, primary: str, val_metrics, where: str) -> dict | None:
    """The target declared in study.json (``target``): a number, read as a validation value of
    the primary metric, or ``{"metric": ..., "value": ...}``. None when absent."""
    t = study.get("target")
    if t is None:
        return None
    if isinstance(t, dict):
        metric, value = t.get("metric", primary), t.get("value")
    else:
        metric, value = primary, t
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ReportError(f"{where}: target must be a finite number (a validation {primary} value) "
                          f"or {{\"metric\": NAME, \"value\": NUMBER}}, not {t!r}")
    known = sorted(str(m) for m in val_metrics)
    if known and metric not in known:
        raise ReportError(f"{where}: target.metric {metric!r} is not a validation metric of the "
                          f"records; allowed: {', '.join(known)}")
    return {"metric": str(metric), "value": float(value), "source": "declared in study.json"}


def default_target(baseline_finals: pd.Series, primary: str, baseline: str, lr: float) -> dict | None:
    """The fixed-LR arm's mean final validation metric over its completed seeds."""
    v = baseline_finals.dropna()
    if v.empty:
        return None
    return {"metric": primary, "value": float(v.mean()),
            "source": f"default: mean final validation {primary} of {baseline} (LR {lr:g}) over "
                      f"{len(v)} seeds"}


def times(df: pd.DataFrame, target: dict, directions: dict | None, budget_epochs: int) -> pd.DataFrame:
    """Per completed or diverged run of ``df``: whether and when (epoch, cumulative training
    seconds) its validation ``target['metric']`` first reached ``target['value']``."""
    ep = stats.epoch_rows(df)
    runs = (ep[["optimizer", "schedule", "base_lr", "seed", "run_key", "status"]]
            .drop_duplicates("run_key").astype({"optimizer": str, "schedule": str, "run_key": str,
                                                "status": str}))
    runs = runs[runs["status"].isin(["completed", "diverged"])].set_index("run_key")
    val = ep[(ep["split"] == "val") & (ep["metric"] == target["metric"])]
    val = val.assign(run_key=val["run_key"].astype(str)).sort_values(["run_key", "epoch"])
    val = val[val["run_key"].isin(runs.index)]
    better = "max" == stats.direction(target["metric"], directions)
    hit = val[np.isfinite(val["value"]) & ((val["value"] >= target["value"]) if better
                                           else (val["value"] <= target["value"]))]
    first = hit.groupby("run_key").head(1).set_index("run_key")
    end = ep.assign(run_key=ep["run_key"].astype(str)).groupby("run_key")[["epoch", "wall_time_s"]].max()
    out = runs.join(first[["epoch", "wall_time_s"]].rename(
        columns={"epoch": "epochs", "wall_time_s": "seconds"}))
    out = out.join(end.rename(columns={"epoch": "end_epoch", "wall_time_s": "end_seconds"}))
    out["reached"] = out["epochs"].notna() & (out["status"] == "completed")
    out.loc[~out["reached"], ["epochs", "seconds"]] = np.nan
    out["epochs"] = out["epochs"].astype(float)
    out["restricted_epochs"] = out["epochs"].fillna(float(budget_epochs + 1))
    return out.reset_index()[TIME_COLUMNS].sort_values(["schedule", "base_lr", "seed"],
                                                       kind="mergesort").reset_index(drop=True)


def reach_curve(event_times, n_censored: int, horizon: float) -> pd.DataFrame:
    """Share of runs that reached the target by time x, as a step function from (0, 0) to the
    horizon: scipy's Kaplan–Meier estimate with the censored runs censored at the horizon."""
    ev = np.asarray(event_times, dtype=float)
    ev = ev[np.isfinite(ev)]
    if len(ev) + n_censored == 0:
        return pd.DataFrame({"x": [], "share": []})
    if len(ev) == 0:
        return pd.DataFrame({"x": [0.0, horizon], "share": [0.0, 0.0]})
    horizon = max(horizon, float(ev.max()))
    res = sps.ecdf(sps.CensoredData(uncensored=ev, right=np.full(n_censored, horizon)))
    x, p = res.cdf.quantiles, res.cdf.probabilities
    if x[0] > 0:
        x, p = np.concatenate([[0.0], x]), np.concatenate([[0.0], p])
    if x[-1] < horizon:
        x, p = np.append(x, horizon), np.append(p, p[-1])
    return pd.DataFrame({"x": x, "share": p})


def median_time(x) -> float:
    """Median of times where a censored run is +inf (so the median is inf, 'not reached', when
    half or more of the runs did not get there)."""
    a = np.asarray(x, dtype=float)
    a = a[~np.isnan(a)]
    return float(np.median(a)) if len(a) else float("nan")
