"""This run's verdicts against a published study's, claim by claim, and the rule that says whether
a run that is not bit-for-bit the published one is consistent with it.

The rule, declared before any comparison (docs/report.md, "Reproduction check"): this run is
*consistent* with the published answer when, on the claims both hold,

1. no claim is "reproduced" on one side and "reversed" on the other, and
2. each claim's difference d = Δ(this run) − Δ(published) passes Welch's test of "same Δ" at the
   Bonferroni level 0.05/m over the m claims compared: |d| ≤ t(1 − 0.025/m, ν)·√(SE_p² + SE_h²),
   where SE = (hi − lo) / (2·t(0.975, n − 1)) is the standard error behind each side's 95%
   t-interval and ν the Welch–Satterthwaite degrees of freedom.

Why: another machine computes other last bits, and training amplifies them, so its runs scatter
like new seeds (annealbench_report.compare). If both sides estimate the same true Δ independently,
d has standard error √(SE_p² + SE_h²): the combined half-width of the two intervals, taken in
quadrature. Each claim then fails by chance with probability 0.05/m (Welch's approximation), the
whole rule with at most 5% (Bonferroni, under any dependence between claims). Where this run
reuses the published seeds the two sides are positively correlated, d varies less, and the rule
errs on the side of "consistent". A verdict word that differs without being opposite (e.g.
"inconclusive" beside "reproduced") is listed, not failed: near a decision threshold two
replications differ in it often. A row tested by the selection-aware test has a wider interval
than the t-interval; its SE read this way is larger, so the rule is more lenient there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CLAIM_KEY = ["optimizer", "protocol", "claim", "schedule"]
VALUES = ["n", "delta", "lo", "hi", "verdict"]
FAMILY_ALPHA = 0.05
CONFIDENCE = 0.95  # the coverage of the intervals in verdicts.csv
OPPOSITE = {frozenset({"reproduced", "reversed"})}


def standard_error(lo: float, hi: float, n: int) -> float:
    """The SE behind a 95% t-interval [lo, hi] of a mean of ``n`` paired differences."""
    if n < 2 or not (math.isfinite(lo) and math.isfinite(hi)):
        return math.nan
    return (hi - lo) / (2 * stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1))


def welch(d: float, se_p: float, n_p: int, se_h: float, n_h: int) -> tuple[float, float]:
    """(p, ν): Welch's two-sided test of d = 0 for the difference of two independent means with
    standard errors ``se_p`` and ``se_h`` (scipy.stats.ttest_ind_from_stats, equal_var=False)."""
    se = math.hypot(se_p, se_h)
    if not math.isfinite(se):
        return math.nan, math.nan
    if se == 0:
        return (1.0 if d == 0 else 0.0), math.inf
    nu = se ** 4 / (se_p ** 4 / (n_p - 1) + se_h ** 4 / (n_h - 1))
    return float(2 * stats.t.sf(abs(d) / se, nu)), float(nu)


def bound(se_p: float, n_p: int, se_h: float, n_h: int, m: int) -> float:
    """The largest |d| rule 2 accepts for one of ``m`` claims."""
    se = math.hypot(se_p, se_h)
    if not math.isfinite(se) or se == 0:
        return se
    nu = se ** 4 / (se_p ** 4 / (n_p - 1) + se_h ** 4 / (n_h - 1))
    return float(stats.t.ppf(1 - FAMILY_ALPHA / (2 * m), nu) * se)


def compare_claims(published: pd.DataFrame, here: pd.DataFrame) -> pd.DataFrame:
    """One row per claim on either side (verdicts.csv frames): both sides' n, Δ, interval and
    verdict (suffixes ``_pub``, ``_here``; NaN where a side lacks the claim), d, its bound, the
    Welch p, and whether the claim is on both sides, has the same verdict, an opposite one, and
    passes rule 2 (None where it cannot be tested: fewer than 2 pairs on a side)."""
    cols = [*CLAIM_KEY, *VALUES]
    m = published[cols].merge(here[cols], on=CLAIM_KEY, how="outer", suffixes=("_pub", "_here"),
                              indicator=True)
    m["on_both"] = m.pop("_merge") == "both"
    n_claims = int(m["on_both"].sum())
    rows = []
    for r in m.to_dict("records"):
        rows.append({**r, **_judge(r, n_claims)} if r["on_both"] else
                    {**r, "d": np.nan, "bound": np.nan, "p_welch": np.nan, "same_verdict": False,
                     "opposite": False, "within": None})
    return pd.DataFrame(rows)


def _count(n) -> int:
    return int(n) if n == n and n is not None else 0  # an empty n (no pairs) is 0


def _judge(r: dict, m: int) -> dict:
    n_p, n_h = _count(r["n_pub"]), _count(r["n_here"])
    se_p = standard_error(float(r["lo_pub"]), float(r["hi_pub"]), n_p)
    se_h = standard_error(float(r["lo_here"]), float(r["hi_here"]), n_h)
    d = float(r["delta_here"]) - float(r["delta_pub"])
    b = bound(se_p, n_p, se_h, n_h, m)
    p, _ = welch(d, se_p, n_p, se_h, n_h)
    within = None if not math.isfinite(b) or not math.isfinite(d) else bool(abs(d) <= b)
    return {"d": d, "bound": b, "p_welch": p, "same_verdict": r["verdict_pub"] == r["verdict_here"],
            "opposite": frozenset({r["verdict_pub"], r["verdict_here"]}) in OPPOSITE,
            "within": within}


def consistent(claims: pd.DataFrame) -> bool | None:
    """The rule on the claims of :func:`compare_claims`; None when no claim is on both sides or
    none can be tested."""
    both = claims[claims["on_both"]]
    tested = both["within"].dropna()
    if both.empty or tested.empty:
        return None
    return not bool(both["opposite"].any()) and bool(tested.astype(bool).all())
