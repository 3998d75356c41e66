"""Intervals and tests over seeds, each with the coverage or size its label claims.

- Means and paired differences: the t-based 95% interval, mean ± t(0.975, n−1)·s/√n. (The
  percentile bootstrap is not used: with 3 seeds its "95%" interval is [min, max] and covers the
  mean about 75% of the time.)
- Paired comparison: the two-sided paired t-test; where every difference is the same (the t
  statistic divides by zero) the exact sign-flip permutation test over all 2^n sign patterns.
- Equivalence: TOST, the larger of the two one-sided t-test p-values against ±margin (exact
  one-sided sign-flip tests where every difference is the same).
- Holm's step-down correction; an undefined p counts as 1 and stays in the family.
- The sign (binomial) test for seeds where only one arm diverged.
- Minimum detectable effect of a two-sided paired t-test (noncentral t, 80% power).
- A distribution-free interval for a median, [x(k), x(n+1−k)], returned with its exact coverage.

Everything is deterministic: no resampling, so the same records give the same page.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import optimize
from scipy import stats as sps
from scipy.special import stdtrit  # inverse Student-t CDF (lighter than scipy.stats.t.ppf)

ALPHA = 0.05
CONFIDENCE = 0.95
POWER = 0.8
_ENUMERATE_UP_TO = 16  # 2^16 sign patterns at once; beyond, scipy enumerates in batches
_SCIPY_EXACT_UP_TO = 20  # 2^20 patterns; 2^25 (25 seeds) took over 24 GB in scipy
_CONVOLVE_UP_TO = 10_000_000  # sum of |differences| for the exact integer null


def _clean(x) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    return a[np.isfinite(a)]


def flat(a) -> bool:
    """No spread beyond float rounding (0.7 − 0.6 and 0.6 − 0.5 differ in the 17th digit)."""
    a = np.asarray(a, dtype=float)
    return bool(len(a) and np.ptp(a) <= 1e-9 * max(1.0, float(np.abs(a).max())))


def t_half_width(std, n, confidence: float = CONFIDENCE):
    """Half-width of the t-interval of a mean, t(1 − (1 − c)/2, n − 1)·std/√n (NaN where n < 2);
    vectorised, for the per-epoch curves."""
    n = np.asarray(n, dtype=float)
    std = np.asarray(std, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = stdtrit(np.where(n >= 2, n - 1, np.nan), 1 - (1 - confidence) / 2)
        return t * std / np.sqrt(n)


def t_interval(x, confidence: float = CONFIDENCE) -> dict:
    """n, mean, sample std (ddof=1) and the t-interval of the mean over the finite values of x.
    The interval is NaN for fewer than 2 values and the point itself when they do not vary."""
    a = _clean(x)
    n = len(a)
    mean = float(a.mean()) if n else float("nan")
    std = float(a.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and flat(a):
        std = 0.0
    half = float(t_half_width(std, n, confidence)) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "lo": mean - half, "hi": mean + half}


def sign_flip_p(d) -> float:
    """Two-sided sign-flip permutation p of the mean of paired differences ``d``: the share of
    the 2^n sign patterns whose |sum| is at least the observed one (1 when every d is 0).

    Exact in every case a verdict uses: all 2^n patterns up to n = 20 (enumerated); beyond,
    equal differences (2 / 2^n) and whole numbers such as epochs to a target (the null
    distribution of the sum by convolution, one difference at a time). Other differences past
    2^20 patterns get a Monte-Carlo estimate from 100,000 seeded random patterns."""
    d = _clean(d)
    n = len(d)
    if n == 0:
        return float("nan")
    obs = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if obs <= tol:
        return 1.0
    if n <= _ENUMERATE_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(np.abs(signs @ d) >= obs - tol))
    if n <= _SCIPY_EXACT_UP_TO:
        return _scipy_sign_flip(d, np.inf)
    if flat(d):  # only the two patterns of one sign reach n|d|
        return min(1.0, 2.0 ** (1 - n))
    ints = np.rint(d)
    if np.all(np.abs(d - ints) <= 1e-9) and np.abs(ints).sum() <= _CONVOLVE_UP_TO:
        return _integer_sign_flip(ints.astype(np.int64))
    return _scipy_sign_flip(d, 100_000)


def _scipy_sign_flip(d, n_resamples) -> float:
    res = sps.permutation_test((d,), lambda x, axis=-1: np.abs(np.sum(x, axis=axis)),
                               permutation_type="samples", n_resamples=n_resamples,
                               alternative="greater", vectorized=True, random_state=0)
    return float(res.pvalue)


def _integer_sign_flip(k: np.ndarray) -> float:
    """Exact p for whole-number differences: P(|sum of +-k_i| >= |sum k_i|) under fair signs."""
    total = int(np.abs(k).sum())
    prob = np.zeros(2 * total + 1)
    prob[total] = 1.0  # index = sum + total
    for v in np.abs(k):
        if v:
            prob = 0.5 * (np.roll(prob, v) + np.roll(prob, -v))  # no wrap: |sum| <= total
    sums = np.arange(-total, total + 1)
    return float(min(1.0, prob[np.abs(sums) >= abs(int(k.sum()))].sum()))


def min_sign_flip_p(n: int) -> float:
    """The smallest p the sign-flip test can return with n pairs (2 / 2^n; 1 for n <= 1)."""
    return min(1.0, 2.0 ** (1 - n)) if n >= 1 else 1.0


def paired_test(d) -> dict:
    """Mean paired difference with its 95% t-interval, and a two-sided p: the paired t-test, or
    the exact sign-flip test where all differences are equal (``test`` names the one used)."""
    out = t_interval(d)
    out.update(p=float("nan"), test="")
    a = _clean(d)
    if len(a) < 2:
        return out
    if flat(a):
        out.update(p=sign_flip_p(a), test="sign-flip")
    else:
        out.update(p=float(sps.ttest_1samp(a, 0.0).pvalue), test="t")
    return out


def one_sided_sign_flip_p(d) -> float:
    """One-sided exact sign-flip p of H0 mean ≤ 0 against mean > 0: the share of the 2^n sign
    patterns whose sum is at least the observed one. Closed form where every d is the same
    (only the all-plus pattern reaches n·d > 0: 1/2^n), enumerated up to n = 16, else scipy."""
    d = _clean(d)
    n = len(d)
    if n == 0:
        return float("nan")
    obs = float(d.sum())
    if flat(d):
        return 2.0 ** -n if obs > 0 else 1.0
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    if n <= _ENUMERATE_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        return float(np.mean(signs @ d >= obs - tol))
    res = sps.permutation_test((d,), lambda x, axis=-1: np.sum(x, axis=axis),
                               permutation_type="samples", alternative="greater",
                               n_resamples=np.inf if n <= _SCIPY_EXACT_UP_TO else 100_000,
                               vectorized=True, random_state=0)
    return float(res.pvalue)


def tost(d, margin) -> float:
    """Two one-sided tests of |mean difference| < margin: max of the p-values of H0 μ ≤ −margin
    and H0 μ ≥ +margin (equivalent: the 90% t-interval inside ±margin at p < 0.05). Where every
    difference is the same the t statistics are undefined, and the exact one-sided sign-flip
    tests of d + margin > 0 and margin − d > 0 decide: p = 1/2^n at best, never 0, so two equal
    seeds cannot show equivalence. NaN without a margin or for fewer than 2 pairs."""
    a = _clean(d)
    if margin is None or not math.isfinite(margin) or margin <= 0 or len(a) < 2:
        return float("nan")
    if flat(a):
        return max(one_sided_sign_flip_p(a + margin), one_sided_sign_flip_p(margin - a))
    n = len(a)
    se = float(a.std(ddof=1)) / math.sqrt(n)
    mean = float(a.mean())
    p_low = float(sps.t.sf((mean + margin) / se, n - 1))
    p_high = float(sps.t.cdf((mean - margin) / se, n - 1))
    return max(p_low, p_high)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values over one family. An undefined (NaN) p counts as 1: it
    stays in the family (so m is the number of hypotheses) and its own adjusted p stays NaN.

    Sorted ascending, the i-th smallest of m is multiplied by (m − i + 1); a running maximum keeps
    the adjusted values in the same order as the raw ones; capped at 1."""
    p = np.asarray(pvalues, dtype=float)
    undefined = ~np.isfinite(p)
    filled = np.where(undefined, 1.0, p)
    m = len(filled)
    out = np.full(p.shape, np.nan)
    if m == 0:
        return out
    order = np.argsort(filled, kind="mergesort")
    scaled = filled[order] * (m - np.arange(m))
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    out[undefined] = np.nan
    return out


def sign_test(k: int, n: int) -> float:
    """Exact two-sided binomial test of k successes in n trials at 1/2 (NaN for n = 0)."""
    if n <= 0:
        return float("nan")
    return float(sps.binomtest(int(k), int(n), 0.5).pvalue)


def t_critical(n: int, alpha: float) -> float:
    """|t| a two-sided paired t-test with n pairs needs to reach level alpha."""
    return float(sps.t.ppf(1 - alpha / 2, n - 1)) if n >= 2 else float("nan")


def power_paired_t(effect: float, n: int, sd: float, alpha: float, crit: float | None = None) -> float:
    """Power of the two-sided paired t-test at level alpha for a true mean difference ``effect``;
    ``crit``: a critical value of |t| to use instead of Student's (a permutation test's)."""
    df = n - 1
    tc = t_critical(n, alpha) if crit is None else crit
    nc = effect * math.sqrt(n) / sd
    # the lower tail as sf at −nc: scipy's nct.cdf far in the left tail returns NaN, not ~0
    return float(sps.nct.sf(tc, df, nc) + sps.nct.sf(tc, df, -nc))


def mde(n: int, sd: float, m: int = 1, alpha: float = ALPHA, power: float = POWER,
        crit: float | None = None) -> float:
    """Minimum detectable effect: the smallest true mean difference that a two-sided paired t-test
    at level alpha/m (Holm's first threshold for a family of m) detects with the given power, for
    n pairs whose differences have standard deviation sd. NaN where it cannot be estimated
    (n < 2, no spread). ``crit``: the |t| a permutation test needs at that level, in place of
    Student's (infinite: that test cannot reach the level, so the MDE is infinite)."""
    if n < 2 or not (sd is not None and math.isfinite(sd) and sd > 0):
        return float("nan")
    if crit is not None and not math.isfinite(crit):
        return float("inf")
    level = alpha / max(int(m), 1)

    def gap(nc):
        return power_paired_t(nc * sd / math.sqrt(n), n, sd, level, crit) - power

    hi = 1.0
    while gap(hi) < 0:
        hi *= 2
        if hi > 1e9:
            return float("inf")
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-12)) * sd / math.sqrt(n)


def median_interval(x, confidence: float = CONFIDENCE) -> dict:
    """Distribution-free interval for a median, [x(k), x(n+1−k)] of the sorted values, with the
    largest k whose exact coverage 1 − 2·P(Binomial(n, ½) < k) is at least ``confidence``; where
    even k = 1 ([min, max]) covers less, that interval and its true coverage. Infinite values (a
    censored time) sort last."""
    a = np.sort(np.asarray(x, dtype=float)[~np.isnan(np.asarray(x, dtype=float))])
    n = len(a)
    if n == 0:
        return {"lo": float("nan"), "hi": float("nan"), "coverage": float("nan"), "k": 0}

    def coverage(k):
        return 1.0 - 2.0 * float(sps.binom.cdf(k - 1, n, 0.5))

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return {"lo": float(a[k - 1]), "hi": float(a[n - k]), "coverage": coverage(k), "k": k}
