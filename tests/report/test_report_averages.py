"""Averaged-weight arms: a host run's ``averages.csv`` becomes the rows of each averaging arm
(schedule = the arm, run key = host key + "+" + arm, every other run field the host's)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from annealbench_report import ReportError
from annealbench_report.records.collect import collect, runs
from annealbench_report.records.contract import COLUMNS, EPOCH_COLUMNS, RUN_FIELDS

HOST = {"spec_version": 1, "study": "avg", "model": "mlp", "dataset": "synthetic", "optimizer": "sgd",
        "schedule": "fixed", "schedule_type": "constant", "base_lr": 0.1, "epochs": 2, "seed": 3,
        "run_key": "host0001"}


def _rows(shift: float) -> list[tuple]:
    out = []
    for e in (0, 1, 2):
        out.append((e, 4 * e, "val", "accuracy", 0.5 + 0.1 * e + shift, 0.1, 1.5 * e))
        out.append((e, 4 * e, "test", "accuracy", 0.4 + 0.1 * e + shift, 0.1, 1.5 * e))
    return out


def _write(path: Path, header: tuple, rows: list[tuple]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def host_run(study: Path, averages: dict[str, float] | None) -> Path:
    """One completed host run; ``averages``: arm -> the shift of its averaged values."""
    run = study / "runs" / HOST["run_key"]
    (run / "epochs").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(HOST))
    (run / "status.json").write_text(json.dumps({"status": "completed", "epochs_done": 2}))
    for e in (0, 1, 2):
        _write(run / "epochs" / f"{e:05d}.csv", EPOCH_COLUMNS, [r for r in _rows(0.0) if r[0] == e])
    if averages is not None:
        _write(run / "averages.csv", ("arm", *EPOCH_COLUMNS),
               [(arm, *r) for arm, shift in averages.items() for r in _rows(shift)])
    return run


def test_each_averaging_arm_gets_the_host_rows_fields_under_its_own_name(tmp_path):
    host_run(tmp_path, {"ema": 0.02, "swa": 0.03})
    df = collect(tmp_path)
    assert list(df.columns) == list(COLUMNS)
    assert sorted(set(df["schedule"].astype(str))) == ["ema", "fixed", "swa"]
    for arm, shift in (("ema", 0.02), ("swa", 0.03)):
        a = df[df["schedule"] == arm]
        assert set(a["run_key"].astype(str)) == {f"host0001+{arm}"}
        assert set(a["schedule_type"].astype(str)) == {"constant"}  # the host's
        for k in RUN_FIELDS:
            if k not in ("schedule", "run_key"):
                assert set(a[k].astype(object)) == {HOST[k]}, k
        assert set(a["status"].astype(str)) == {"completed"}
        want = pd.DataFrame(_rows(shift), columns=list(EPOCH_COLUMNS))
        got = a[list(EPOCH_COLUMNS)].astype({"split": str, "metric": str})
        got = got.sort_values(["epoch", "split"]).reset_index(drop=True)
        want = want.sort_values(["epoch", "split"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert len(df) == 3 * len(_rows(0.0))
    r = runs(tmp_path)
    assert sorted(r["run_key"]) == ["host0001", "host0001+ema", "host0001+swa"]
    assert set(r["status"].astype(str)) == {"completed"}


def test_a_run_without_averages_gives_only_its_own_rows(tmp_path):
    host_run(tmp_path, None)
    df = collect(tmp_path)
    assert set(df["schedule"].astype(str)) == {"fixed"} and len(df) == len(_rows(0.0))
    assert list(runs(tmp_path)["run_key"]) == ["host0001"]


@pytest.mark.parametrize("text, why", [
    ("epoch,step,split,metric,value,lr,wall_time_s\n0,0,val,accuracy,0.5,0.1,0\n", "header"),
    ("arm," + ",".join(EPOCH_COLUMNS) + "\nema,0,0,val,accuracy,0.5,0.1", "incomplete"),
    ("arm," + ",".join(EPOCH_COLUMNS) + "\nema,0,0,val,accuracy,x,0.1,0\n", "corrupt"),
    ("arm," + ",".join(EPOCH_COLUMNS) + "\n ,0,0,val,accuracy,0.5,0.1,0\n", "names no arm"),
])
def test_a_bad_averages_file_is_refused_with_its_name(tmp_path, text, why):
    run = host_run(tmp_path, None)
    (run / "averages.csv").write_text(text)
    with pytest.raises(ReportError, match=f"averages.csv.*{why}"):
        collect(tmp_path)
