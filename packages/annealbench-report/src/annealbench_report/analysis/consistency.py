"""Do two builds of one study (a CPU's and a GPU's, same seeds) give the same answer? The statistics.

A device never gives the same bits, and training amplifies the difference: on the first GPU run the
CNN's runs moved by as much as drawing a new seed (docs/gpu.md). So the null hypothesis is not
"each run is reproduced" but "the device changes nothing systematic": B's runs are exchangeable
with runs of new seeds on A's device, or closer to A's than that. Per matched run (arm = optimizer,
schedule, base LR, length; same seed) the device's difference is

    d(arm, seed) = value_B - value_A

and under the null the d are centred, alike across arms, and scatter no more than the difference
of two seeds' runs. The devices agree unless the data show otherwise; each test runs at ALPHA / 3
(Bonferroni), so at most ALPHA = 5% false failures under the null, whatever the device's noise:

1. no systematic move: fails where a one-way ANOVA of d across arms (F on k - 1 and N - k df)
   shows the arms moved differently (p < ALPHA / 3) and two arms' mean d differ by more than the
   margin (half min_effect). Two arms' mean d differ by exactly the mean move of the contrast
   between them, so this judges every schedule-minus-fixed contrast, for any pairing of arms, and
   needs no fixed LR at each schedule's base LR;
2. no device bias: fails where a one-sample t-test shows the mean of d (the device's shift of the
   metric itself) is not 0 (p < ALPHA / 3) and the mean is beyond +-margin;
3. no more scatter than a new seed: fails where F = s_d^2 / (2 s_A^2) is above its
   F(N - k, dof_A) quantile at 1 - ALPHA / 3, s_d the SD of d within arms (pooled) and s_A the seed
   SD of A's runs within arms (pooled): two draws of a run's luck differ by sqrt(2) seed SDs. d
   and A's runs are not independent (d holds -A's luck), which makes the test conservative where
   the device re-seeds (simulated);
4. no claim is "reproduced" on one side and "reversed" on the other (checked by the caller).

The margin in 1 and 2 does not enter their size (the test does); it keeps an effect too small to
matter from failing a study whose many runs detect it.

Why tests of "nothing changed" rather than equivalence tests ("shown within the margin"): the
previous rule required the data to show the moves within half min_effect. That keeps false failures
under 5% only while the device's per-run noise is below ~0.15 min_effect; with chaotic training it
failed a device that changes nothing systematic almost always. These tests keep their size at any
noise; their power is what the noise and the seeds allow (tests/report/test_consistency_power.py).

Stated, not judged: whether the builds agree seed by seed (``seed_paired``: the 90% upper bound of
a contrast's move SD, sqrt(2) times the per-run one, within half min_effect; only then does a
seed's contrast on one device say what it is on the other), whether the bias is shown within that
margin (TOST), and each arm's mean contrast move where a fixed LR ran at its base LR.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats

KEY = ["optimizer", "schedule", "base_lr", "seed", "epochs"]
ARM = ["optimizer", "schedule", "base_lr", "epochs"]
ALPHA = 0.05  # false failures allowed under the null, the three tests together
LEVEL = ALPHA / 3  # each test's (Bonferroni)
CONFIDENCE = 0.90  # of the stated (not judged) bounds: the seed-paired SD bound and TOST's interval


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


def spread(arms: list[np.ndarray]) -> tuple[float, int]:
    """SD about each arm's own mean, pooled over arms, and its degrees of freedom."""
    groups = [g for g in arms if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof), dof


def bias_test(d: np.ndarray, level: float = LEVEL) -> dict:
    """One-sample t-test of H0: mean(d) = 0 and the (1 - level) t-interval, which excludes 0 exactly
    where p < level."""
    n = len(d)
    mean, se = float(np.mean(d)), float(np.std(d, ddof=1) / math.sqrt(n))
    if se == 0:
        return {"n": n, "mean": mean, "lo": mean, "hi": mean, "p": 1.0 if mean == 0 else 0.0,
                "confidence": 1 - level}
    half = _t_ppf(1 - level / 2, n - 1) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {"n": n, "mean": mean, "lo": mean - half, "hi": mean + half, "p": p, "confidence": 1 - level}


def arm_anova(arms: list[np.ndarray]) -> dict:
    """One-way ANOVA of H0: every arm's mean is the same. F on (k - 1, N - k) degrees of freedom."""
    k, n = len(arms), sum(len(g) for g in arms)
    grand = np.concatenate(arms).mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for g in arms)
    within = sum(((g - g.mean()) ** 2).sum() for g in arms)
    df1, df2 = k - 1, n - k
    if within == 0:
        return {"f": math.inf if between else math.nan, "dof": (df1, df2), "p": 0.0 if between else 1.0}
    f = (between / df1) / (within / df2)
    return {"f": float(f), "dof": (df1, df2), "p": float(stats.f.sf(f, df1, df2))}


def scatter_test(d_arms: list[np.ndarray], a_arms: list[np.ndarray]) -> dict:
    """F = s_d^2 / (2 s_A^2) against F(dof_d, dof_A): does the device scatter a run more than a new
    seed would? ``p`` is the upper tail (conservative here: d and A's runs share A's luck)."""
    sd, dof = spread(d_arms)
    seed_sd, seed_dof = spread(a_arms)
    ratio = 0.0 if sd == 0 else sd**2 / (2 * seed_sd**2) if seed_sd > 0 else math.inf
    p = float(stats.f.sf(ratio, dof, seed_dof)) if math.isfinite(ratio) else 0.0
    return {"device_sd": sd, "device_dof": dof, "seed_sd": seed_sd, "seed_dof": seed_dof,
            "ratio": float(ratio), "p": p}


def seed_paired(d_arms: list[np.ndarray], margin: float) -> dict:
    """Stated, not judged: a contrast's move is the difference of two runs' d, so its SD is sqrt(2)
    times the per-run one; seed-paired where its 90% upper bound is within the margin."""
    sd, dof = spread(d_arms)
    upper = math.sqrt(2) * sd_upper_bound(sd, dof) if dof else math.nan
    return {"move_sd": math.sqrt(2) * sd, "move_dof": dof, "move_sd_upper": upper,
            "holds": None if not dof else bool(upper <= margin)}


def rules(d_arms: list[np.ndarray], a_arms: list[np.ndarray], min_effect: float) -> dict:
    """Rules 1-3 from each arm's differences B - A (one array per arm, one value per seed) and A's
    values of the same runs; a rule is None where the data cannot decide it."""
    margin = min_effect / 2
    d = np.concatenate(d_arms) if d_arms else np.array([])
    n, k = len(d), len(d_arms)
    move = arm_anova(d_arms) if k >= 2 and n > k else None
    widest = float(np.ptp([g.mean() for g in d_arms])) if k >= 2 else math.nan
    bias = bias_test(d) if n >= 2 else None
    scatter = scatter_test(d_arms, a_arms) if n > k else None
    decided = scatter is not None and scatter["seed_dof"] > 0
    shown = {"move": move is not None and move["p"] < LEVEL and widest > margin,
             "bias": bias is not None and bias["p"] < LEVEL and abs(bias["mean"]) > margin}
    return {
        "margin": margin, "arms": k, "level": LEVEL, "systematic_move": move,
        "widest_arm_move": widest, "bias": bias, "scatter": scatter if decided else None,
        "seed_paired": seed_paired(d_arms, margin),
        "bias_within_margin": tost(d, margin) if n >= 2 else None,
        "rules": {
            "no_systematic_move": None if move is None else not shown["move"],
            "no_device_bias": None if bias is None else not shown["bias"],
            "no_more_scatter_than_a_new_seed": bool(scatter["p"] >= LEVEL) if decided else None,
        },
    }


def contrasts(finals: pd.DataFrame, fixed: str) -> pd.DataFrame:
    """Per seed and arm: the arm's value minus the fixed LR's at the same optimizer, base LR, length."""
    base = finals[finals["schedule"] == fixed].drop(columns="schedule").rename(columns={"value": "fixed"})
    c = finals[finals["schedule"] != fixed].merge(base, on=["optimizer", "base_lr", "seed", "epochs"])
    return c.assign(contrast=c["value"] - c["fixed"])[[*KEY, "contrast"]]


def moves(fa: pd.DataFrame, fb: pd.DataFrame, fixed: str) -> pd.DataFrame:
    """move = contrast_B - contrast_A for every (arm, seed) both sides have."""
    m = contrasts(fa, fixed).merge(contrasts(fb, fixed), on=KEY, suffixes=("_a", "_b"))
    return m.assign(move=m["contrast_b"] - m["contrast_a"])


def judge(fa: pd.DataFrame, fb: pd.DataFrame, fixed: str, min_effect: float) -> dict:
    """``rules`` on the final values (KEY + value) of side A and side B (runs with a non-finite value
    on either side counted, not judged), with each arm's mean contrast move (stated) where the fixed
    LR ran at the arm's base LR."""
    runs = fa.merge(fb, on=KEY, suffixes=("_a", "_b"))
    runs = runs.assign(d=runs["value_b"] - runs["value_a"])
    finite = np.isfinite(runs["d"].to_numpy(dtype=float))  # a diverged run has no final value to move
    runs = runs[finite]
    by_arm = [g for _, g in runs.groupby(ARM)]
    r = rules([g["d"].to_numpy(dtype=float) for g in by_arm],
              [g["value_a"].to_numpy(dtype=float) for g in by_arm], min_effect)
    m = moves(fa, fb, fixed)
    mean_moves = {"/".join(map(str, k)): float(g["move"].mean()) for k, g in m.groupby(ARM)}
    worst = max(map(abs, mean_moves.values())) if mean_moves else math.nan
    return {**r, "runs_not_finite": int((~finite).sum()), "moves": len(m), "mean_moves": mean_moves,
            "worst_mean_move": worst}
