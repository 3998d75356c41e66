"""The answer sentences: generated from the verdicts and their numbers, in the metric's units,
and honest when nothing is decided."""

from __future__ import annotations

import numpy as np
from constructed import full_length_study, row

from annealbench_report.analysis.units import Units, units_for
from annealbench_report.pages import answer

POINTS = units_for("accuracy", [0.5, 0.7])


def _text(c, units=POINTS) -> str:
    return " ".join(s["text"] for s in answer.sentences(c, units))


def test_decided_schedules_carry_verdict_delta_interval_and_length():
    win, loss = [0.05, 0.03, 0.06, 0.04], [-0.05, -0.03, -0.06, -0.04]
    c = full_length_study({"cosine": win, "step": loss})
    text = _text(c)
    assert text.startswith("sgd, better final result (at 4 epochs): ")
    cos, step = row(c, "cosine"), row(c, "step")
    assert (f"cosine beats the fixed LR by {100 * np.mean(win):.1f} points "
            f"[{100 * cos['lo']:.1f}, {100 * cos['hi']:.1f}] (reproduced)") in text
    assert (f"step loses to the fixed LR by {-100 * np.mean(loss):.1f} points "
            f"[{-100 * step['hi']:.1f}, {-100 * step['lo']:.1f}] (reversed)") in text
    assert "With the base LR tuned per schedule" not in text  # one LR: nothing was tuned
    assert "At the single base LR 0.1 of the grid (nothing tuned)" in text


def test_nothing_decided_says_what_the_study_can_detect():
    c = full_length_study({"cosine": [0.02, -0.03, 0.01, 0.0], "step": [-0.01, 0.02, -0.02, 0.0]})
    fam = c.families.iloc[0]
    expected = (f"no schedule is told apart from the fixed LR: all are inconclusive "
                f"(MDE {100 * fam['mde']:.1f} points at 4 seeds)")
    assert expected in _text(c)
    assert "beats" not in _text(c) and "loses" not in _text(c)


def test_equivalence_and_instability_are_named():
    c = full_length_study({"linear": [0.001, -0.001, 0.0005, 0.0]}, min_effect=0.005)
    assert "linear (+0.0 points [" in _text(c) and "within ±0.5 points of the fixed LR" in _text(c)
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]}, diverged=[("cosine", 0)])
    assert "cosine is unstable (diverged alone in 1 seed(s), the fixed LR in 0)" in _text(c)


def test_no_shorter_length_says_there_is_no_faster_verdict():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]})
    assert ("sgd, ahead at shorter budgets (“converges faster”): No verdict: the study trains no "
            "budget-curve length") in _text(c)


def test_units():
    assert POINTS.effect(0.018) == "1.8 points" and POINTS.interval(-0.001, 0.02, True) == "[−0.1, +2.0]"
    bpc = units_for("bpc", [1.5, 2.0])
    assert bpc == Units("bpc", 1.0, "bpc", 3) and bpc.effect(0.0312) == "0.031 bpc"
    assert units_for("accuracy", [0.5, 75.0]).unit == "accuracy"  # not a fraction: as is
    assert POINTS.num(-0.0001, True) == "+0.0"  # no "−0.0"
    assert POINTS.num(float("nan")) == "–"


def test_one_seed_says_no_test_is_possible():
    c = full_length_study({"cosine": [0.05]}, fixed=[0.6])
    assert "no test is possible yet: 1 paired seed, a test needs 2" in _text(c)
