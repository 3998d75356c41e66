"""collect: the tidy table from run directories, exactly per docs/design.md."""

from __future__ import annotations

import pandas as pd
import pytest

from annealbench_report import ReportError
from annealbench_report.records.collect import COLUMNS, collect, runs, write_records
from annealbench_report.records.contract import DTYPES, SORT_KEYS, read_records


def test_columns_dtypes_and_row_counts(synth_session):
    df = collect(synth_session.dir)
    assert list(df.columns) == list(COLUMNS)
    for c, dtype in DTYPES.items():
        if isinstance(dtype, str) and dtype == "category":
            assert isinstance(df[c].dtype, pd.CategoricalDtype), c
        else:
            assert df[c].dtype == dtype, c
    assert len(df) == synth_session.n_rows
    per_run = df.groupby("run_key", observed=True).size()
    assert per_run.to_dict() == {k: r["rows"] for k, r in synth_session.runs.items()}


def test_status_of_each_run(synth_session):
    df = collect(synth_session.dir)
    got = df.groupby("run_key", observed=True)["status"].agg(lambda s: set(s.astype(str)))
    assert got.to_dict() == {k: {r["status"]} for k, r in synth_session.runs.items()}
    assert sorted(df["status"].astype(str).unique()) == ["completed", "diverged", "failed", "running"]
    table = runs(synth_session.dir)
    assert len(table) == len(synth_session.runs)  # the run dir being created is skipped
    assert dict(zip(table["run_key"], table["status"].astype(str))) == {
        k: r["status"] for k, r in synth_session.runs.items()}
    div = table[table["status"] == "diverged"]
    assert div["diverged_step"].tolist() == [2 * synth_session.steps_per_epoch + 2]


def test_step_rows_and_diverged_nan(synth_session):
    df = collect(synth_session.dir)
    steps = df[df["metric"] == "step_loss"]
    completed = next(k for k, r in synth_session.runs.items() if r["status"] == "completed")
    s = steps[steps["run_key"] == completed]
    length = synth_session.runs[completed]["config"]["epochs"]
    assert s["step"].tolist() == list(range(1, length * synth_session.steps_per_epoch + 1))
    div = next(k for k, r in synth_session.runs.items() if r["status"] == "diverged")
    d = steps[steps["run_key"] == div]
    assert d["value"].isna().sum() == 1
    assert d.loc[d["value"].isna(), "step"].item() == 2 * synth_session.steps_per_epoch + 2


def test_deterministic_sorted_order(synth_session):
    a, b = collect(synth_session.dir), collect(synth_session.dir)
    pd.testing.assert_frame_equal(a, b)
    resorted = a.sort_values(SORT_KEYS, kind="mergesort").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, resorted)
    assert a.index.equals(pd.RangeIndex(len(a)))


def test_write_records_round_trip(synth):
    df = write_records(synth.dir)
    assert not list(synth.dir.glob(".*.tmp"))
    pd.testing.assert_frame_equal(pd.read_parquet(synth.dir / "records.parquet"), df)
    pd.testing.assert_frame_equal(read_records(synth.dir / "records.parquet"), df)
    pd.testing.assert_frame_equal(read_records(synth.dir / "records.csv"), df)
    raw = pd.read_csv(synth.dir / "records.csv")
    assert list(raw.columns) == list(COLUMNS) and len(raw) == len(df)


def test_truncated_epoch_csv_names_the_file(synth):
    key = next(iter(synth.runs))
    f = synth.dir / "runs" / key / "epochs" / "00002.csv"
    text = f.read_text()
    f.write_text(text[: len(text) // 2 + 3])
    with pytest.raises(ReportError) as e:
        collect(synth.dir)
    msg = str(e.value)
    assert str(f) in msg and "\n" not in msg


def test_corrupt_number_and_bad_header(synth):
    keys = iter(synth.runs)
    f = synth.dir / "runs" / next(keys) / "epochs" / "00001.csv"
    f.write_text(f.read_text().replace("train,loss,", "train,loss,x", 1))
    with pytest.raises(ReportError, match="00001.csv"):
        collect(synth.dir)
    f.write_text("epoch,step\n1,2\n")
    with pytest.raises(ReportError, match="header"):
        collect(synth.dir)


def test_unreadable_config_names_the_file(synth):
    cfg = synth.dir / "runs" / next(iter(synth.runs)) / "config.json"
    cfg.write_text('{"study": ')
    with pytest.raises(ReportError) as e:
        collect(synth.dir)
    assert str(cfg) in str(e.value) and "\n" not in str(e.value)


def test_not_a_study_dir(tmp_path):
    with pytest.raises(ReportError, match="runs/"):
        collect(tmp_path)
