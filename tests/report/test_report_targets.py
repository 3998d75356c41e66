"""Time to target (second reading): censoring, the exact sign-flip test on whole epochs, Holm,
the share-reached curve and the target's declaration."""

from __future__ import annotations

import math

import pytest
from constructed import CONSTANT, DIRS, frame, study_claims

from annealbench_report import ReportError
from annealbench_report.analysis import targets


def test_runs_that_never_reach_the_target_are_censored_not_dropped():
    df = frame({"constant": CONSTANT})
    t = targets.times(df, {"metric": "accuracy", "value": 0.60125}, DIRS, 6).set_index("seed")
    assert len(t) == 4  # every run is there
    assert t["reached"].tolist() == [False, True, False, True]
    assert t.loc[1, "epochs"] == 6 and t.loc[1, "seconds"] == pytest.approx(6 * 1.1)
    assert math.isnan(t.loc[0, "epochs"]) and math.isnan(t.loc[0, "seconds"])
    assert t["restricted_epochs"].tolist() == [7, 6, 7, 6]  # censored: budget + 1
    assert t.loc[0, "end_epoch"] == 6


def test_epoch_zero_counts_and_direction_is_respected():
    df = frame({"constant": CONSTANT})
    t = targets.times(df, {"metric": "accuracy", "value": 0.2}, {"accuracy": "min"}, 6)
    assert t["epochs"].tolist() == [0, 0, 0, 0]  # 0.10 before training is already <= 0.2


def test_diverged_run_counts_as_not_reached():
    df = frame({"constant": CONSTANT}, diverged={("constant", 1): 5})
    t = targets.times(df, {"metric": "accuracy", "value": 0.45}, DIRS, 6).set_index("seed")
    assert t.loc[1, "status"] == "diverged" and not t.loc[1, "reached"]  # crossed 0.45 at epoch 3
    assert t.loc[1, "restricted_epochs"] == 7
    assert t.loc[0, "reached"] and t.loc[0, "epochs"] == 3


def test_reach_curve_is_the_share_of_all_runs():
    c = targets.reach_curve([2, 3, 3], n_censored=1, horizon=6)
    assert c["x"].tolist() == [0, 2, 3, 6]
    assert c["share"].tolist() == pytest.approx([0, 0.25, 0.75, 0.75])  # never 1: one censored
    none = targets.reach_curve([], n_censored=3, horizon=6)
    assert none["share"].tolist() == [0, 0]
    at0 = targets.reach_curve([0, 4], n_censored=0, horizon=6)
    assert at0["x"].tolist() == [0, 4, 6] and at0["share"].tolist() == [0.5, 1, 1]


def test_median_time_is_inf_when_half_never_reach():
    assert targets.median_time([2, 3, math.inf]) == 3
    assert math.isinf(targets.median_time([2, math.inf, math.inf]))
    assert math.isinf(targets.median_time([2, math.inf]))


def test_declared_target_forms_and_errors():
    val = {"accuracy", "loss"}
    assert targets.declared_target({}, "accuracy", val, "s.json") is None
    assert targets.declared_target({"target": None}, "accuracy", val, "s.json") is None
    t = targets.declared_target({"target": 0.7}, "accuracy", val, "s.json")
    assert (t["metric"], t["value"]) == ("accuracy", 0.7)
    t = targets.declared_target({"target": {"metric": "loss", "value": 1.2}}, "accuracy", val, "s")
    assert (t["metric"], t["value"]) == ("loss", 1.2)
    with pytest.raises(ReportError, match=r"^s\.json: target must be a finite number") as e:
        targets.declared_target({"target": "high"}, "accuracy", val, "s.json")
    assert "\n" not in str(e.value)
    with pytest.raises(ReportError, match="target must be"):
        targets.declared_target({"target": True}, "accuracy", val, "s.json")
    with pytest.raises(ReportError, match="'bpc' is not a validation metric.*allowed: accuracy, loss"):
        targets.declared_target({"target": {"metric": "bpc", "value": 2}}, "accuracy", val, "s")


def _reaching(epochs: list[int], length: int = 8) -> list[list[float]]:
    """Validation curves (epochs 0..length) that first reach 0.5 at the given epochs."""
    return [[0.6 if e >= k else 0.3 for e in range(length + 1)] for k in epochs]


def test_tied_whole_epochs_are_decided_and_equal_answers_match():
    """[5,5,5] vs [7,7,7] has no spread (t undefined); [5,5,6] vs [7,7,7] has some. The exact
    sign-flip test gives both the same defined answer: 2 / 2^3."""
    df = frame({"constant": _reaching([7, 7, 7]), "cosine": _reaching([5, 5, 5]),
                "step": _reaching([5, 5, 6])})
    sel, _ = study_claims(df, {"epochs": 8})
    j = sel.judged[(sel.judged["protocol"] == "tuned") & (sel.judged["length"] == 8)]
    r = targets.analyse(df, j, {"metric": "accuracy", "value": 0.5, "direction": "max"}, DIRS, 8,
                        "constant", ["constant", "cosine", "step"], "sgd")
    c = r.comparisons.set_index("schedule")
    # one sign convention on the page: > 0 = the schedule is better (here: 2 epochs sooner)
    assert c.loc["cosine", "mean"] == 2 and c.loc["step", "mean"] == pytest.approx(5 / 3)
    assert c.loc["cosine", "p"] == pytest.approx(0.25) and c.loc["step", "p"] == pytest.approx(0.25)
    assert c["p_holm"].tolist() == pytest.approx([0.5, 0.5])  # Holm over the two schedules
    arms = r.arms.set_index("schedule")
    assert arms.loc["cosine", "median_epochs"] == 5
    assert arms.loc["cosine", "median_coverage"] == pytest.approx(0.75)  # [min, max] of 3
    assert set(r.curves) == {(s, u) for s in ("constant", "cosine", "step")
                             for u in ("epochs", "seconds")}


def test_never_reached_counts_as_budget_plus_one_in_the_pairs():
    df = frame({"constant": _reaching([9, 9, 7]), "cosine": _reaching([5, 5, 5])})
    sel, _ = study_claims(df, {"epochs": 8})
    j = sel.judged[(sel.judged["protocol"] == "tuned") & (sel.judged["length"] == 8)]
    r = targets.analyse(df, j, {"metric": "accuracy", "value": 0.5, "direction": "max"}, DIRS, 8,
                        "constant", ["constant", "cosine"], "sgd")
    assert r.comparisons.iloc[0]["mean"] == pytest.approx(((9 - 5) * 2 + (7 - 5)) / 3)
    assert r.arms.set_index("schedule").loc["constant", "reached"] == 1
