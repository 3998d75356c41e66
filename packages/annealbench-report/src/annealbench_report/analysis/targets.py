"""Time to target, a second reading of "converges faster" (not a verdict): when the validation
metric of the full-length runs at the tuned base LR first reaches the target the study declares.

Only a declared target is used: a default such as the fixed LR's own final mean would re-test
"better" (half the fixed-LR runs miss it by construction). A run that never reaches the target
is censored, never dropped. Every full-length run trains E epochs, so censoring happens only at
the end; a Kaplan–Meier estimate then equals the plain share of runs that reached the target by
time t, and that share is what the curves show (scipy.stats.ecdf on CensoredData computes it).

For the paired comparison a censored run counts as E + 1 epochs: the earliest it could have
reached the target, which gives the benefit of the doubt to the run that did not get there. A
diverged run never converged: it counts as not reaching the target, even if its metric crossed
the target before it blew up. Times are whole epochs with ties, so the paired test is the exact
sign-flip permutation test, Holm-adjusted over the schedules of an optimizer setting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from annealbench_report.analysis import inference
from annealbench_report.errors import ReportError
from annealbench_report.records.frames import direction, epoch_rows

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


def times(df: pd.DataFrame, target: dict, directions: dict | None, budget_epochs: int) -> pd.DataFrame:
    """Per completed or diverged run of ``df``: whether and when (epoch, cumulative training
    seconds) its validation ``target['metric']`` first reached ``target['value']``."""
    ep = epoch_rows(df)
    runs = (ep[["optimizer", "schedule", "base_lr", "seed", "run_key", "status"]]
            .drop_duplicates("run_key").astype({"optimizer": str, "schedule": str, "run_key": str,
                                                "status": str}))
    runs = runs[runs["status"].isin(["completed", "diverged"])].set_index("run_key")
    val = ep[(ep["split"] == "val") & (ep["metric"] == target["metric"])]
    val = val.assign(run_key=val["run_key"].astype(str)).sort_values(["run_key", "epoch"])
    val = val[val["run_key"].isin(runs.index)]
    better = "max" == direction(target["metric"], directions)
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


@dataclass
class TargetResult:
    """Time to target of one optimizer setting (full-length runs at the tuned LR)."""

    optimizer: str
    target: dict
    budget: int
    times: pd.DataFrame  # one row per run
    arms: pd.DataFrame  # one row per schedule: reached, medians
    comparisons: pd.DataFrame  # one row per schedule against the fixed LR
    curves: dict  # (schedule, "epochs"|"seconds") -> share of runs at the target by time x


def _arm(t: pd.DataFrame, schedule: str) -> dict:
    ep = t["epochs"].where(t["reached"], np.inf)
    sec = t["seconds"].where(t["reached"], np.inf)
    mi = inference.median_interval(ep)
    return {"schedule": schedule, "runs": len(t), "reached": int(t["reached"].sum()),
            "median_epochs": median_time(ep), "median_lo": mi["lo"], "median_hi": mi["hi"],
            "median_coverage": mi["coverage"], "median_seconds": median_time(sec)}


def _compare(own: pd.DataFrame, ref: pd.DataFrame, schedule: str) -> dict:
    pair = own[["seed", "restricted_epochs"]].merge(ref[["seed", "restricted_epochs"]], on="seed",
                                                    suffixes=("_o", "_r"))
    # fixed − schedule: > 0 = the schedule gets there sooner, the page's one sign convention
    d = (pair["restricted_epochs_r"] - pair["restricted_epochs_o"]).to_numpy(float)
    t = inference.t_interval(d)
    return {"schedule": schedule, "n_pairs": t["n"], "mean": t["mean"], "lo": t["lo"],
            "hi": t["hi"], "p": inference.sign_flip_p(d) if len(d) >= 2 else float("nan"),
            "reached_own": int(own["reached"].sum()), "runs_own": len(own),
            "reached_ref": int(ref["reached"].sum()), "runs_ref": len(ref)}


def analyse(df: pd.DataFrame, judged_full: pd.DataFrame, target: dict, directions: dict | None,
            budget: int, fixed: str | None, order: list, optimizer: str) -> TargetResult:
    """``judged_full``: the tuned protocol's rows of ``optimizer`` at the full length (one run
    per schedule and seed, at that seed's leave-one-seed-out LR)."""
    rows = df[df["run_key"].isin(set(judged_full["run_key"].astype(str)))]
    t = times(rows, target, directions, budget) if len(rows) else pd.DataFrame(columns=TIME_COLUMNS)
    t["reached"] = t["reached"].astype(bool)
    scheds = [s for s in order if s in set(t["schedule"])]
    arms = pd.DataFrame([_arm(t[t["schedule"] == s], s) for s in scheds])
    comps = []
    if fixed in scheds:
        ref = t[t["schedule"] == fixed]
        comps = [_compare(t[t["schedule"] == s], ref, s) for s in scheds if s != fixed]
    comps = pd.DataFrame(comps, columns=["schedule", "n_pairs", "mean", "lo", "hi", "p",
                                         "reached_own", "runs_own", "reached_ref", "runs_ref"])
    comps["p_holm"] = inference.holm(comps["p"]) if len(comps) else []
    horizon_s = float(t["end_seconds"].max()) if len(t) else 0.0
    curves = {}
    for s in scheds:
        g = t[t["schedule"] == s]
        n_cens = int((~g["reached"]).sum())
        curves[(s, "epochs")] = reach_curve(g.loc[g["reached"], "epochs"], n_cens, float(budget))
        curves[(s, "seconds")] = reach_curve(g.loc[g["reached"], "seconds"], n_cens, horizon_s)
    return TargetResult(optimizer, target, budget, t, arms, comps, curves)
