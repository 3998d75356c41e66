"""Verdicts on constructed records whose answer is known, and the rule on its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import FIXED, full_length_study, row
from scipy import stats as sps

from annealbench_report.analysis import inference, verdicts
from annealbench_report.analysis.verdicts import INCONCLUSIVE, NO_DIFFERENCE, REPRODUCED, REVERSED, UNSTABLE


def test_clear_win_is_reproduced_and_matches_scipy():
    d = [0.05, 0.03, 0.06, 0.04]
    r = row(full_length_study({"cosine": d}), "cosine")
    assert r["mean"] == pytest.approx(np.mean(d))
    assert r["p"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue, rel=1e-9)
    assert r["test"] == "t" and r["verdict"] == REPRODUCED


def test_clear_loss_is_reversed():
    r = row(full_length_study({"step": [-0.05, -0.03, -0.06, -0.04]}), "step")
    assert r["mean"] < 0 and r["verdict"] == REVERSED


def test_significant_but_negligible_is_no_meaningful_difference():
    d = [0.0010, 0.0012, 0.0009, 0.0011]
    assert sps.ttest_1samp(d, 0).pvalue < 0.01  # would be "reproduced" without min_effect
    assert row(full_length_study({"cosine": d}), "cosine")["verdict"] == REPRODUCED
    r = row(full_length_study({"cosine": d}, min_effect=0.005), "cosine")
    assert r["verdict"] == NO_DIFFERENCE
    assert r["tost_p"] == pytest.approx(max(sps.ttest_1samp(d, -0.005, alternative="greater").pvalue,
                                            sps.ttest_1samp(d, 0.005, alternative="less").pvalue))


def test_equivalence_needs_a_declared_margin():
    d = [0.002, -0.001, 0.001, -0.002]
    assert row(full_length_study({"linear": d}), "linear")["verdict"] == INCONCLUSIVE
    assert row(full_length_study({"linear": d}, min_effect=0.01), "linear")["verdict"] == NO_DIFFERENCE
    # a wide spread cannot show equivalence: the 90% interval leaves the margin
    wide = [0.03, -0.02, 0.01, -0.025]
    assert row(full_length_study({"linear": wide}, min_effect=0.01), "linear")["verdict"] == INCONCLUSIVE


def test_identical_seeds_decided_by_the_sign_flip_test():
    """Every Δ the same: the t-test is undefined, the sign-flip test decides. 6 equal seeds reach
    2/2^6 < 0.05; 3 equal seeds cannot go below 0.25, whatever the size."""
    six = [0.60, 0.62, 0.58, 0.61, 0.59, 0.63]
    r = row(full_length_study({"cosine": [0.02] * 6}, fixed=six), "cosine")
    assert r["test"] == "sign-flip" and r["p"] == pytest.approx(2 / 64)
    assert r["verdict"] == REPRODUCED
    three = row(full_length_study({"cosine": [0.02] * 3}, fixed=FIXED[:3]), "cosine")
    assert three["p"] == pytest.approx(0.25) and three["verdict"] == INCONCLUSIVE


def test_divergence_alone_is_unstable_with_a_sign_test():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]}, diverged=[("cosine", 1), ("cosine", 2)])
    r = row(c, "cosine")
    assert r["verdict"] == UNSTABLE
    assert (r["own_diverged"], r["ref_diverged"], r["n_pairs"]) == (2, 0, 2)
    assert r["sign_p"] == pytest.approx(sps.binomtest(2, 2, 0.5).pvalue)  # 0.5: not decisive
    assert "schedule in 2 seed(s), fixed LR in 0" in r["reason"]


def test_seeds_where_both_diverged_are_dropped_and_listed():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]}, diverged=[("cosine", 3), ("constant", 3)])
    r = row(c, "cosine")
    assert r["both_diverged"] == [3] and r["n_pairs"] == 3
    assert r["verdict"] == REPRODUCED  # decided on the 3 remaining pairs, not unstable
    assert r["p"] == pytest.approx(sps.ttest_1samp([0.05, 0.03, 0.06], 0).pvalue)


def test_holm_runs_over_the_schedules_of_one_family():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04], "step": [-0.01, 0.02, 0.0, 0.01],
                "linear": [0.02] * 1 + [np.nan] * 3})
    fam = c.rows[(c.rows["claim"] == "better") & (c.rows["protocol"] == "tuned")]
    assert len(fam) == 3
    assert fam["p_holm"].tolist() == pytest.approx(inference.holm(fam["p"]).tolist(), nan_ok=True)
    lin = fam.set_index("schedule").loc["linear"]
    assert np.isnan(lin["p"]) and lin["verdict"] == INCONCLUSIVE and lin["n_pairs"] == 1
    # the undefined p counts as 1: cosine's p is multiplied by 3, not 2
    cos = fam.set_index("schedule").loc["cosine"]
    assert cos["p_holm"] == pytest.approx(min(1, 3 * cos["p"]))


def test_mde_per_family_from_the_pooled_sd():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04], "step": [-0.01, 0.02, 0.0, 0.01]})
    f = c.families[c.families["claim"] == "better"].iloc[0]
    sds = [np.std([0.05, 0.03, 0.06, 0.04], ddof=1), np.std([-0.01, 0.02, 0.0, 0.01], ddof=1)]
    assert f["sd"] == pytest.approx(np.sqrt(np.mean(np.square(sds))))
    assert (f["m"], f["n"]) == (2, 4)
    assert f["mde"] == pytest.approx(inference.mde(4, f["sd"], 2))


@pytest.mark.parametrize("args, expected", [
    ((4, 0.03, 0.01, float("nan"), 0, 0, float("nan"), None), REPRODUCED),
    ((4, -0.03, 0.01, float("nan"), 0, 0, float("nan"), None), REVERSED),
    ((4, 0.03, 0.20, float("nan"), 0, 0, float("nan"), None), INCONCLUSIVE),
    ((4, 0.03, float("nan"), float("nan"), 0, 0, float("nan"), None), INCONCLUSIVE),
    ((1, 0.03, float("nan"), float("nan"), 0, 0, float("nan"), None), INCONCLUSIVE),
    ((4, 0.03, 0.01, float("nan"), 1, 0, 1.0, None), UNSTABLE),  # divergence first
    ((4, 0.001, 0.01, 0.01, 0, 0, float("nan"), 0.005), NO_DIFFERENCE),  # before reproduced
    ((4, 0.001, 0.01, 0.01, 0, 0, float("nan"), None), REPRODUCED),  # no margin, no equivalence
    ((4, 0.001, 0.30, 0.20, 0, 0, float("nan"), 0.005), INCONCLUSIVE),
])
def test_decide_rule_order(args, expected):
    assert verdicts.decide(*args)[0] == expected


def test_seed_warnings_are_computed_not_hard_coded():
    w3 = verdicts.seed_warnings(3, 6, 3)
    t_crit = sps.t.ppf(1 - 0.05 / 12, 2)
    assert any(f"|t| > {t_crit:.3g}" in w for w in w3)
    assert any("cannot go below p = 2/2^3 = 0.25" in w for w in w3)
    assert any("needs at least 6 such seeds" in w for w in w3)  # 2 / 2^6 < 0.05 <= 2 / 2^5
    w10 = verdicts.seed_warnings(10, 1, 10)
    assert not any("sign-flip" in w for w in w10) and not any("needs at least" in w for w in w10)
    assert "no test can run" in verdicts.seed_warnings(1, 3, 1)[0]
