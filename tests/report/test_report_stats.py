"""stats: hand-computed numbers on a tiny constructed frame."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from annealbench_report import stats
from annealbench_report.collect import COLUMNS, apply_dtypes

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
    assert stats.direction("accuracy") == "max"
    assert stats.direction("bpc") == "min" and stats.direction("loss") == "min"
    assert stats.direction("loss", {"loss": "max"}) == "max"


def test_ci95_matches_t_table():
    assert stats.ci95(0.02, 3) == pytest.approx(0.0496827542, rel=1e-9)
    assert math.isnan(float(stats.ci95(0.02, 1)))


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


def test_final_table_counts_diverged(frame):
    finals = stats.run_finals(frame, "accuracy", DIRS)
    assert finals.loc[finals["status"] == "diverged", "diverged_step"].tolist() == [3]
    assert finals.loc[finals["status"] == "diverged", "final_val"].isna().all()
    t = stats.final_table(finals).set_index("schedule")
    assert t.loc["cosine", "n_runs"] == 4 and t.loc["cosine", "n_diverged"] == 1
    assert t.loc["cosine", "n_completed"] == 3 and t.loc["cosine", "val_n"] == 3
    assert t.loc["cosine", "val_mean"] == pytest.approx(0.67)
    assert t.loc["cosine", "val_std"] == pytest.approx(math.sqrt(0.0007))
    assert t.loc["constant", "val_ci95"] == pytest.approx(0.0496827542)
    assert t.loc["constant", "test_mean"] == pytest.approx(0.61)
    assert t.loc["constant", "train_loss_mean"] == pytest.approx(0.5)
    assert t.loc["cosine", "best_val_epoch_mean"] == pytest.approx((2 + 1 + 2) / 3)


def test_best_epoch_respects_direction(frame):
    b = stats.best_epoch(frame, "accuracy", DIRS).set_index("run_key")
    assert b.loc["cosine1", "best_val_epoch"] == 1 and b.loc["cosine1", "best_val"] == 0.80
    b = stats.best_epoch(frame, "accuracy", {"accuracy": "min"}).set_index("run_key")
    assert b.loc["cosine1", "best_val_epoch"] == 0


def test_summary_difference_of_means(frame):
    s = stats.summary(frame, "accuracy", DIRS).set_index("schedule")
    assert s.loc["cosine", "delta_val"] == pytest.approx(0.05)
    assert s.loc["cosine", "delta_test"] == pytest.approx(0.05)
    assert s.loc["constant", "delta_val"] == 0
    assert s.loc["cosine", "n_base_lrs"] == 1 and s.loc["cosine", "reference"] == "constant"


def test_select_lr_prefers_stable_best():
    t = pd.DataFrame({"model": "m", "optimizer": "o", "schedule": "s", "schedule_type": "s",
                      "base_lr": [0.1, 0.3, 1.0], "val_mean": [0.5, 0.7, 0.9],
                      "val_n": [3, 3, 2], "n_diverged": [0, 0, 1]})
    assert stats.select_lr(t, DIRS, "accuracy")["base_lr"].tolist() == [0.3]
    assert stats.select_lr(t, {"accuracy": "min"}, "accuracy")["base_lr"].tolist() == [0.1]


def test_constant_arm():
    df = pd.DataFrame({"schedule": ["fixed", "cos"], "schedule_type": ["constant", "cosine"]})
    assert stats.constant_arm(df) == "fixed"
    assert stats.constant_arm(df.iloc[1:]) is None
