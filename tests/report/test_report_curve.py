"""The budget curve on a constructed study: Δ at every length, the "faster" statistic (the mean
over the shorter lengths, per seed), and B* with its plausible/established range."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import records, row, run, study_claims
from scipy import stats as sps

# test accuracy per seed of runs trained and annealed to 2, 4 and 8 epochs
FIXED = {2: [0.40, 0.42, 0.41, 0.43], 4: [0.50, 0.52, 0.51, 0.49], 8: [0.60, 0.61, 0.59, 0.62]}
COSINE = {2: [0.45, 0.46, 0.47, 0.44], 4: [0.60, 0.62, 0.60, 0.61], 8: [0.65, 0.67, 0.64, 0.66]}
MIN_EFFECT = 0.005


def _claims(lengths=(2, 4, 8), min_effect=MIN_EFFECT):
    rows = []
    for sched, table in (("constant", FIXED), ("cosine", COSINE)):
        for n in lengths:
            for s in range(4):
                rows.append(run(sched, 0.1, s, n, {n: (table[n][s], table[n][s])}))
    study = {"epochs": max(lengths), "curve_epochs": list(lengths), "min_effect": min_effect}
    return study_claims(records(rows), study)[1]


def _ci(x):
    x = np.asarray(x)
    return sps.ttest_1samp(x, 0).confidence_interval(0.95)


def test_delta_at_every_length_and_gap_to_the_full_fixed_lr():
    c = _claims()
    t = c.curves[("sgd", "tuned", "cosine")].set_index("length")
    for n in (2, 4, 8):
        d = np.subtract(COSINE[n], FIXED[n])
        g = np.subtract(COSINE[n], FIXED[8])
        assert t.loc[n, "delta"] == pytest.approx(d.mean())
        assert (t.loc[n, "delta_lo"], t.loc[n, "delta_hi"]) == (
            pytest.approx(_ci(d).low), pytest.approx(_ci(d).high))
        assert t.loc[n, "gap"] == pytest.approx(g.mean())
        assert (t.loc[n, "gap_lo"], t.loc[n, "gap_hi"]) == (
            pytest.approx(_ci(g).low), pytest.approx(_ci(g).high))


def test_faster_is_the_per_seed_mean_over_shorter_lengths():
    c = _claims()
    per_seed = (np.subtract(COSINE[2], FIXED[2]) + np.subtract(COSINE[4], FIXED[4])) / 2
    r = row(c, "cosine", "faster")
    assert r["n_pairs"] == 4 and r["mean"] == pytest.approx(per_seed.mean())
    assert r["p"] == pytest.approx(sps.ttest_1samp(per_seed, 0).pvalue, rel=1e-9)
    assert r["verdict"] == "reproduced"
    seeds = c.seeds[("sgd", "tuned", "faster", "cosine")]
    assert seeds["delta"].tolist() == pytest.approx(per_seed.tolist())
    better = row(c, "cosine", "better")  # "better" reads the full length only
    assert better["mean"] == pytest.approx(np.mean(np.subtract(COSINE[8], FIXED[8])))


def test_b_star_and_its_range():
    c = _claims()
    m = c.matches[("sgd", "tuned", "cosine")]
    # g_2 ≈ −0.15 (upper bound below −δ), g_4 mean +0.0025 ≥ −δ but its lower bound is below,
    # g_8 = +0.05 with a lower bound above −δ
    g4 = np.subtract(COSINE[4], FIXED[8])
    assert g4.mean() >= -MIN_EFFECT and _ci(g4).low < -MIN_EFFECT
    assert _ci(np.subtract(COSINE[2], FIXED[8])).high < -MIN_EFFECT
    assert (m["b_star"], m["plausible"], m["established"]) == (4, 4, 8)
    none = _claims(min_effect=None)  # δ = 0: g_4's mean +0.0025 still reaches it
    assert none.matches[("sgd", "tuned", "cosine")]["b_star"] == 4


def test_arm_curves_are_the_mean_test_value_per_length():
    a = _claims().arm_curves
    fixed = a[(a["schedule"] == "constant")].set_index("length")
    assert fixed.loc[4, "mean"] == pytest.approx(np.mean(FIXED[4]))
    assert fixed.loc[4, "hi"] == pytest.approx(_ci(FIXED[4]).high)


def test_no_shorter_length_means_no_curve_verdict():
    c = _claims(lengths=(8,))
    assert set(c.rows["claim"]) == {"better"}
    assert any("no verdict on “converges faster”" in n for n in c.notes)
