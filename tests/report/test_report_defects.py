"""Issue 14, defects 3–6, each on constructed records whose answer is known: a fixed-LR divergence
marks only the fixed LR; equal differences never pass TOST with p = 0; a significant effect below
min_effect has its own word; "faster" is worded as what it tests; one sign convention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from constructed import full_length_study, records, row, run, study_claims
from scipy import stats as sps

from annealbench_report.analysis import inference
from annealbench_report.analysis.units import units_for
from annealbench_report.analysis.verdicts import (
    INCONCLUSIVE,
    NO_DIFFERENCE,
    REPRODUCED,
    REPRODUCED_SMALL,
    REVERSED_SMALL,
    UNSTABLE,
)
from annealbench_report.pages import answer

POINTS = units_for("accuracy", [0.5, 0.7])
WIN = [0.05, 0.03, 0.06, 0.04, 0.05]
FIVE = [0.60, 0.62, 0.58, 0.61, 0.59]


def _text(c) -> str:
    return " ".join(s["text"] for s in answer.sentences(c, POINTS))


def test_a_fixed_lr_divergence_does_not_make_the_schedule_unstable():
    c = full_length_study({"cosine": WIN, "step": WIN[::-1]}, diverged=[("constant", 1)],
                          fixed=FIVE)
    for s in ("cosine", "step"):
        r = row(c, s)
        assert r["verdict"] == REPRODUCED, r["reason"]
        assert (r["n_pairs"], r["ref_diverged"], r["own_diverged"]) == (4, 1, 0)
        assert "fixed LR diverged alone in 1 seed(s), left out" in r["reason"]
    # the schedule's own divergence still marks the schedule
    c = full_length_study({"cosine": WIN}, diverged=[("cosine", 1)], fixed=FIVE)
    assert row(c, "cosine")["verdict"] == UNSTABLE


def test_one_sided_sign_flip_matches_scipy_and_enumeration():
    rng = np.random.default_rng(3)
    for n in (3, 6, 9):
        d = rng.normal(0.3, 1.0, n)
        ref = sps.permutation_test((d,), lambda x, axis=-1: np.sum(x, axis=axis),
                                   permutation_type="samples", alternative="greater",
                                   n_resamples=np.inf).pvalue
        assert inference.one_sided_sign_flip_p(d) == pytest.approx(ref, rel=1e-12)
    for n in (2, 5):  # equal values: only the all-plus pattern reaches the sum
        patterns = np.array(list(itertools.product((1, -1), repeat=n)))
        assert inference.one_sided_sign_flip_p([0.4] * n) == pytest.approx(
            np.mean(patterns.sum(1) >= n)) == pytest.approx(2.0 ** -n)


def test_equal_differences_go_through_the_exact_test_never_p_zero():
    two = full_length_study({"cosine": [0.005] * 2}, min_effect=0.01, fixed=FIVE[:2])
    r = row(two, "cosine")
    assert r["tost_p"] == pytest.approx(0.25)  # 1/2^2, was 0
    assert r["verdict"] == INCONCLUSIVE
    five = full_length_study({"cosine": [0.005] * 5}, min_effect=0.01, fixed=FIVE)
    r = row(five, "cosine")
    assert r["tost_p"] == pytest.approx(1 / 32) and r["verdict"] == NO_DIFFERENCE


def test_significant_but_below_min_effect_has_its_own_word_everywhere():
    d = [0.004, 0.012, 0.006, 0.011, 0.007]  # mean 0.008: the example
    c = full_length_study({"cosine": d, "step": [-x for x in d]}, min_effect=0.01, fixed=FIVE)
    up, down = row(c, "cosine"), row(c, "step")
    assert up["p_holm"] < 0.05 and up["tost_holm"] >= 0.05
    assert up["verdict"] == REPRODUCED_SMALL and down["verdict"] == REVERSED_SMALL
    text = _text(c)
    assert "(reproduced, below the effect of interest)" in text
    assert "(reversed, below the effect of interest)" in text
    # at or above min_effect it is plain "reproduced"
    big = full_length_study({"cosine": WIN}, min_effect=0.01, fixed=FIVE)
    assert row(big, "cosine")["verdict"] == REPRODUCED


# test accuracy per seed at lengths 3, 6 and 10: cosine far ahead at 6, behind at 3 in every seed
FIX = {3: [0.50, 0.52, 0.51, 0.49, 0.50], 6: [0.55, 0.56, 0.54, 0.55, 0.57],
       10: [0.60, 0.61, 0.59, 0.62, 0.60]}
COS = {3: [0.48, 0.50, 0.49, 0.47, 0.48], 6: [0.63, 0.65, 0.62, 0.64, 0.64],
       10: [0.66, 0.67, 0.65, 0.66, 0.67]}


def _curve_claims(cos=COS):
    rows = [run(s, 0.1, seed, n, {n: (t[n][seed], t[n][seed])})
            for s, t in (("constant", FIX), ("cosine", cos)) for n in (3, 6, 10) for seed in range(5)]
    return study_claims(records(rows), {"epochs": 10, "curve_epochs": [3, 6, 10],
                                        "min_effect": 0.005})[1]


def test_faster_is_never_called_ahead_while_a_shorter_length_is_behind():
    c = _curve_claims()
    r = row(c, "cosine", "faster")
    assert r["verdict"] == REPRODUCED  # the average over 3 and 6 is positive
    t = c.curves[("sgd", "tuned", "cosine")].set_index("length")
    assert t.loc[3, "delta_hi"] < 0  # behind at 3 epochs in every seed
    text = _text(c)
    faster = [s for s in text.split("sgd, ") if s.startswith("ahead at shorter budgets")][0]
    assert "is ahead of" not in faster and "matches its" not in faster
    assert "but it is behind the fixed LR at 3 epochs by 2.0 points" in faster


def test_b_star_appears_with_its_interval_or_not_at_all():
    ahead = {3: [v + 0.03 for v in FIX[3]], 10: COS[10]}
    # at 6 epochs, about the fixed LR's 10-epoch level: B* = 6 is a point estimate only
    ahead[6] = [0.60, 0.62, 0.61, 0.59, 0.61]
    c = _curve_claims(ahead)
    m = c.matches[("sgd", "tuned", "cosine")]
    assert m["b_star"] == 6 and m["established"] == 10
    assert row(c, "cosine", "faster")["verdict"] == REPRODUCED
    assert "matches its" not in _text(c)
    # clearly above it at 6 epochs in every seed: established there, stated with its interval
    ahead[6] = [0.64, 0.65, 0.64, 0.66, 0.65]
    c = _curve_claims(ahead)
    m = c.matches[("sgd", "tuned", "cosine")]
    t = c.curves[("sgd", "tuned", "cosine")].set_index("length")
    assert m["established"] == 6
    assert (f"matches its 10-epoch result from 6 epochs on (gap there "
            f"{POINTS.effect(t.loc[6, 'gap'], True)} "
            f"{POINTS.interval(t.loc[6, 'gap_lo'], t.loc[6, 'gap_hi'], True)})") in _text(c)
