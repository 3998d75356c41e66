"""Out of space and out of memory: the previous good state stays, the message is one clear line,
a rerun with space finishes; an OOM fails that run only and the study goes on."""

from __future__ import annotations

import json
import resource

from harness import (
    STUDY,
    assert_no_lock_holders,
    assert_records_equal,
    assert_untouched,
    checkpoint_epoch,
    comparable,
    copy_out,
    finished_epoch_files,
    one_line,
    read_records,
    run_cli,
    run_dirs,
    temp_files,
)

from annealbench.cli import main as train_main
from annealbench_report.cli import main as report_main


def _train(baseline, out, capsys) -> tuple[int, str, str]:
    rc = train_main(["run", str(baseline.study), "--out", str(out), "--data-dir", str(baseline.data),
                     "--device", "cpu", "--no-progress", "--no-report"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_full_disk_keeps_the_last_good_state_and_a_rerun_finishes(baseline, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    first = None
    # 1. ENOSPC (injected at the write point) on run 1's second checkpoint
    monkeypatch.setenv("ANNEALBENCH_FAULT", "enospc:checkpoint-write:2")
    rc, _, err = _train(baseline, out, capsys)
    monkeypatch.delenv("ANNEALBENCH_FAULT")
    first = run_dirs(out)[0]
    assert rc == 2
    one_line(err, f"cannot write {first / 'checkpoint.pt'}: No space left on device", "rerun")
    assert checkpoint_epoch(first) == 1  # the epoch-1 checkpoint was not replaced
    assert not (first / "status.json").exists()  # not marked failed: a full disk is not the run's fault
    assert len(run_dirs(out)) == 1  # the study stopped instead of failing every later run
    assert temp_files(out) == []
    kept = finished_epoch_files(out)
    good_checkpoint = (first / "checkpoint.pt").read_bytes()

    # 2. A real file-size limit (RLIMIT_FSIZE: the kernel refuses the write, EFBIG) in a subprocess
    # a limit every file training writes stays under, except a checkpoint
    size = len(good_checkpoint) // 2
    written = [f for f in (baseline.out / STUDY).rglob("*") if f.is_file() and not f.name.startswith(
        ("records.", "index."))]
    assert max(f.stat().st_size for f in written if f.suffix != ".pt") < size

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    r = run_cli(baseline.study, out, baseline.data, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    one_line(r.stderr, f"cannot write {first / 'checkpoint.pt'}: File too large")
    assert (first / "checkpoint.pt").read_bytes() == good_checkpoint
    assert_untouched(kept)
    assert temp_files(out) == []
    assert_no_lock_holders(out)

    # 3. With space again: finishes, equal to the uninterrupted run, finished epochs not redone
    rc, log, err = _train(baseline, out, capsys)
    assert rc == 0, err
    assert_untouched(kept)
    assert log.count("epoch 1/2") == 3  # runs 2-4; run 1 resumed at epoch 2
    assert report_main(["build", "--out", str(out)]) == 0
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))
    assert temp_files(out) == []


def test_full_disk_while_writing_records_keeps_the_old_table(baseline, tmp_path, capsys, monkeypatch):
    out = copy_out(baseline, tmp_path / "out")
    records = out / STUDY / "records.parquet"
    before = records.read_bytes()
    monkeypatch.setenv("ANNEALBENCH_FAULT", "enospc:records-write")
    assert report_main(["build", "--out", str(out)]) == 2
    one_line(capsys.readouterr().err, str(records), "No space left on device", "previous file is kept")
    assert records.read_bytes() == before
    assert temp_files(out) == []


def test_oom_fails_that_run_with_advice_and_the_study_goes_on(baseline, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("ANNEALBENCH_FAULT", "oom:train-step:6")  # run 1, epoch 2, 2nd step
    rc, log, err = _train(baseline, out, capsys)
    monkeypatch.delenv("ANNEALBENCH_FAULT")
    assert rc == 1  # a failed run
    failed = [line for line in log.splitlines() if " failed: " in line]
    assert len(failed) == 1 and "out of memory" in failed[0] and "smaller batch_size" in failed[0]
    statuses = [json.loads((rd / "status.json").read_text()) for rd in run_dirs(out)]
    assert sorted(s["status"] for s in statuses) == ["completed"] * 3 + ["failed"]
    bad = next(s for s in statuses if s["status"] == "failed")
    assert "batch_size 50" in bad["error"] and "\n" not in bad["error"]
    assert temp_files(out) == []
    # the failed run is retried on the next invocation, from its last checkpoint
    rc, log, err = _train(baseline, out, capsys)
    assert rc == 0, err
    assert log.count(" epoch ") == 1 and "epoch 2/2" in log
    assert report_main(["build", "--out", str(out)]) == 0
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))
