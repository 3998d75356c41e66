"""Intervals and tests over seeds: bootstrap CIs, paired tests, Holm's correction.

Everything here is deterministic: the bootstrap draws from a fixed seed, so rebuilding a report
from the same records gives the same page, byte for byte. The bootstrap is the percentile method:
with 3 to 5 seeds BCa's acceleration estimate is itself too noisy to trust, and the percentile
interval never leaves the range of the data.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
CONFIDENCE = 0.95
N_RESAMPLES = 9999
SEED = 12345


def _flat(a: np.ndarray) -> bool:
    """No spread beyond float rounding (0.7 − 0.6 and 0.6 − 0.5 differ in the 17th digit)."""
    return bool(np.ptp(a) <= 1e-9 * max(1.0, float(np.abs(a).max())))


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


def bootstrap_ci(x, statistic=np.mean) -> tuple[float, float]:
    """95% percentile bootstrap interval of ``statistic`` over the finite values of ``x``.

    NaN for fewer than 2 values (one seed says nothing about spread); a point interval when all
    values are equal (there is nothing to resample, and scipy warns on degenerate data)."""
    a = _clean(x)
    if len(a) < 2:
        return float("nan"), float("nan")
    if _flat(a):
        v = float(statistic(a))
        return v, v
    res = sps.bootstrap((a,), statistic, method="percentile", confidence_level=CONFIDENCE,
                        n_resamples=N_RESAMPLES, rng=SEED, vectorized=True)
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def describe(x) -> dict:
    """n, mean, sample std (ddof=1) and the bootstrap CI of the mean, over finite values."""
    a = _clean(x)
    lo, hi = bootstrap_ci(a)
    return {"n": int(len(a)), "mean": float(a.mean()) if len(a) else float("nan"),
            "std": float(a.std(ddof=1)) if len(a) > 1 else float("nan"), "ci_lo": lo, "ci_hi": hi}


def paired(a, b) -> dict:
    """Paired comparison of a − b over pairs where both are finite: mean difference with its
    bootstrap CI, paired t-test and Wilcoxon signed-rank p-values (two-sided).

    A p-value is NaN where its test is undefined: fewer than 2 pairs, or differences that do not
    vary (the t statistic divides by their spread; Wilcoxon has nothing to rank when all are 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    d = a - b
    n = len(d)
    lo, hi = bootstrap_ci(d)
    out = {"n_pairs": n, "mean_diff": float(d.mean()) if n else float("nan"), "ci_lo": lo,
           "ci_hi": hi, "t_p": float("nan"), "w_p": float("nan"),
           "constant_diff": bool(n >= 2 and _flat(d))}
    if n < 2:
        return out
    if not out["constant_diff"]:
        out["t_p"] = float(sps.ttest_rel(a, b).pvalue)
    if not (_flat(d) and abs(d[0]) <= 1e-9 * max(1.0, float(np.abs(a).max()))):
        with warnings.catch_warnings():  # exact distribution with ties/zeros warns, still valid
            warnings.simplefilter("ignore", UserWarning)
            out["w_p"] = float(sps.wilcoxon(a, b).pvalue)
    return out


def paired_median_diff_ci(a, b) -> tuple[float, float]:
    """95% percentile bootstrap interval of median(a) − median(b), resampling pairs (seeds)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = a[ok], b[ok]
    if len(a) < 2:
        return float("nan"), float("nan")
    if _flat(a) and _flat(b):
        v = float(a[0] - b[0])
        return v, v

    def diff(x, y, axis=-1):
        return np.median(x, axis=axis) - np.median(y, axis=axis)

    res = sps.bootstrap((a, b), diff, paired=True, method="percentile", vectorized=True,
                        confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES, rng=SEED)
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def min_wilcoxon_p(n: int) -> float:
    """The smallest two-sided p the Wilcoxon signed-rank test can return with ``n`` pairs (all
    differences of one sign, no ties): what scipy gives for 1..n, so nothing is hard-coded."""
    if n < 1:
        return float("nan")
    return float(sps.wilcoxon(np.arange(1.0, n + 1)).pvalue)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries are left out of the family and stay NaN.

    Sorted ascending, the i-th smallest of m is multiplied by (m − i + 1); a running maximum keeps
    the adjusted values in the same order as the raw ones; capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="mergesort")]
    scaled = p[order] * (m - np.arange(m))
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def probability_of_improvement(wins: int, ties: int, losses: int) -> float:
    """Share of paired seeds the schedule wins, a tie counting half (NaN with no pairs)."""
    n = wins + ties + losses
    return (wins + 0.5 * ties) / n if n else float("nan")
