"""The claim "recovers annealing's gain": each alternative (study.json arms, role "alternative")
against the best annealed arm at the full length, by TOST with margin min_effect; numbers checked
against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import records, run, study_claims
from scipy import stats

from annealbench_report.analysis import claim_defs, inference
from annealbench_report.analysis.claim_defs import recovers
from annealbench_report.analysis.units import units_for
from annealbench_report.pages import answer

FIXED = [0.60, 0.62, 0.58, 0.61, 0.59, 0.60]
GAIN = {"cosine": [0.05, 0.06, 0.055, 0.05, 0.058, 0.052], "step": [0.03, 0.031, 0.029, 0.03, 0.032, 0.03]}
# Δ against cosine (the best annealed arm)
VS_COSINE = {"ema": [0.001, -0.002, 0.0015, -0.001, 0.0005, 0.0],
             "wsd": [-0.03, -0.035, -0.028, -0.032, -0.031, -0.029],
             "sf": [0.02, -0.02, 0.015, -0.018, 0.01, -0.012]}
MARGIN = 0.01
ARMS = {"constant": {"role": "anneal"}, "cosine": {"role": "anneal"}, "step": {"role": "anneal"},
        **{a: {"role": "alternative", "optimizer": None, "evaluate": None, "anytime": False}
           for a in VS_COSINE}}


def _values() -> dict:
    v = {"constant": FIXED}
    v.update({s: [f + g for f, g in zip(FIXED, gs)] for s, gs in GAIN.items()})
    v.update({a: [c + d for c, d in zip(v["cosine"], ds)] for a, ds in VS_COSINE.items()})
    return v


def _claims(arms=ARMS, min_effect=MARGIN):
    rows = [run(s, 0.1, seed, 4, {4: (x, x)}) for s, xs in _values().items()
            for seed, x in enumerate(xs)]
    study = {"epochs": 4, "min_effect": min_effect, "baseline": "constant"}
    if arms is not None:
        study["arms"] = arms
    return study_claims(records(rows), study)[1]


def test_each_alternative_is_judged_against_the_best_annealed_arm_with_scipys_numbers():
    c = _claims()
    r = c.rows[c.rows["claim"] == "recovers"].set_index("schedule")
    assert sorted(r.index) == ["ema", "sf", "wsd"]
    assert set(r["reference"]) == {"cosine"}  # highest mean at the full length, not step
    v = _values()
    tost = {}
    for a in r.index:
        d = np.array(v[a]) - np.array(v["cosine"])
        low = stats.ttest_1samp(d, -MARGIN, alternative="greater").pvalue
        high = stats.ttest_1samp(d, MARGIN, alternative="less").pvalue
        tost[a] = max(low, high)
        assert r.loc[a, "tost_p"] == pytest.approx(tost[a], rel=1e-9)
        assert r.loc[a, "mean"] == pytest.approx(d.mean(), abs=1e-12)
        ci = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert (r.loc[a, "lo"], r.loc[a, "hi"]) == pytest.approx(ci, rel=1e-9)
        assert r.loc[a, "p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
    names = list(r.index)
    holm = inference.holm([tost[a] for a in names])
    assert list(r["tost_holm"]) == pytest.approx(list(holm), rel=1e-9)
    assert r.loc["ema", "verdict"] == "recovers" and r.loc["ema", "tost_holm"] < 0.05
    assert r.loc["wsd", "verdict"] == "falls short" and r.loc["wsd", "hi"] < -MARGIN
    assert r.loc["sf", "verdict"] == "inconclusive"


def test_alternatives_keep_their_row_against_the_fixed_lr():
    c = _claims()
    better = c.rows[c.rows["claim"] == "better"]
    assert {"ema", "wsd", "sf", "cosine", "step"} <= set(better["schedule"])
    assert set(better["reference"]) == {"constant"}


def test_the_answer_names_who_recovers_and_who_does_not():
    c = _claims()
    text = " ".join(s["text"] for s in answer.sentences(c, units_for("accuracy", [0.6])))
    assert "ema (Δ +0.0 points [−0.1, +0.1]) recovers annealing's gain: within ±1.0 points of " \
           "cosine, the best annealed arm" in text
    assert "wsd falls short of cosine by" in text
    assert "sf is inconclusive against cosine" in text


def test_without_a_margin_nothing_recovers():
    c = _claims(min_effect=None)
    r = c.rows[c.rows["claim"] == "recovers"]
    assert len(r) == 3 and set(r["verdict"]) == {"inconclusive"}
    assert r["reason"].str.contains("no min_effect").all()


def test_a_study_without_alternatives_has_no_such_claim():
    for arms in (None, {k: v for k, v in ARMS.items() if v["role"] == "anneal"}):
        c = _claims(arms=arms)
        assert "recovers" not in set(c.rows["claim"])
        assert not claim_defs.get("recovers").applies({"arms": arms} if arms else {}, list(_values()))


@pytest.mark.parametrize("n, hi, tost_holm, own, margin, want", [
    (6, 0.004, 0.01, 0, 0.01, "recovers"),
    (6, -0.02, 0.9, 0, 0.01, "falls short"),
    (6, -0.005, 0.2, 0, 0.01, "inconclusive"),
    (1, -0.5, float("nan"), 0, 0.01, "inconclusive"),
    (6, 0.004, 0.01, 1, 0.01, "inconclusive"),
    (6, -0.5, float("nan"), 0, None, "inconclusive"),
])
def test_decide_rules(n, hi, tost_holm, own, margin, want):
    assert recovers.decide(n, hi, tost_holm, own, margin)[0] == want
