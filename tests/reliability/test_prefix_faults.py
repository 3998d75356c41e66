"""The fault checks again with shared prefixes on: SIGKILL at every write of a donor's kept state
and of a fork's materialisation, and two writers at once, end equal to the plain baseline."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter

from harness import (
    N_RUNS,
    STUDY,
    _env,
    assert_no_lock_holders,
    assert_records_equal,
    assert_untouched,
    comparable,
    finished_epoch_files,
    read_records,
    report_cli,
    run_cli,
    run_dirs,
    session_alive,
    temp_files,
)

# Grid order constant, step, cosine, plateau (2 epochs of 4 steps). The plan: constant keeps its
# epoch-1 state; step (step_size 1) forks from it at epoch 1; cosine trains alone; plateau is
# planned as a whole-length fork of constant, checked on constant's validation losses.
KILLS = [
    ("prefix-write:1", "constant's epoch-1 kept state, not renamed: constant starts over"),
    ("fork-copy:2", "constant finishes; step copies epoch 0, cut copying epoch 1"),
    ("checkpoint-write:1", "step materialised again, cut writing its epoch-1 checkpoint"),
    ("status-write:3", "step and cosine finish; plateau shares, cut writing its status"),
]


def _shared(out, name):
    runs = {json.loads((d / "config.json").read_text())["schedule"]: d for d in run_dirs(out)}
    f = runs[name] / "prefix.json"
    return json.loads(f.read_text()) if f.exists() else None, runs


def test_sigkill_at_every_sharing_write_then_rerun_equals_the_plain_baseline(baseline, fresh):
    study, data, out = fresh
    for fault, where in KILLS:
        before = finished_epoch_files(out)
        r = run_cli(study, out, data, fault=fault, share_prefix=True)
        assert r.returncode == -signal.SIGKILL, f"{fault} ({where}) did not fire: {r.returncode} {r.stderr}"
        assert_untouched(before)
    assert temp_files(out / STUDY / "runs")  # the last kill left a temp file behind
    before = finished_epoch_files(out)
    r = run_cli(study, out, data, share_prefix=True)
    assert r.returncode == 0, r.stderr
    assert_untouched(before)
    assert r.stdout.count(" epoch ") == 0  # only plateau was left, and it shares from constant
    step, runs = _shared(out, "step")
    assert step == {"donor": runs["constant"].name, "epochs": 1, "whole": False}
    plateau, _ = _shared(out, "plateau")
    assert plateau is not None and plateau["donor"] == runs["constant"].name
    assert not (runs["constant"] / "prefix").exists()  # every fork finished: kept state dropped
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))
    assert temp_files(out) == []
    assert_no_lock_holders(out)


def test_two_writers_sharing_prefixes_train_no_epoch_twice(baseline, fresh):
    study, data, out = fresh
    argv = [sys.executable, "-m", "annealbench", "run", str(study), "--out", str(out), "--data-dir",
            str(data), "--device", "cpu", "--budget", "quick", "--no-progress"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(None, share_prefix=True), start_new_session=True)
             for _ in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (_, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        assert not session_alive(p.pid)
    logs = "".join(stdout for stdout, _ in results)
    trained = Counter(re.findall(r"^\[([0-9a-f]{16})\] .* epoch (\d+)/\d+ ", logs, flags=re.M))
    assert set(trained.values()) == {1}, trained
    shared = {d.name: json.loads((d / "prefix.json").read_text())["epochs"]
              for d in run_dirs(out) if (d / "prefix.json").exists()}
    assert shared and len(trained) + sum(shared.values()) == N_RUNS * 2
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))
    assert temp_files(out) == []
    assert_no_lock_holders(out)
