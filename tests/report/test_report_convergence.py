"""Time to target: censoring, the share-reached curve and the target's declaration."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from constructed import CONSTANT, DIRS, frame

from annealbench_report import ReportError, convergence


def test_runs_that_never_reach_the_target_are_censored_not_dropped():
    df = frame({"constant": CONSTANT})
    t = convergence.times(df, {"metric": "accuracy", "value": 0.60125}, DIRS, 6).set_index("seed")
    assert len(t) == 4  # every run is there
    assert t["reached"].tolist() == [False, True, False, True]
    assert t.loc[1, "epochs"] == 6 and t.loc[1, "seconds"] == pytest.approx(6 * 1.1)
    assert math.isnan(t.loc[0, "epochs"]) and math.isnan(t.loc[0, "seconds"])
    assert t["restricted_epochs"].tolist() == [7, 6, 7, 6]  # censored: budget + 1
    assert t.loc[0, "end_epoch"] == 6


def test_epoch_zero_counts_and_direction_is_respected():
    df = frame({"constant": CONSTANT})
    t = convergence.times(df, {"metric": "accuracy", "value": 0.2}, {"accuracy": "min"}, 6)
    assert t["epochs"].tolist() == [0, 0, 0, 0]  # 0.10 before training is already <= 0.2


def test_diverged_run_counts_as_not_reached():
    df = frame({"constant": CONSTANT}, diverged={("constant", 1): 5})
    t = convergence.times(df, {"metric": "accuracy", "value": 0.45}, DIRS, 6).set_index("seed")
    assert t.loc[1, "status"] == "diverged" and not t.loc[1, "reached"]  # crossed 0.45 at epoch 3
    assert t.loc[1, "restricted_epochs"] == 7
    assert t.loc[0, "reached"] and t.loc[0, "epochs"] == 3


def test_reach_curve_is_the_share_of_all_runs():
    c = convergence.reach_curve([2, 3, 3], n_censored=1, horizon=6)
    assert c["x"].tolist() == [0, 2, 3, 6]
    assert c["share"].tolist() == pytest.approx([0, 0.25, 0.75, 0.75])  # never 1: one censored
    none = convergence.reach_curve([], n_censored=3, horizon=6)
    assert none["share"].tolist() == [0, 0]
    at0 = convergence.reach_curve([0, 4], n_censored=0, horizon=6)
    assert at0["x"].tolist() == [0, 4, 6] and at0["share"].tolist() == [0.5, 1, 1]


def test_median_time_is_inf_when_half_never_reach():
    assert convergence.median_time([2, 3, math.inf]) == 3
    assert math.isinf(convergence.median_time([2, math.inf, math.inf]))
    assert math.isinf(convergence.median_time([2, math.inf]))


def test_declared_target_forms_and_errors():
    val = {"accuracy", "loss"}
    assert convergence.declared_target({}, "accuracy", val, "s.json") is None
    assert convergence.declared_target({"target": None}, "accuracy", val, "s.json") is None
    t = convergence.declared_target({"target": 0.7}, "accuracy", val, "s.json")
    assert (t["metric"], t["value"]) == ("accuracy", 0.7)
    t = convergence.declared_target({"target": {"metric": "loss", "value": 1.2}}, "accuracy", val, "s")
    assert (t["metric"], t["value"]) == ("loss", 1.2)
    with pytest.raises(ReportError, match=r"^s\.json: target must be a finite number") as e:
        convergence.declared_target({"target": "high"}, "accuracy", val, "s.json")
    assert "\n" not in str(e.value)
    with pytest.raises(ReportError, match="target must be"):
        convergence.declared_target({"target": True}, "accuracy", val, "s.json")
    with pytest.raises(ReportError, match="'bpc' is not a validation metric.*allowed: accuracy, loss"):
        convergence.declared_target({"target": {"metric": "bpc", "value": 2}}, "accuracy", val, "s")


def test_default_target_is_the_fixed_lr_mean_final():
    t = convergence.default_target(pd.Series([0.6, 0.62, float("nan")]), "accuracy", "constant", 0.1)
    assert t["value"] == pytest.approx(0.61) and "2 seeds" in t["source"]
    assert convergence.default_target(pd.Series([float("nan")]), "accuracy", "constant", 0.1) is None
