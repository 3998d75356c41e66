"""Do two builds of one study (a CPU's and a GPU's, same seeds) give the same answer? The statistics.

A device never gives the same bits, so runs are not compared value for value. What the study
answers is a contrast: a schedule's final metric minus the fixed LR's, seed by seed (same
optimizer, base LR and length). The device's *move* of a seed's contrast is

    move(seed, arm) = contrast_B(seed, arm) - contrast_A(seed, arm)

and the rule, with margin = min_effect / 2 (half the smallest effect the study calls meaningful):

1. mean move: for every arm, the mean of its moves across seeds lies within +-margin;
2. spread: the 90% upper confidence bound of the moves' SD (pooled within arms, chi-square on
   its degrees of freedom) is at most margin, so a typical seed's contrast moves by less;
3. device bias: a TOST (two one-sided t-tests at 5% each, i.e. the 90% t-interval of the mean
   per-run difference B - A inside +-margin) shows the device shifts no run's metric by as much;
4. no claim is "reproduced" on one side and "reversed" on the other (checked by the caller).

Each of 1-3 must be shown by the data: with few seeds and noisy runs a device that changes nothing
can still fail, which tests/report/test_consistency_power.py measures for the studies' sizes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

KEY = ["optimizer", "schedule", "base_lr", "seed", "epochs"]
ARM = ["optimizer", "schedule", "base_lr", "epochs"]
CONFIDENCE = 0.90  # of the spread's upper bound and of TOST's interval (5% in each tail)


@lru_cache(maxsize=256)
def _t_ppf(q: float, dof: int) -> float:  # cached: the power simulation calls these thousands of times
    return float(stats.t.ppf(q, dof))


@lru_cache(maxsize=256)
def _chi2_ppf(q: float, dof: int) -> float:
    return float(stats.chi2.ppf(q, dof))


def tost(d: np.ndarray, margin: float) -> dict:
    """Two one-sided t-tests of H0: |mean(d)| >= margin. ``p`` is the larger one-sided p; the mean
    lies within +-margin at level 5% where p < 0.05, i.e. the 90% t-interval is inside."""
    n = len(d)
    mean, se = float(np.mean(d)), float(np.std(d, ddof=1) / math.sqrt(n))
    if se == 0:
        p = 0.0 if abs(mean) < margin else 1.0
        return {"n": n, "mean": mean, "lo": mean, "hi": mean, "p": p, "equivalent": p < 0.05}
    p_low = float(stats.t.sf((mean + margin) / se, n - 1))  # H0: mean <= -margin
    p_high = float(stats.t.cdf((mean - margin) / se, n - 1))  # H0: mean >= +margin
    half = _t_ppf(1 - (1 - CONFIDENCE) / 2, n - 1) * se
    p = max(p_low, p_high)
    return {"n": n, "mean": mean, "lo": mean - half, "hi": mean + half, "p": p, "equivalent": p < 0.05}


def sd_upper_bound(sd: float, dof: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound of a normal SD: sd * sqrt(dof / chi2_{1-confidence}(dof))."""
    return sd * math.sqrt(dof / _chi2_ppf(1 - confidence, dof))


def contrasts(finals: pd.DataFrame, fixed: str) -> pd.DataFrame:
    """Per seed and arm: the arm's value minus the fixed LR's at the same optimizer, base LR, length."""
    base = finals[finals["schedule"] == fixed].drop(columns="schedule").rename(columns={"value": "fixed"})
    c = finals[finals["schedule"] != fixed].merge(base, on=["optimizer", "base_lr", "seed", "epochs"])
    return c.assign(contrast=c["value"] - c["fixed"])[[*KEY, "contrast"]]


def moves(fa: pd.DataFrame, fb: pd.DataFrame, fixed: str) -> pd.DataFrame:
    """move = contrast_B - contrast_A for every (arm, seed) both sides have."""
    m = contrasts(fa, fixed).merge(contrasts(fb, fixed), on=KEY, suffixes=("_a", "_b"))
    return m.assign(move=m["contrast_b"] - m["contrast_a"])


def spread(arms: list[np.ndarray]) -> tuple[float, int]:
    """SD of the moves about their arm's mean, pooled over arms, and its degrees of freedom."""
    groups = [g for g in arms if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof), dof


def rules(arms: list[np.ndarray], d: np.ndarray, min_effect: float) -> dict:
    """Rules 1-3 from each arm's moves (one array per arm, one value per seed) and the per-run
    differences ``d`` = B - A; a rule is None where the data cannot decide it."""
    margin = min_effect / 2
    means = np.array([g.mean() for g in arms]) if arms else np.array([])
    sd, dof = spread(arms)
    upper = sd_upper_bound(sd, dof) if dof else math.nan
    bias = tost(d, margin) if len(d) >= 2 else None
    worst = float(np.abs(means).max()) if len(means) else math.nan
    return {
        "margin": margin, "arms": len(arms), "worst_mean_move": worst, "move_sd": sd,
        "move_dof": dof, "move_sd_upper": upper, "bias": bias,
        "rules": {
            "mean_move_within_margin": None if not len(means) else bool(worst <= margin),
            "move_spread_within_margin": None if not dof else bool(upper <= margin),
            "device_bias_equivalent": None if bias is None else bool(bias["equivalent"]),
        },
    }


def judge(fa: pd.DataFrame, fb: pd.DataFrame, fixed: str, min_effect: float) -> dict:
    """``rules`` on the final values (KEY + value) of side A and side B."""
    m = moves(fa, fb, fixed)
    by_arm = {"/".join(map(str, k)): g["move"].to_numpy(dtype=float) for k, g in m.groupby(ARM)}
    d = fa.merge(fb, on=KEY, suffixes=("_a", "_b"))
    r = rules(list(by_arm.values()), (d["value_b"] - d["value_a"]).to_numpy(dtype=float), min_effect)
    return {**r, "moves": len(m), "mean_moves": {k: float(v.mean()) for k, v in by_arm.items()}}
