"""The article's two claims, tested per optimizer setting and schedule against the fixed LR.

Each schedule is compared at its own base LR (chosen on validation, :func:`stats.select_lr`)
with the fixed-LR arm at its own, paired by seed: same seed, same initialisation and data order,
so the per-seed difference removes the seed's luck from the comparison.

- ``better``: final validation value of the primary metric;
- ``faster``: epochs until the validation metric first reaches the target (see ``convergence``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from annealbench_report import convergence, inference, stats, verdicts

CLAIMS = {"faster": "converges faster", "better": "better final validation"}
DONE = ("completed", "diverged")


@dataclass
class OptimizerResult:
    """Everything the page shows for one optimizer setting."""

    optimizer: str
    baseline: str | None
    target: dict | None
    budget_epochs: int
    arms: pd.DataFrame  # one row per schedule at its chosen base LR: descriptive statistics
    comparisons: pd.DataFrame  # one row per (schedule, claim) against the baseline
    times: pd.DataFrame  # one row per run: time to target
    curves: dict  # (schedule, "epochs"|"seconds") -> share of runs at the target by time x
    by_lr: pd.DataFrame  # final validation per (schedule, base LR): the base-LR choice
    chosen: pd.DataFrame  # (schedule, base_lr) compared
    warnings: list = field(default_factory=list)


def _outcomes(own: pd.DataFrame, ref: pd.DataFrame, sign: float) -> dict:
    """Per-seed wins/ties/losses and the value pairs for the tests. ``own``/``ref``: indexed by
    seed, columns ``status`` and ``value`` (NaN where a run has no value for this claim)."""
    seeds = sorted(set(own.index) | set(ref.index))
    # a seed where either run is unfinished or lacks the value carries no information: skipped
    out = {"wins": 0, "ties": 0, "losses": 0, "own_diverged": 0, "ref_diverged": 0, "a": [], "b": []}
    for s in seeds:
        so = own["status"].get(s, "missing")
        sr = ref["status"].get(s, "missing")
        if so not in DONE or sr not in DONE:
            continue
        dv_o, dv_r = so == "diverged", sr == "diverged"
        if dv_o and not dv_r:
            out["losses"] += 1
            out["own_diverged"] += 1
        elif dv_r and not dv_o:
            out["wins"] += 1
            out["ref_diverged"] += 1
        elif dv_o and dv_r:
            out["ties"] += 1
        else:
            g = sign * (own.at[s, "value"] - ref.at[s, "value"])
            if np.isnan(g):
                continue
            out["wins" if g > 0 else "losses" if g < 0 else "ties"] += 1
        out["a"].append(own.at[s, "value"])
        out["b"].append(ref.at[s, "value"])
    out["n_seeds"] = out["wins"] + out["ties"] + out["losses"]
    return out


def _compare(own: pd.DataFrame, ref: pd.DataFrame, sign: float) -> dict:
    o = _outcomes(own, ref, sign)
    p = inference.paired(o.pop("a"), o.pop("b"))
    lo, hi = sign * p["ci_lo"], sign * p["ci_hi"]
    return {**o, **p, "gain_lo": min(lo, hi), "gain_hi": max(lo, hi),
            "poi": inference.probability_of_improvement(o["wins"], o["ties"], o["losses"])}


def _by_seed(frame: pd.DataFrame, col: str) -> pd.DataFrame:
    return frame.set_index("seed")[["status"]].assign(value=frame.set_index("seed")[col]).astype(
        {"status": str})


def _arm_row(f: pd.DataFrame, t: pd.DataFrame, sched: str, lr: float) -> dict:
    row = {"schedule": sched, "base_lr": lr, "n_runs": len(f),
           **{f"n_{s}": int((f["status"].astype(str) == s).sum())
              for s in ("completed", "diverged", "failed", "running")}}
    for col in ("final_val", "best_val", "final_test"):
        row.update({f"{col}_{k}": v for k, v in inference.describe(f[col]).items()})
    ep = t["epochs"].where(t["reached"], np.inf)
    sec = t["seconds"].where(t["reached"], np.inf)
    lo, hi = inference.bootstrap_ci(t["restricted_epochs"], np.median)
    row.update({"ttt_runs": len(t), "ttt_reached": int(t["reached"].sum()),
                "ttt_median_epochs": convergence.median_time(ep),
                "ttt_median_ci_lo": lo, "ttt_median_ci_hi": hi,
                "ttt_median_seconds": convergence.median_time(sec)})
    return row


def analyse_optimizer(df: pd.DataFrame, finals: pd.DataFrame, chosen: pd.DataFrame, opt: str,
                      order: list, const: str | None, study: dict, primary: str,
                      directions: dict | None, where: str, *, budget: int | None = None,
                      declared: dict | None = None) -> OptimizerResult:
    """Descriptive statistics, time to target and both claims for optimizer setting ``opt``.

    ``chosen``: the rows of ``opt`` at each schedule's chosen base LR (:func:`stats.select_lr`).
    ``budget`` and ``declared`` (the study's target) are the same for every optimizer setting;
    :func:`analyse` works them out once, a direct call derives them here."""
    lr_of = dict(zip(chosen["schedule"].astype(str), chosen["base_lr"]))
    scheds = [s for s in order if s in lr_of]
    f_opt = finals[finals["optimizer"].astype(str) == opt].assign(
        schedule=lambda x: x["schedule"].astype(str))

    def arm_finals(s):
        return f_opt[(f_opt["schedule"] == s) & (f_opt["base_lr"] == lr_of[s])]

    if budget is None:
        budget, declared = _study_wide(df, study, primary, where)
    target = dict(declared) if declared else None
    base_lr = float(lr_of.get(const, np.nan)) if const else float("nan")
    if target is None and const in lr_of:
        target = convergence.default_target(arm_finals(const)["final_val"], primary, const, base_lr)
    if target is not None:
        target["direction"] = stats.direction(target["metric"], directions)
    rows = df[df["optimizer"].astype(str) == opt]
    keys = pd.DataFrame({"schedule": scheds, "base_lr": [lr_of[s] for s in scheds]})
    rows = rows.assign(_s=rows["schedule"].astype(str)).merge(
        keys.rename(columns={"schedule": "_s"}), on=["_s", "base_lr"]).drop(columns="_s")
    times = (convergence.times(rows, target, directions, budget) if target is not None
             else pd.DataFrame(columns=convergence.TIME_COLUMNS))
    times["reached"] = times["reached"].astype(bool)
    arms = pd.DataFrame([_arm_row(arm_finals(s), times[times["schedule"] == s], s, lr_of[s])
                         for s in scheds])
    comps = []
    if const in lr_of:
        sign_val = 1.0 if stats.direction(primary, directions) == "max" else -1.0
        ref_t = times[times["schedule"] == const]
        for s in scheds:
            if s == const:
                continue
            own_t = times[times["schedule"] == s]
            for claim, own, ref, sign in (
                    ("faster", _by_seed(own_t, "restricted_epochs"),
                     _by_seed(ref_t, "restricted_epochs"), -1.0),
                    ("better", _by_seed(arm_finals(s), "final_val"),
                     _by_seed(arm_finals(const), "final_val"), sign_val)):
                if claim == "faster" and target is None:
                    continue
                r = {"schedule": s, "base_lr": lr_of[s], "claim": claim, **_compare(own, ref, sign)}
                if claim == "faster":
                    r.update(_faster_extras(own_t, ref_t))
                comps.append(r)
    comps = pd.DataFrame(comps)
    warn = []
    if len(comps):
        for claim in CLAIMS:
            m = comps["claim"] == claim
            comps.loc[m, "t_p_holm"] = inference.holm(comps.loc[m, "t_p"])
            comps.loc[m, "w_p_holm"] = inference.holm(comps.loc[m, "w_p"])
        decided = [verdicts.decide(r.gain_lo, r.gain_hi, r.t_p_holm, r.n_pairs, r.n_seeds,
                                   r.own_diverged, r.ref_diverged, r.constant_diff)
                   for r in comps.itertuples()]
        comps["verdict"] = [d[0] for d in decided]
        comps["reason"] = [d[1] for d in decided]
        m = int((comps["claim"] == "better").sum())
        warn = verdicts.seed_warnings(int(comps["n_pairs"].min()), m)
    return OptimizerResult(opt, const if const in lr_of else None, target, budget, arms,
                           comps, times, _curves(times, scheds, budget), _by_lr(f_opt),
                           keys, warn)


def _curves(times: pd.DataFrame, scheds: list, budget: int) -> dict:
    out = {}
    horizon_s = float(times["end_seconds"].max()) if len(times) else 0.0
    for s in scheds:
        t = times[times["schedule"] == s]
        if t.empty:
            continue
        n_cens = int((~t["reached"]).sum())
        out[(s, "epochs")] = convergence.reach_curve(t.loc[t["reached"], "epochs"], n_cens,
                                                     float(budget))
        out[(s, "seconds")] = convergence.reach_curve(t.loc[t["reached"], "seconds"], n_cens,
                                                      horizon_s)
    return out


def _by_lr(f_opt: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (s, lr), g in f_opt.groupby(["schedule", "base_lr"], sort=True):
        rows.append({"optimizer": str(g["optimizer"].iloc[0]), "schedule": s, "base_lr": lr,
                     **inference.describe(g["final_val"]),
                     "n_diverged": int((g["status"].astype(str) == "diverged").sum())})
    return pd.DataFrame(rows, columns=["optimizer", "schedule", "base_lr", "n", "mean", "std",
                                       "ci_lo", "ci_hi", "n_diverged"])


def _faster_extras(own_t: pd.DataFrame, ref_t: pd.DataFrame) -> dict:
    """A paired bootstrap CI of the difference of median times to target, and how many runs
    reached it (the medians themselves are in the arms table)."""
    pair = own_t[["seed", "restricted_epochs"]].merge(ref_t[["seed", "restricted_epochs"]], on="seed",
                                                      suffixes=("_o", "_r"))
    lo, hi = inference.paired_median_diff_ci(pair["restricted_epochs_o"], pair["restricted_epochs_r"])
    return {"median_diff_ci_lo": lo, "median_diff_ci_hi": hi,
            "reached_own": int(own_t["reached"].sum()), "runs_own": len(own_t),
            "reached_ref": int(ref_t["reached"].sum()), "runs_ref": len(ref_t)}


def _study_wide(df: pd.DataFrame, study: dict, primary: str, where: str) -> tuple[int, dict | None]:
    """(epochs budget, declared target or None): what every optimizer setting shares."""
    budget = int(study.get("epochs") or stats.epoch_rows(df)["epoch"].max())
    val_metrics = set(df.loc[df["split"] == "val", "metric"].astype(str))
    return budget, convergence.declared_target(study, primary, val_metrics, where)


def analyse(df: pd.DataFrame, finals: pd.DataFrame, chosen: pd.DataFrame, opts: list, order: list,
            const: str | None, study: dict, primary: str, directions: dict | None,
            where: str) -> list[OptimizerResult]:
    """:func:`analyse_optimizer` for every optimizer setting that has a chosen arm."""
    if not len(chosen):
        return []
    budget, declared = _study_wide(df, study, primary, where)
    out = []
    for opt in opts:
        mine = chosen[chosen["optimizer"].astype(str) == opt]
        if len(mine):
            out.append(analyse_optimizer(df, finals, mine, opt, order, const, study, primary,
                                         directions, where, budget=budget, declared=declared))
    return out


def verdict_frame(results: list[OptimizerResult]) -> pd.DataFrame:
    """All verdicts of a study, one row per (optimizer, schedule, claim)."""
    parts = [r.comparisons.assign(optimizer=r.optimizer) for r in results if len(r.comparisons)]
    if not parts:
        return pd.DataFrame(columns=["optimizer", "schedule", "claim", "verdict"])
    return pd.concat(parts, ignore_index=True)
