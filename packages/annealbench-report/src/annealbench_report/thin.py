"""Thinning a study's records for publishing (``python -m annealbench_report.thin STUDY_DIR``).

Most rows of a long study are per-step training losses (``split=train, metric=step_loss``): one
per optimizer step of every run. The page reads them in two places only: the LR-trajectory
figure draws the steps of one representative run per (optimizer, schedule, base LR), and a
diverged run's first non-finite step is read from its steps. Thinning keeps exactly those step
rows and every other row, so the page and verdicts.csv rebuilt from the thinned records are the
page and verdicts.csv of the full records, but for the row count the page states
(tests/report/test_report_thin.py). What it drops is
what a notebook would need to redraw any run's loss per step: the run directories keep that.
Likewise the study's per-example outcomes keep only the arrays of its primary metric
(records.heldout.thin): for an accuracy study the correct/incorrect bits, not the losses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from annealbench_report.errors import ReportError
from annealbench_report.figures.training import lr_trajectory
from annealbench_report.records import heldout
from annealbench_report.records.files import read_json_optional
from annealbench_report.records.frames import step_rows


def thin(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without the step rows the pages do not read (see the module docstring), in the same
    row order and with the same dtypes."""
    steps = step_rows(df)
    if steps.empty:
        return df
    keep_runs = _runs_of(steps, lr_trajectory(df))
    keep_runs |= set(df.loc[df["status"].astype(str) == "diverged", "run_key"].astype(str))
    drop = steps.index[~steps["run_key"].astype(str).isin(keep_runs)]
    return df.drop(index=drop)


def _runs_of(steps: pd.DataFrame, rep: pd.DataFrame) -> set:
    """The run keys of the representative runs ``lr_trajectory`` drew (one per optimizer,
    schedule and base LR: the seed it names, the longest run of that seed), from the step rows."""
    keys = set()
    for (opt, sched, lr, seed), _ in rep.groupby(["optimizer", "schedule", "base_lr", "seed"]):
        s = steps[(steps["optimizer"].astype(str) == opt) & (steps["schedule"].astype(str) == sched)
                  & (steps["base_lr"] == lr) & (steps["seed"] == seed)]
        n = s.groupby(s["run_key"].astype(str)).size()
        keys.add(n.idxmax())
    return keys


def main(argv: list[str] | None = None) -> int:
    from annealbench_report.records import contract as records

    p = argparse.ArgumentParser(prog="python -m annealbench_report.thin",
                                description="Rewrite STUDY_DIR/records.parquet without the per-step "
                                            "rows its page does not read (records.csv is removed).")
    p.add_argument("study_dir", type=Path)
    args = p.parse_args(argv)
    path = args.study_dir / "records.parquet"
    try:
        df = records.read_records(path)
        out = thin(df)
        records.write_parquet(out, path)
        primary = read_json_optional(args.study_dir / "study.json", "study.json").get("primary_metric")
        sizes = heldout.thin(args.study_dir, str(primary)) if primary else None  # unknown: keep all
    except ReportError as e:
        print(f"annealbench-report: {e}", file=sys.stderr)
        return 2
    (args.study_dir / "records.csv").unlink(missing_ok=True)
    print(f"{path}: {len(df):,} rows -> {len(out):,} ({path.stat().st_size:,} bytes)")
    if sizes:
        print(f"{args.study_dir / heldout.NAME}: {sizes[0]:,} bytes -> {sizes[1]:,} "
              "(only the arrays of the primary metric)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
