"""Corrupt or foreign files on disk: a clean redo of the run concerned, or one line and exit 2;
never a traceback, never a wrong table. The CLIs run in-process (their ``main``)."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from harness import (
    STUDY,
    assert_records_equal,
    comparable,
    copy_out,
    make_cifar,
    one_line,
    read_records,
    run_dirs,
    temp_files,
    write_toml,
)

from annealbench.cli import main as train_main
from annealbench_report.cli import main as report_main


def _train(study, out, data, capsys) -> tuple[int, str, str]:
    rc = train_main(["run", str(study), "--out", str(out), "--data-dir", str(data), "--device", "cpu",
                     "--no-progress", "--no-report"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _report(out, capsys) -> tuple[int, str]:
    rc = report_main(["build", "--out", str(out)])
    return rc, capsys.readouterr().err


def _unfinish(rd):
    """Make a finished run look interrupted after epoch 2 was trained (its status not yet written)."""
    (rd / "status.json").unlink()


def test_truncated_checkpoint_redoes_that_run_cleanly(baseline, tmp_path, capsys):
    out = copy_out(baseline, tmp_path / "out")
    rd = run_dirs(out)[1]
    _unfinish(rd)
    (rd / "epochs" / "00002.csv").unlink()
    ck = rd / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 3])
    others = {f: f.stat().st_mtime_ns for r in run_dirs(out) if r != rd for f in r.rglob("*.csv")}
    rc, log, err = _train(baseline.study, out, baseline.data, capsys)
    assert rc == 0, err
    assert f"[{rd.name}] unreadable checkpoint {ck}" in log and "restarting this run" in log
    assert {f: f.stat().st_mtime_ns for f in others} == others  # only that run was redone
    assert _report(out, capsys)[0] == 0
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))


def test_checkpoint_copied_from_another_run_is_not_trusted(baseline, tmp_path, capsys):
    """A checkpoint that loads fine but belongs to another run (same model, other schedule)."""
    out = copy_out(baseline, tmp_path / "out")
    a, b = run_dirs(out)[:2]
    _unfinish(b)
    (b / "epochs" / "00002.csv").unlink()
    ck = torch_load(a / "checkpoint.pt")
    ck["epoch"], ck["step"] = 1, 4  # an epoch-1 checkpoint, as if b had been cut after epoch 1
    torch_save(ck, b / "checkpoint.pt")
    rc, log, err = _train(baseline.study, out, baseline.data, capsys)
    assert rc == 0, err
    assert f"[{b.name}] unreadable checkpoint" in log and f"checkpoint of run {a.name}" in log
    assert _report(out, capsys)[0] == 0
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))


def torch_load(path):
    import torch
    return torch.load(path, map_location="cpu", weights_only=True)


def torch_save(obj, path):
    import torch
    torch.save(obj, path)


def test_run_config_from_another_spec_version_is_redone_by_training(baseline, tmp_path, capsys):
    out = copy_out(baseline, tmp_path / "out")
    rd = run_dirs(out)[2]
    _unfinish(rd)
    cfg = json.loads((rd / "config.json").read_text())
    (rd / "config.json").write_text(json.dumps({**cfg, "spec_version": 0}))
    rc, log, err = _train(baseline.study, out, baseline.data, capsys)
    assert rc == 0, err
    assert f"[{rd.name}] {rd / 'config.json'} is from spec_version 0; restarting this run" in log
    assert log.count("epoch 1/2") == 1  # that run, from scratch; no other
    assert json.loads((rd / "config.json").read_text())["spec_version"] == 1
    assert _report(out, capsys)[0] == 0
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))


def test_report_refuses_a_run_of_another_spec_version(baseline, tmp_path, capsys):
    out = copy_out(baseline, tmp_path / "out")
    rd = run_dirs(out)[0]
    cfg = json.loads((rd / "config.json").read_text())
    (rd / "config.json").write_text(json.dumps({**cfg, "spec_version": 2}))
    before = (out / STUDY / "records.parquet").read_bytes()
    rc, err = _report(out, capsys)
    assert rc == 2
    one_line(err, str(rd / "config.json"), "spec_version 2", "reads spec_version 1")
    assert (out / STUDY / "records.parquet").read_bytes() == before  # the old table is kept, not mixed


def _records_only(baseline, tmp_path):
    """A study kept as records without its run directories (the report rebuilds from the table)."""
    out = copy_out(baseline, tmp_path / "out")
    shutil.rmtree(out / STUDY / "runs")
    return out, out / STUDY / "records.parquet"


def test_truncated_records_without_runs_is_one_line_exit_2(baseline, tmp_path, capsys):
    out, records = _records_only(baseline, tmp_path)
    records.write_bytes(records.read_bytes()[: records.stat().st_size // 2])
    rc, err = _report(out, capsys)
    assert rc == 2
    one_line(err, str(records), "cannot read records")


def test_truncated_records_with_runs_are_regenerated(baseline, tmp_path, capsys):
    out = copy_out(baseline, tmp_path / "out")
    records = out / STUDY / "records.parquet"
    records.write_bytes(records.read_bytes()[:100])
    assert _report(out, capsys)[0] == 0
    assert_records_equal(read_records(out), read_records(baseline.out))


@pytest.mark.parametrize("change", ["version", "status", "types"])
def test_records_from_another_version_are_refused(baseline, tmp_path, capsys, change):
    out, records = _records_only(baseline, tmp_path)
    table = pq.read_table(records)
    df = table.to_pandas()
    if change == "version":  # a table written by another records version
        meta = {**table.schema.metadata, b"annealbench.records_version": b"0"}
        pq.write_table(table.replace_schema_metadata(meta), records)
        expected = "records version '0'"
    elif change == "status":  # a status this version does not know
        df["status"] = df["status"].astype(str).replace("completed", "finished")
        df.to_parquet(records, index=False)
        expected = "column status holds 'finished'"
    else:  # numbers stored as text
        df["value"] = df["value"].astype(str) + "x"
        df.to_parquet(records, index=False)
        expected = "column types"
    rc, err = _report(out, capsys)
    assert rc == 2
    one_line(err, str(records), expected)


def test_cifar_batch_of_the_wrong_shape_is_one_line_exit_2(baseline, tmp_path, capsys):
    data = tmp_path / "data"
    folder = make_cifar(data, per_batch=20)
    bad = folder / "data_batch_3"
    with open(bad, "wb") as f:
        pickle.dump({"data": np.zeros((20, 1024), np.uint8), "labels": [0] * 20}, f)
    out = tmp_path / "out"
    rc, _, err = _train(baseline.study, out, data, capsys)
    assert rc == 2
    one_line(err, str(bad), "(20, 1024)", "3072")
    assert not out.exists()


def test_truncated_cifar_batch_is_one_line_exit_2(baseline, tmp_path, capsys):
    folder = make_cifar(tmp_path / "data", per_batch=20)
    bad = folder / "test_batch"
    bad.write_bytes(bad.read_bytes()[:500])
    rc, _, err = _train(baseline.study, tmp_path / "out", tmp_path / "data", capsys)
    assert rc == 2
    one_line(err, str(bad), "unreadable")
    assert not (tmp_path / "out").exists()


TEXT_STUDY = """
spec_version = 1

[study]
name = "text"
primary_metric = "bpc"
epochs = 1
batch_size = 4
seeds = [0]

[model]
name = "lstm"
emb = 8
hidden = 8
layers = 1

[dataset]
name = "tinyshakespeare"
download = false
bptt = 16

[optimizers.adam]
type = "adam"
lrs = [0.002]

[schedules.constant]
"""


@pytest.mark.parametrize("text", ["", " \n", "\ufeff"])
def test_empty_text_corpus_is_one_line_exit_2(tmp_path, capsys, text):
    corpus = tmp_path / "data" / "tinyshakespeare" / "input.txt"
    corpus.parent.mkdir(parents=True)
    corpus.write_text(text, encoding="utf-8")
    study = write_toml(tmp_path / "text.toml", text=TEXT_STUDY)
    rc, _, err = _train(study, tmp_path / "out", tmp_path / "data", capsys)
    assert rc == 2
    one_line(err, str(corpus), "characters")
    assert not (tmp_path / "out").exists()
    assert temp_files(tmp_path) == []
