"""Kill anywhere, lose nothing: SIGKILL the real CLIs at chosen points, rerun, compare with an
uninterrupted run, and check that no finished epoch was trained (or written) again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from harness import (
    EPOCHS,
    N_RUNS,
    STUDY,
    _env,
    assert_no_lock_holders,
    assert_records_equal,
    assert_untouched,
    checkpoint_epoch,
    comparable,
    finished_epoch_files,
    read_records,
    report_cli,
    run_cli,
    run_dirs,
    session_alive,
    temp_files,
    write_toml,
)
from testkit import run_rows

# Grid order: constant, step, cosine, plateau; 4 steps per epoch, 2 epochs; each point counts
# its own passes per process.
TRAIN_KILLS = [
    ("train-step:6", "mid-epoch: run 1, 2nd step of epoch 2"),
    ("checkpoint-write:2", "run 1's epoch-2 checkpoint lands, run 2's epoch-1 one is cut before its rename"),
    ("epoch-write:3", "run 2 redoes epoch 1 (no checkpoint covered it); cut writing its epoch 2 file"),
    ("status-write:2", "run 2 completes; run 3 trains both epochs, cut writing status.json"),
]
REPORT_KILLS = [
    ("records-write:1", "records.parquet written to its temp file, not renamed"),
    ("render-write:1", "records written; the study page cut before its rename"),
]


def test_sigkill_at_every_write_point_then_rerun_equals_uninterrupted(baseline, fresh):
    study, data, out = fresh
    for fault, where in TRAIN_KILLS:
        before = finished_epoch_files(out)
        r = run_cli(study, out, data, fault=fault)
        assert r.returncode == -signal.SIGKILL, f"{fault} ({where}) did not fire: {r.returncode} {r.stderr}"
        assert_untouched(before)
    left = temp_files(out / STUDY / "runs")
    assert left, "a kill between temp write and rename leaves a temp file (else the point never fired)"
    before = finished_epoch_files(out)
    r = run_cli(study, out, data)
    assert r.returncode == 0, r.stderr
    assert_untouched(before)
    # epoch 1 of runs 1-3 is covered by a checkpoint; only run 4 trains its first epoch here
    assert r.stdout.count("epoch 1/2") == 1, r.stdout
    for fault, where in REPORT_KILLS:
        rr = report_cli(out, fault=fault)
        assert rr.returncode == -signal.SIGKILL, f"{fault} ({where}) did not fire: {rr.stderr}"
    assert temp_files(out)  # the report's temp files of the killed builds
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))
    assert (out / STUDY / "index.html").is_file() and (out / "index.html").is_file()
    assert temp_files(out) == []
    assert_no_lock_holders(out)


def test_external_sigkill_mid_run_then_rerun_redoes_nothing_finished(baseline, fresh):
    """SIGKILL from outside, whenever the 3rd epoch line is printed (wherever the process is)."""
    study, data, out = fresh
    argv = [sys.executable, "-m", "annealbench", "run", str(study), "--out", str(out), "--data-dir",
            str(data), "--device", "cpu", "--budget", "quick", "--no-progress"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         env=_env(None), start_new_session=True)
    seen = 0
    for line in p.stdout:
        seen += " epoch " in line
        if seen == 3:
            p.kill()
            break
    p.stdout.close()
    assert p.wait(timeout=60) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while session_alive(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session_alive(p.pid)
    before = finished_epoch_files(out)
    assert len(before) >= 2  # run 1 finished, at least
    r = run_cli(study, out, data)
    assert r.returncode == 0, r.stderr
    assert_untouched(before)
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    df = read_records(out)
    assert df["run_key"].nunique() == N_RUNS and int(df["epoch"].max()) == EPOCHS
    assert_records_equal(comparable(df), comparable(baseline.records))
    assert temp_files(out) == []


# The same study with a schedule-free arm beside the fixed LR: its evaluations and checkpoints are
# at the averaged point, and a resume has to continue its average (param-group state included).
SF_STUDY = {"[schedules.step]\nstep_size = 1\ngamma = 0.5\n\n[schedules.cosine]\n\n[schedules.plateau]\n"
            "patience = 0\n": '[schedules.sf]\ntype = "constant"\noptimizer = "sf-sgd"\n'
                              "evaluate = { bn_batches = 2 }\n",
            "[schedules.constant]\n": '[schedules.constant]\n\n[optimizers.sf-sgd]\n'
                                      'type = "schedulefree-sgd"\nlrs = [0.5]\nwarmup_steps = 2\n'}


def test_sigkill_mid_schedule_free_run_then_rerun_equals_uninterrupted(baseline, tmp_path):
    study = write_toml(tmp_path / "rel.toml", SF_STUDY)
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert run_cli(study, whole, baseline.data).returncode == 0
    # runs in grid order: constant (8 steps), then sf: its 2nd step of epoch 2 is the 14th
    r = run_cli(study, out, baseline.data, fault="train-step:14")
    assert r.returncode == -signal.SIGKILL, r.stderr
    sf = [d for d in run_dirs(out) if '"schedulefree-sgd"' in (d / "config.json").read_text()]
    assert len(sf) == 1 and checkpoint_epoch(sf[0]) == 1 and not (sf[0] / "status.json").exists()
    before = finished_epoch_files(out)
    r = run_cli(study, out, baseline.data)
    assert r.returncode == 0, r.stderr
    assert_untouched(before)
    assert r.stdout.count("epoch 1/2") == 0 and r.stdout.count("epoch 2/2") == 1, r.stdout
    assert [d.name for d in run_dirs(out)] == [d.name for d in run_dirs(whole)]
    for d in run_dirs(whole):
        assert run_rows(out / STUDY / "runs" / d.name) == run_rows(d), d.name
