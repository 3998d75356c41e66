"""inference: every interval and test against scipy or an independent computation, and the
t-interval's coverage by simulation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from annealbench_report.analysis import inference


def test_t_interval_matches_scipy():
    x = np.random.default_rng(7).normal(0.7, 0.02, size=5)
    got = inference.t_interval(x)
    ref = sps.ttest_1samp(x, 0.0).confidence_interval(0.95)
    assert got["lo"] == pytest.approx(ref.low, rel=1e-12)
    assert got["hi"] == pytest.approx(ref.high, rel=1e-12)
    assert got["n"] == 5 and got["std"] == pytest.approx(x.std(ddof=1))
    lo, hi = sps.t.interval(0.95, 4, loc=x.mean(), scale=sps.sem(x))
    assert (got["lo"], got["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    assert float(inference.t_half_width(x.std(ddof=1), 5)) == pytest.approx(hi - x.mean())


def test_t_interval_small_and_flat_samples():
    one = inference.t_interval([0.5, np.nan])  # NaN (a run without a value) is ignored
    assert one["n"] == 1 and one["mean"] == 0.5 and math.isnan(one["lo"])
    flat = inference.t_interval([0.25, 0.25, 0.25])
    assert flat["std"] == 0.0 and flat["lo"] == flat["hi"] == 0.25


@pytest.mark.parametrize("n", [3, 5])
def test_t_interval_covers_95_percent(n):
    """2,000 normal samples with a fixed seed: the 95% t-interval covers the mean 94–96% of the
    time (the percentile bootstrap it replaces covered about 75% at n = 3)."""
    rng = np.random.default_rng(20240611 + n)
    hits = 0
    for _ in range(2000):
        t = inference.t_interval(rng.normal(1.0, 0.3, n))
        hits += t["lo"] <= 1.0 <= t["hi"]
    assert 0.94 <= hits / 2000 <= 0.96


def test_paired_test_is_the_paired_t_test():
    rng = np.random.default_rng(3)
    a = rng.normal(0.7, 0.02, 8)
    b = a - rng.normal(0.01, 0.01, 8)
    got = inference.paired_test(a - b)
    assert got["test"] == "t"
    assert got["p"] == pytest.approx(sps.ttest_rel(a, b).pvalue, rel=1e-12)
    ci = sps.ttest_rel(a, b).confidence_interval(0.95)
    assert (got["lo"], got["hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))


def _brute_sign_flip(d) -> float:
    d = list(d)
    obs = abs(sum(d))
    pats = list(itertools.product((1, -1), repeat=len(d)))
    return sum(abs(sum(s * x for s, x in zip(p, d))) >= obs - 1e-12 for p in pats) / len(pats)


@pytest.mark.parametrize("d", [[0.3, -0.1, 0.5, 0.2, 0.4], [2.0, 2.0, 2.0], [1.0, -1.0, 2.0],
                               [0.0, 0.0, 0.0], [-3.0, -1.0, -2.0, -2.0, 0.5, 1.5]])
def test_sign_flip_is_exact(d):
    got = inference.sign_flip_p(d)
    assert got == pytest.approx(_brute_sign_flip(d), abs=1e-12)
    if any(d):
        ref = sps.permutation_test((np.array(d),), np.mean, permutation_type="samples",
                                   n_resamples=np.inf, alternative="two-sided").pvalue
        assert got == pytest.approx(ref, abs=1e-12)


def test_sign_flip_beyond_the_enumeration_limit_uses_scipy():
    d = np.random.default_rng(1).normal(0.3, 1.0, 17)
    ref = sps.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf,
                               alternative="two-sided").pvalue
    assert inference.sign_flip_p(d) == pytest.approx(ref, rel=1e-9)


def test_integer_null_by_convolution_equals_enumeration():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 9, 12):
        k = rng.integers(-4, 5, n)
        assert inference._integer_sign_flip(k) == pytest.approx(_brute_sign_flip(list(k)),
                                                                 abs=1e-12)


def test_many_seeds_stay_exact_and_small():
    """25 seeds (the standard budget): 2^25 patterns are not enumerated (scipy needed > 24 GB);
    whole-number differences use the convolution, equal ones the closed form."""
    epochs = np.random.default_rng(4).integers(-3, 2, 25).astype(float)  # time-to-target Δ
    assert inference.sign_flip_p(epochs) == inference._integer_sign_flip(epochs.astype(int))
    assert 0 < inference.sign_flip_p(epochs) <= 1
    assert inference.sign_flip_p([0.02] * 25) == pytest.approx(2 / 2 ** 25)
    for n in (25, 40, 60):
        assert inference.min_sign_flip_p(n) == pytest.approx(2 / 2 ** n)
    d = np.random.default_rng(5).normal(1.0, 1.0, 25)  # past exact reach: a seeded Monte Carlo
    assert 0 < inference.sign_flip_p(d) < 0.01 and inference.sign_flip_p(d) == inference.sign_flip_p(d)
    t = sps.ttest_1samp(d, 0.0).pvalue
    flat_d = np.random.default_rng(6).normal(0.0, 1.0, 25)
    assert abs(inference.sign_flip_p(flat_d) - sps.ttest_1samp(flat_d, 0.0).pvalue) < 0.05 and t < 0.01


def test_tied_differences_are_decided_by_the_sign_flip_test():
    """All paired differences equal: t is undefined, the sign-flip test decides (2 / 2^n)."""
    got = inference.paired_test(np.array([5, 5, 5]) - np.array([7, 7, 7]))
    assert got["test"] == "sign-flip" and got["p"] == pytest.approx(0.25)
    six = inference.paired_test([0.02] * 6)
    assert six["p"] == pytest.approx(2 / 64) and six["p"] < 0.05
    for n in range(1, 9):
        assert inference.min_sign_flip_p(n) == pytest.approx(2 / 2 ** n)


def test_tost_is_the_larger_one_sided_t_test():
    d = np.array([0.001, -0.002, 0.0005, 0.0015, -0.0005])
    m = 0.005
    lower = sps.ttest_1samp(d, -m, alternative="greater").pvalue
    upper = sps.ttest_1samp(d, m, alternative="less").pvalue
    assert inference.tost(d, m) == pytest.approx(max(lower, upper), rel=1e-12)
    # equivalently, the 90% t-interval lies inside ±m exactly when p < 0.05
    ci = sps.ttest_1samp(d, 0).confidence_interval(0.90)
    assert (inference.tost(d, m) < 0.05) == (-m < ci.low and ci.high < m)
    assert inference.tost(d + 0.004, m) > 0.05  # shifted towards the margin: not equivalent
    assert math.isnan(inference.tost(d, None)) and math.isnan(inference.tost([0.1], m))


def test_tost_with_zero_spread_is_exact():
    """Equal differences: the exact one-sided sign-flip tests, 1/2^n at best, never 0 (issue 14,
    defect 4: p was 0, so 2 equal seeds 'showed' equivalence)."""
    assert inference.tost([0.001, 0.001, 0.001], 0.005) == pytest.approx(1 / 8)
    assert inference.tost([0.006, 0.006, 0.006], 0.005) == 1.0
    assert inference.tost([0.0, 0.0], 0.005) == pytest.approx(1 / 4)  # identical results
    assert inference.tost([0.002] * 6, 0.005) == pytest.approx(1 / 64)


def test_holm_by_hand_with_an_undefined_p_counted_as_one():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    adj = inference.holm([0.01, 0.04, 0.03, 0.005])
    assert adj.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # NaN stays in the family as p = 1: m = 3, so 0.01 -> 0.03 (not 0.02 as with m = 2)
    adj = inference.holm([0.01, np.nan, 0.04])
    assert adj[0] == pytest.approx(0.03) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.08)
    assert inference.holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # capped at 1
    assert inference.holm([]).size == 0


def test_sign_test_is_binomtest():
    assert inference.sign_test(3, 3) == pytest.approx(sps.binomtest(3, 3, 0.5).pvalue)
    assert inference.sign_test(2, 2) == pytest.approx(0.5)
    assert inference.sign_test(1, 7) == pytest.approx(sps.binomtest(1, 7).pvalue)
    assert math.isnan(inference.sign_test(0, 0))


def test_mde_has_the_stated_power_by_simulation():
    n, sd, m = 5, 0.01, 3
    mde = inference.mde(n, sd, m)
    assert inference.power_paired_t(mde, n, sd, 0.05 / m) == pytest.approx(0.8, abs=1e-9)
    rng = np.random.default_rng(11)
    sims = rng.normal(mde, sd, size=(4000, n))
    p = sps.ttest_1samp(sims, 0.0, axis=1).pvalue
    assert abs(np.mean(p < 0.05 / m) - 0.8) < 0.025
    assert inference.mde(n, sd, 1) < mde  # a larger family needs a larger effect
    assert math.isnan(inference.mde(1, sd)) and math.isnan(inference.mde(5, 0.0))


def test_median_interval_has_its_exact_coverage():
    five = inference.median_interval([3, 1, 2, 5, 4])
    assert (five["lo"], five["hi"], five["k"]) == (1, 5, 1)
    assert five["coverage"] == pytest.approx(1 - 2 * 0.5 ** 5)  # 93.75%: below 95%, and says so
    ten = inference.median_interval(range(10))
    assert ten["k"] == 2 and (ten["lo"], ten["hi"]) == (1, 8)
    assert ten["coverage"] == pytest.approx(1 - 2 * sps.binom.cdf(1, 10, 0.5))
    assert ten["coverage"] >= 0.95 > 1 - 2 * sps.binom.cdf(2, 10, 0.5)
    assert inference.median_interval([2, math.inf, 3])["hi"] == math.inf
