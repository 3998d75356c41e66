"""stats and frames: hand-computed numbers on a tiny constructed frame."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from annealbench_report.analysis import descriptive as stats
from annealbench_report.analysis import inference
from annealbench_report.records import frames
from annealbench_report.records.contract import COLUMNS, apply_dtypes

T_975_2 = 4.302652729749462  # t quantile, 0.975, 2 degrees of freedom (tables: 4.303)
DIRS = {"accuracy": "max", "loss": "min"}

# final (epoch 2) validation accuracy per seed
CONST = {0: 0.60, 1: 0.62, 2: 0.64}   # mean 0.62, std 0.02
COSINE = {0: 0.65, 1: 0.70, 2: 0.66}  # mean 0.67, std sqrt(0.0007)
COSINE_E1 = {0: 0.55, 1: 0.80, 2: 0.57}  # seed 1 peaks at epoch 1


def _rows(schedule, seed, e1, e2, status="completed"):
    base = {"study": "t", "model": "m", "dataset": "d", "optimizer": "sgd", "schedule": schedule,
            "schedule_type": schedule, "base_lr": 0.1, "epochs": 2, "seed": seed,
            "run_key": f"{schedule}{seed}", "lr": 0.1, "wall_time_s": 1.0, "status": status}
    rows = [{**base, "epoch": 0, "step": 0, "split": "val", "metric": "accuracy", "value": 0.1}]
    for s in (1, 2):
        rows.append({**base, "epoch": 1, "step": s, "split": "train", "metric": "step_loss",
                     "value": 1.0})
    rows += [{**base, "epoch": 1, "step": 2, "split": "train", "metric": "loss", "value": 1.0},
             {**base, "epoch": 1, "step": 2, "split": "val", "metric": "accuracy", "value": e1}]
    if e2 is None:  # diverged in epoch 2
        rows.append({**base, "epoch": 2, "step": 3, "split": "train", "metric": "step_loss",
                     "value": float("nan")})
        return rows
    rows += [{**base, "epoch": 2, "step": 4, "split": "train", "metric": "loss", "value": 0.5},
             {**base, "epoch": 2, "step": 4, "split": "val", "metric": "accuracy", "value": e2},
             {**base, "epoch": 2, "step": 4, "split": "test", "metric": "accuracy",
              "value": e2 - 0.01}]
    return rows


@pytest.fixture
def frame():
    rows = []
    for seed, v in CONST.items():
        rows += _rows("constant", seed, 0.5, v)
    for seed, v in COSINE.items():
        rows += _rows("cosine", seed, COSINE_E1[seed], v)
    rows += _rows("cosine", 3, 0.99, None, status="diverged")  # must not enter any mean
    return apply_dtypes(pd.DataFrame(rows, columns=list(COLUMNS)))


def test_direction_fallbacks():
    assert frames.direction("accuracy") == "max"
    assert frames.direction("bpc") == "min" and frames.direction("loss") == "min"
    assert frames.direction("loss", {"loss": "max"}) == "max"


def test_t_half_width_matches_t_table():
    assert inference.t_half_width(0.02, 3) == pytest.approx(0.0496827542, rel=1e-9)
    assert math.isnan(float(inference.t_half_width(0.02, 1)))


def test_seed_stats_mean_std_ci(frame):
    s = stats.seed_stats(frame)
    const = s[(s["schedule"] == "constant") & (s["epoch"] == 2) & (s["split"] == "val")].iloc[0]
    assert const["n"] == 3
    assert const["mean"] == pytest.approx(0.62)
    assert const["std"] == pytest.approx(0.02)
    assert const["ci95"] == pytest.approx(T_975_2 * 0.02 / math.sqrt(3))
    cos1 = s[(s["schedule"] == "cosine") & (s["epoch"] == 1) & (s["split"] == "val")].iloc[0]
    assert cos1["n"] == 3  # the diverged seed's 0.99 is not averaged in
    assert cos1["mean"] == pytest.approx((0.55 + 0.80 + 0.57) / 3)
    assert set(s["metric"]) == {"accuracy", "loss"}  # no per-step rows


def test_status_counts_and_diverged_step(frame):
    runs = frame.drop_duplicates("run_key")
    c = stats.status_counts(runs, ["schedule"]).set_index("schedule")
    assert c.loc["cosine", "n_runs"] == 4 and c.loc["cosine", "n_diverged"] == 1
    assert c.loc["cosine", "n_completed"] == 3 and c.loc["constant", "n_failed"] == 0
    assert frames.diverged_step(frame).to_dict() == {"cosine3": 3}


def test_runs_from_records(frame):
    r = frames.runs_from_records(frame).set_index("run_key")
    assert len(r) == 7 and r.loc["cosine3", "status"] == "diverged"
    assert r.loc["cosine3", "diverged_step"] == 3 and r.loc["cosine1", "epochs_done"] == 2


def test_runs_from_records_a_run_that_diverged_at_its_evaluation(frame):
    # the runner's records when an epoch's last update broke the model: finite step losses, then
    # the evaluation after them ends with the non-finite value
    rows = [r for r in frame.to_dict("records") if r["run_key"] == "cosine0" and r["epoch"] < 2]
    rows = [{**r, "run_key": "cosine4", "seed": 4, "status": "diverged"} for r in rows]
    rows.append({**rows[-1], "metric": "loss", "value": float("nan")})
    both = apply_dtypes(pd.concat([frame, pd.DataFrame(rows)], ignore_index=True))
    r = frames.runs_from_records(both).set_index("run_key")
    assert (r.loc["cosine4", "diverged_step"], r.loc["cosine4", "epochs_done"]) == (2, 0)
    assert (r.loc["cosine3", "diverged_step"], r.loc["cosine3", "epochs_done"]) == (3, 1)
    assert r.loc["cosine0", "epochs_done"] == 2


def test_baseline_arm_is_declared_else_the_fixed_lr_type_of_older_records():
    df = pd.DataFrame({"schedule": ["fixed", "cos", "lr0"],
                       "schedule_type": ["constant", "cosine", "constant"]})
    assert frames.baseline_arm(df) == "fixed"  # records without a declared baseline
    assert frames.baseline_arm(df.iloc[1:2]) is None
    assert frames.baseline_arm(df, {"baseline": "lr0"}) == "lr0"
    # the declared one wins even where its schedule type is not the fixed LR's
    assert frames.baseline_arm(df, {"baseline": "cos"}) == "cos"


def test_length_free_arms_are_the_baseline_and_the_anytime_arms():
    df = pd.DataFrame({"schedule": ["fixed", "cos", "lr0", "sf"],
                       "schedule_type": ["constant", "cosine", "constant", "constant"]})
    assert frames.length_free_arms(df) == {"fixed", "lr0", "sf"}
    study = {"baseline": "lr0", "arms": {"sf": {"role": "alternative", "anytime": True},
                                         "fixed": {"role": "anneal", "anytime": False}}}
    assert frames.length_free_arms(df, study) == {"lr0", "sf"}


def test_the_fixed_lr_type_is_named_in_one_place_only():
    """Analysis and pages read the declared baseline; the schedule-type name stands only in the
    fallback for records written before study.json declared it."""
    import annealbench_report
    src = Path(annealbench_report.__file__).parent
    hits = [f"{p.relative_to(src)}:{i}" for p in sorted(src.rglob("*.py"))
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if '"constant"' in line]
    assert len(hits) == 1 and hits[0].startswith("records/frames.py:"), hits
