"""inference: bootstrap intervals, paired tests and Holm against hand-computed answers and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from annealbench_report import inference


def test_bootstrap_ci_matches_scipy_and_is_reproducible():
    x = np.random.default_rng(7).normal(0.7, 0.02, size=12)
    lo, hi = inference.bootstrap_ci(x)
    ref = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=inference.N_RESAMPLES,
                        rng=inference.SEED).confidence_interval
    assert (lo, hi) == (pytest.approx(ref.low, rel=1e-12), pytest.approx(ref.high, rel=1e-12))
    assert lo < x.mean() < hi
    assert inference.bootstrap_ci(x) == (lo, hi)  # fixed seed: same page on every build


def test_bootstrap_ci_small_and_degenerate_samples():
    assert all(math.isnan(v) for v in inference.bootstrap_ci([0.5]))
    assert all(math.isnan(v) for v in inference.bootstrap_ci([]))
    assert inference.bootstrap_ci([0.25, 0.25, 0.25]) == (0.25, 0.25)
    # percentile bootstrap of a mean of 3 values: every resample mean lies within [min, max]
    lo, hi = inference.bootstrap_ci([0.05, 0.08, 0.02])
    assert 0.02 <= lo < 0.05 < hi <= 0.08
    # NaN (a run without a final value) is ignored, not propagated
    assert inference.describe([0.6, np.nan, 0.62, 0.64])["n"] == 3


def test_describe_hand_computed():
    d = inference.describe([0.60, 0.62, 0.64])
    assert d["n"] == 3 and d["mean"] == pytest.approx(0.62) and d["std"] == pytest.approx(0.02)
    one = inference.describe([0.5])
    assert one["mean"] == 0.5 and math.isnan(one["std"]) and math.isnan(one["ci_lo"])


def test_paired_hand_computed():
    # differences 0.05, 0.08, 0.02: mean 0.05, sd 0.03, t = 0.05 / (0.03 / sqrt 3) = 2.88675
    p = inference.paired([0.65, 0.70, 0.66], [0.60, 0.62, 0.64])
    assert p["n_pairs"] == 3 and p["mean_diff"] == pytest.approx(0.05)
    t = 0.05 / (0.03 / math.sqrt(3))
    assert p["t_p"] == pytest.approx(2 * sps.t.sf(t, 2), rel=1e-9)
    assert p["t_p"] == pytest.approx(0.10197, abs=1e-5)
    assert p["w_p"] == pytest.approx(0.25)  # all 3 differences positive: 2 / 2^3
    assert not p["constant_diff"]


def test_paired_matches_scipy_on_generated_data():
    rng = np.random.default_rng(3)
    a = rng.normal(0.7, 0.02, 8)
    b = a - rng.normal(0.01, 0.01, 8)
    a[2] = np.nan  # a diverged run: its pair is dropped
    p = inference.paired(a, b)
    ok = np.isfinite(a)
    assert p["n_pairs"] == 7
    assert p["t_p"] == pytest.approx(sps.ttest_rel(a[ok], b[ok]).pvalue, rel=1e-12)
    assert p["w_p"] == pytest.approx(sps.wilcoxon(a[ok], b[ok]).pvalue, rel=1e-12)
    assert p["mean_diff"] == pytest.approx(np.mean(a[ok] - b[ok]), rel=1e-12)
    assert p["ci_lo"] < p["mean_diff"] < p["ci_hi"]


def test_paired_undefined_tests_are_nan():
    same = inference.paired([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert math.isnan(same["t_p"]) and math.isnan(same["w_p"]) and same["constant_diff"]
    shift = inference.paired([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])
    assert math.isnan(shift["t_p"]) and shift["constant_diff"]  # no spread: t is undefined
    one = inference.paired([0.6], [0.5])
    assert one["n_pairs"] == 1 and math.isnan(one["t_p"]) and math.isnan(one["ci_lo"])


def test_min_wilcoxon_p_is_two_over_two_to_the_n():
    for n in range(1, 9):
        assert inference.min_wilcoxon_p(n) == pytest.approx(2 / 2 ** n)


def test_holm_hand_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    adj = inference.holm([0.01, 0.04, 0.03, 0.005])
    assert adj.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adj = inference.holm([0.01, np.nan, 0.04])  # NaN stays out of the family (m = 2)
    assert adj[0] == pytest.approx(0.02) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.04)
    assert inference.holm([0.6, 0.7]).tolist() == [1.0, 1.0]  # capped at 1
    assert inference.holm([]).size == 0


def test_paired_median_difference_ci():
    lo, hi = inference.paired_median_diff_ci([2, 3, 2, 4], [5, 5, 6, 5])
    assert lo <= -3 + 0.5 and hi <= -1  # every resample: schedule median below the baseline's
    assert inference.paired_median_diff_ci([2, 2], [5, 5]) == (-3.0, -3.0)


def test_probability_of_improvement():
    assert inference.probability_of_improvement(2, 1, 1) == 2.5 / 4
    assert math.isnan(inference.probability_of_improvement(0, 0, 0))
