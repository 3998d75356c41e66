"""Tidy records written out by hand, for tests whose answer is known.

- ``frame({"constant": [curve_seed0, ...], "cosine": [...]})``: full-length runs whose validation
  accuracy after epochs 0..E is the given curve (test = validation − 0.01 at the last epoch);
  ``diverged`` ({(schedule, seed): epoch}) stops a run with a non-finite step loss there.
- ``run(...)``/``records([...])``: runs with explicit validation and test values at given epochs,
  for the protocol and budget-curve tests.
- ``study_claims(df, study)``: the protocol and claims layers applied as a study page would.
- ``tuning_entry(choices, seeds)``: study.json's ``tuning`` entry, as the runner copies it from a
  tuning file (contract item 4 of issue 14).
"""

from __future__ import annotations

import pandas as pd

from annealbench_report.analysis import claims, protocol
from annealbench_report.records import frames
from annealbench_report.records.contract import COLUMNS, apply_dtypes

FIXED = [0.60, 0.62, 0.58, 0.61]
DIRS = {"accuracy": "max", "loss": "min"}
# constant: rises to 0.60 at epoch 6, plus a per-seed offset
OFFSETS = [0.0, 0.01, -0.01, 0.005]
CONSTANT = [[v + o for v in (0.10, 0.30, 0.40, 0.48, 0.54, 0.58, 0.60)] for o in OFFSETS]


def _base(sched, seed, base_lr, length, status, optimizer="sgd", stype=None) -> dict:
    return {"study": "t", "model": "m", "dataset": "d", "optimizer": optimizer, "schedule": sched,
            "schedule_type": stype or ("constant" if sched == "constant" else "cosine"),
            "base_lr": base_lr, "epochs": length, "seed": seed,
            "run_key": f"{optimizer}-{sched}-{base_lr:g}-{length}-{seed}", "lr": base_lr,
            "status": status}


def frame(curves: dict, diverged: dict | None = None, base_lr: float = 0.1) -> pd.DataFrame:
    diverged = diverged or {}
    rows = []
    for sched, per_seed in curves.items():
        for seed, curve in enumerate(per_seed):
            status = "diverged" if (sched, seed) in diverged else "completed"
            base = _base(sched, seed, base_lr, len(curve) - 1, status)
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


def run(sched: str, lr: float, seed: int, length: int, values: dict, status: str = "completed",
        optimizer: str = "sgd", stype: str | None = None) -> list[dict]:
    """Rows of one run: ``values`` = {epoch: (validation, test or None)}; a diverged run gets a
    non-finite step loss after its last value."""
    base = _base(sched, seed, lr, length, status, optimizer, stype)
    rows = [{**base, "epoch": 0, "step": 0, "split": "val", "metric": "accuracy", "value": 0.1,
             "wall_time_s": 0.0}]
    for e, (val, test) in sorted(values.items()):
        rows += [{**base, "epoch": e, "step": e, "split": "train", "metric": "step_loss",
                  "value": 1.0, "wall_time_s": float(e)},
                 {**base, "epoch": e, "step": e, "split": "val", "metric": "accuracy", "value": val,
                  "wall_time_s": float(e)}]
        if test is not None:
            rows.append({**base, "epoch": e, "step": e, "split": "test", "metric": "accuracy",
                         "value": test, "wall_time_s": float(e)})
    if status == "diverged":
        e = max(values, default=0) + 1
        rows.append({**base, "epoch": e, "step": e, "split": "train", "metric": "step_loss",
                     "value": float("nan"), "wall_time_s": float(e)})
    return rows


def records(runs: list[list[dict]]) -> pd.DataFrame:
    return apply_dtypes(pd.DataFrame([r for rs in runs for r in rs], columns=list(COLUMNS)))


def study_claims(df: pd.DataFrame, study: dict, primary: str = "accuracy"):
    """(selection, claims) of constructed records, as the study page computes them."""
    lengths = protocol.curve_lengths(study, df)
    sel = protocol.select(protocol.points(df, primary, lengths, frames.length_free_arms(df, study)),
                          study, primary, DIRS)
    fixed = frames.baseline_arm(df, study)
    order = sorted(set(df["schedule"].astype(str)), key=lambda s: (s != fixed, s))
    opts = sorted(set(df["optimizer"].astype(str)))
    c = claims.analyse(sel, study, fixed, order, opts, lengths, frames.sign(primary, DIRS),
                       study.get("min_effect"))
    return sel, c


def row(c, schedule: str, claim: str = "better", protocol_: str = "tuned",
        optimizer: str = "sgd") -> pd.Series:
    r = c.rows
    return r[(r["schedule"] == schedule) & (r["claim"] == claim) & (r["protocol"] == protocol_)
             & (r["optimizer"] == optimizer)].iloc[0]


def full_length_study(deltas: dict, min_effect=None, diverged=(), fixed=FIXED):
    """Full-length runs only: the fixed LR's test value per seed, each schedule's = fixed + Δ."""
    rows = [run("constant", 0.1, s, 4, {} if ("constant", s) in diverged else {4: (v, v)},
                status="diverged" if ("constant", s) in diverged else "completed")
            for s, v in enumerate(fixed)]
    for sched, ds in deltas.items():
        for s, d in enumerate(ds):
            bad = (sched, s) in diverged
            rows.append(run(sched, 0.1, s, 4, {} if bad else {4: (fixed[s] + d, fixed[s] + d)},
                            status="diverged" if bad else "completed"))
    return study_claims(records(rows), {"epochs": 4, "min_effect": min_effect})[1]


def tuning_entry(choices: dict, seeds=(100, 101, 102), grid=(0.01, 0.1), file="t.quick.tuning.json",
                 optimizer="sgd") -> dict:
    """``choices``: {(schedule, length): chosen base LR}; every LR of ``grid`` gets a by_lr row
    whose validation mean makes the chosen one the best (accuracy)."""
    out = []
    for (sched, length), lr in choices.items():
        by = [{"base_lr": x, "val_mean": 0.6 if x == lr else 0.5, "n": len(seeds)} for x in grid]
        out.append({"optimizer": optimizer, "schedule": sched, "length": length, "base_lr": lr,
                    "edge": lr in (min(grid), max(grid)), "by_lr": by})
    return {"study": "t", "judged_budget": "quick", "tuning_budget": "quick-tune",
            "seeds": list(seeds), "primary_metric": "accuracy", "direction": "max",
            "commit": "abc1234", "date": "2026-12-04", "spec_sha256": "0" * 64, "choices": out,
            "file": file}
