"""Tidy records built from validation curves written out by hand, for tests whose answer is known.

``frame({"constant": [curve_seed0, curve_seed1, ...], "cosine": [...]})``: each curve lists the
validation accuracy after epochs 0..E. A run named in ``diverged`` ({(schedule, seed): epoch})
stops with a non-finite step loss in that epoch and has no final value.
"""

from __future__ import annotations

import pandas as pd

from annealbench_report import claims, stats
from annealbench_report.collect import COLUMNS, apply_dtypes

DIRS = {"accuracy": "max", "loss": "min"}
# constant: rises to 0.60 at epoch 6, plus a per-seed offset; its mean final value is 0.60125
OFFSETS = [0.0, 0.01, -0.01, 0.005]
CONSTANT = [[v + o for v in (0.10, 0.30, 0.40, 0.48, 0.54, 0.58, 0.60)] for o in OFFSETS]


def frame(curves: dict, diverged: dict | None = None, base_lr: float = 0.1) -> pd.DataFrame:
    diverged = diverged or {}
    rows = []
    for sched, per_seed in curves.items():
        for seed, curve in enumerate(per_seed):
            status = "diverged" if (sched, seed) in diverged else "completed"
            base = {"study": "t", "model": "m", "dataset": "d", "optimizer": "sgd", "schedule": sched,
                    "schedule_type": "constant" if sched == "constant" else "cosine",
                    "base_lr": base_lr, "epochs": len(curve) - 1, "seed": seed,
                    "run_key": f"{sched}-{seed}", "lr": base_lr,
                    "status": status}
            rows.append({**base, "epoch": 0, "step": 0, "split": "val", "metric": "accuracy",
                         "value": curve[0], "wall_time_s": 0.0})
            last = len(curve) - 1
            for e in range(1, last + 1):
                wall = e * (1.0 + 0.1 * seed)
                if diverged.get((sched, seed)) == e:
                    rows.append({**base, "epoch": e, "step": e, "split": "train",
                                 "metric": "step_loss", "value": float("nan"), "wall_time_s": wall})
                    break
                rows += [{**base, "epoch": e, "step": e, "split": "train", "metric": "step_loss",
                          "value": 1.0 / e, "wall_time_s": wall},
                         {**base, "epoch": e, "step": e, "split": "train", "metric": "loss",
                          "value": 1.0 / e, "wall_time_s": wall},
                         {**base, "epoch": e, "step": e, "split": "val", "metric": "accuracy",
                          "value": curve[e], "wall_time_s": wall}]
                if e == last:
                    rows.append({**base, "epoch": e, "step": e, "split": "test", "metric": "accuracy",
                                 "value": curve[e] - 0.01, "wall_time_s": wall})
    return apply_dtypes(pd.DataFrame(rows, columns=list(COLUMNS)))


def analyse(df: pd.DataFrame, study: dict | None = None) -> claims.OptimizerResult:
    study = {"epochs": 6, **(study or {})}
    finals = stats.run_finals(df, "accuracy", DIRS)
    summ = stats.summary(df, "accuracy", DIRS)
    order = sorted(set(df["schedule"].astype(str)), key=lambda s: (s != "constant", s))
    return claims.analyse(df, finals, summ, ["sgd"], order, "constant", study, "accuracy", DIRS,
                          "study.json")[0]


def verdict(result: claims.OptimizerResult, schedule: str, claim: str) -> pd.Series:
    c = result.comparisons
    return c[(c["schedule"] == schedule) & (c["claim"] == claim)].iloc[0]
