"""The selection-aware permutation test (in-study selection): its choice equals the protocol's,
its p equals scipy's sign-flip permutation test where there is nothing to select, and the page's
numbers come from it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from constructed import records, row, run, study_claims
from scipy import stats as sps

from annealbench_report.analysis import inference, protocol, selection_test
from annealbench_report.analysis.units import units_for
from annealbench_report.pages import answer


@pytest.mark.parametrize("maximize", [True, False])
def test_vectorised_choice_equals_the_protocols_choose_lr(maximize):
    rng = np.random.default_rng(5)
    lrs = np.array([0.01, 0.03, 0.1, 0.3])
    for _ in range(200):
        n = int(rng.integers(2, 7))
        sel = rng.integers(0, 4, size=(4, n)).astype(float)  # exact ties: to the smaller LR
        sel[rng.random((4, n)) < 0.15] = np.nan
        div = np.isnan(sel) & (rng.random((4, n)) < 0.5)
        got = selection_test.choose(sel, div, maximize)
        for s in range(n):
            others = np.ones(n, bool)
            others[s] = False
            flat_lr = np.repeat(lrs, n).reshape(4, n)[:, others].ravel()
            want = protocol.choose_lr(flat_lr, sel[:, others].ravel(), div[:, others].ravel(),
                                      maximize)
            assert lrs[got[s]] == want


def _abs_t(x, axis=-1):
    return np.abs(sps.ttest_1samp(x, 0.0, axis=axis).statistic)


@pytest.mark.parametrize("n", [4, 7, 9])
def test_without_selection_it_is_scipys_sign_flip_test_of_abs_t(n):
    """One LR per arm: swapping the arms of a seed flips its Δ, so the test is the sign-flip
    permutation test of |t| (known answer: scipy.stats.permutation_test, all 2^n patterns)."""
    rng = np.random.default_rng(n)
    fixed, d = rng.normal(0.6, 0.02, n), rng.normal(0.01, 0.02, n)
    val = np.stack([fixed + d, fixed])[:, None, None, :]  # (2 arms, 1 length, 1 LR, n)
    got = selection_test.test(val, np.zeros(val.shape, bool), val, True, 1.0)
    ref = sps.permutation_test((d,), _abs_t, permutation_type="samples", n_resamples=np.inf,
                               alternative="greater", vectorized=True)
    assert got["p"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert got["n_patterns"] == 2 ** n and got["exact"]
    assert got["mean"] == pytest.approx(d.mean()) and got["std"] == pytest.approx(d.std(ddof=1))
    # the interval: mean ± c·s/√n, c the 95% critical |t| of the sign flips of d − mean
    c = selection_test._upper(np.sort(_abs_t(
        np.array([np.where(z, -1, 1) for z in selection_test.patterns(n)[0]]) * (d - d.mean()))),
        0.05)
    half = c * d.std(ddof=1) / math.sqrt(n) if math.isfinite(c) else math.inf
    assert (got["lo"], got["hi"]) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))


def test_five_seeds_cannot_reach_five_percent_and_the_mde_says_so():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 1, 3, 5))
    got = selection_test.test(x, np.zeros(x.shape, bool), x + 0.01, True, 1.0)
    assert got["p"] >= 2 / 32 and math.isinf(got["crit"][0.05])
    assert math.isinf(inference.mde(5, 1.0, 1, crit=got["crit"][0.05]))


def test_many_seeds_use_a_stated_seeded_monte_carlo():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 1, 3, 14))
    a = selection_test.test(x, np.zeros(x.shape, bool), x, True, 1.0)
    b = selection_test.test(x, np.zeros(x.shape, bool), x, True, 1.0)
    assert not a["exact"] and a["n_patterns"] == selection_test.N_RANDOM + 1
    assert a["p"] == b["p"] and a["p"] >= 1 / (selection_test.N_RANDOM + 1)


# in-study: 6 seeds, 3 LRs per arm; validation = test + seed-specific noise
def _in_study(shift=0.03):
    rng = np.random.default_rng(11)
    rows = []
    for sched, q in (("constant", 0.0), ("cosine", shift)):
        for lr, g in ((0.01, -0.02), (0.03, 0.0), (0.1, -0.01)):
            for s in range(6):
                t = 0.6 + q + g + rng.normal(0, 0.01)
                rows.append(run(sched, lr, s, 4, {4: (t + rng.normal(0, 0.01), t)}))
    return records(rows)


def test_the_page_row_is_the_selection_aware_test_of_the_same_deltas():
    sel, c = study_claims(_in_study(), {"epochs": 4})
    r = row(c, "cosine")
    arrays = selection_test.arrays(sel.points, "sgd", "cosine", "constant", [4])
    assert arrays[3] == list(range(6))
    d0 = selection_test.deltas(*arrays[:3][:1], arrays[1], arrays[2], True, 1.0)
    seeds = c.seeds[("sgd", "tuned", "better", "cosine")]
    assert seeds["delta"].to_numpy() == pytest.approx(d0)  # same leave-one-seed-out choices
    t = selection_test.test(*arrays[:3], True, 1.0)
    assert r["test"] == selection_test.LABEL
    assert (r["p"], r["lo"], r["hi"]) == (pytest.approx(t["p"]), pytest.approx(t["lo"]),
                                          pytest.approx(t["hi"]))
    assert r["p"] != pytest.approx(sps.ttest_1samp(d0, 0).pvalue)
    fam = c.families.iloc[0]
    assert fam["mde"] == pytest.approx(inference.mde(6, fam["sd"], 1, crit=t["crit"][0.05]))


def test_five_in_study_seeds_say_no_schedule_can_be_decided():
    df = _in_study(shift=0.2)
    _, c = study_claims(df[df["seed"] < 5], {"epochs": 4})
    r = row(c, "cosine")
    assert r["mean"] > 0.15 and r["p"] >= 2 / 32 and r["verdict"] == "inconclusive"
    fam = c.families.iloc[0]
    assert math.isinf(fam["mde"])
    assert any("cannot go below p = 2/2^5 = 0.0625" in w for w in fam["warnings"])
    text = " ".join(s["text"] for s in answer.sentences(c, units_for("accuracy", [0.5])))
    assert "no MDE: with 5 seeds the selection-aware test cannot reach Holm's threshold" in text
