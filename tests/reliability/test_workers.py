"""The reliability guarantees with ``--workers 2``: two worker processes train the runs while the
parent dispatches. Records equal the one-at-a-time baseline (same one thread per run); an
interrupted or SIGKILLed parent leaves no worker, lock or temp file; a dead worker, a full disk
and an out-of-memory run behave as they do in one process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from harness import (
    EPOCHS,
    N_RUNS,
    STUDY,
    _env,
    assert_no_lock_holders,
    assert_records_equal,
    assert_untouched,
    comparable,
    finished_epoch_files,
    one_line,
    read_records,
    run_cli,
    run_dirs,
    session_alive,
    temp_files,
    write_toml,
)
from testkit import child_pids

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.load import load_study
from annealbench_report.cli import main as report_main

TWO = ("--workers", "2")


def _argv(study, out, data) -> list[str]:
    return [sys.executable, "-m", "annealbench", "run", str(study), "--out", str(out), "--data-dir",
            str(data), "--device", "cpu", "--budget", "quick", "--no-progress", *TWO]


def _start(study, out, data) -> subprocess.Popen:
    return subprocess.Popen(_argv(study, out, data), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(None), start_new_session=True)


def _until_epoch_lines(p: subprocess.Popen, n: int) -> None:
    seen = 0
    for line in p.stdout:
        seen += " epoch " in line
        if seen == n:
            return
    raise AssertionError(f"the run ended before {n} epoch lines: {p.stderr.read()}")


def _session_gone(sid: int, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while session_alive(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not session_alive(sid), f"workers left behind: {session_alive(sid)}"


def _report(out: Path) -> int:
    """``annealbench-report build --out OUT``'s exit status, in this process: what these tests
    check is the training side's processes, and the report's start-up cost seconds a build."""
    return report_main(["build", "--out", str(out)])


def _same_as_baseline(out: Path, baseline) -> None:
    assert _report(out) == 0  # its one-line error is in the captured stderr
    assert_records_equal(comparable(read_records(out)), comparable(baseline.records))


def test_two_workers_equal_one_at_a_time_and_a_rerun_starts_none(baseline, fresh, monkeypatch):
    study, data, out = fresh
    # shared prefixes on: forks in one worker from donors another
    # worker trained end with the records of the plain one-at-a-time baseline all the same
    monkeypatch.setenv("ANNEALBENCH_SHARE_PREFIX", "1")
    r = run_cli(study, out, data, *TWO)
    assert r.returncode == 0, r.stderr
    assert f"pool: {N_RUNS} runs to train in 2 processes x 1 threads" in r.stdout
    trained = Counter(re.findall(r"^\[([0-9a-f]{16})\] .* epoch (\d+)/\d+ ", r.stdout, flags=re.M))
    assert set(trained.values()) == {1}  # no epoch trained twice (shared ones not at all)
    _same_as_baseline(out, baseline)
    again = run_cli(study, out, data, *TWO)
    assert again.returncode == 0, again.stderr
    assert "pool:" not in again.stdout and " epoch " not in again.stdout  # no worker started
    assert f"{N_RUNS} skipped" in again.stdout.strip().splitlines()[-1]
    assert temp_files(out) == []
    assert_no_lock_holders(out)


def test_interrupted_or_killed_parent_leaves_nothing_and_a_rerun_equals_uninterrupted(baseline,
                                                                                     tmp_path):
    # 10 epochs a run, 40 in all: the signal, sent at the 2nd epoch line, lands mid-study however
    # fast the machine trains (the study trains twice more to the end below: no longer than that)
    study = write_toml(tmp_path / "long.toml", {"epochs = 2": "epochs = 10"})
    data, out = baseline.data, tmp_path / "out"
    # Ctrl-C: SIGINT to the whole foreground group, the parent and its workers
    p = _start(study, out, data)
    _until_epoch_lines(p, 2)
    os.killpg(p.pid, signal.SIGINT)
    rest, err = p.communicate(timeout=60)
    # what the study printed after the signal says where a lost one went
    assert p.returncode == 130, f"stderr: {err!r}; stdout after the signal: {rest[-3000:]}"
    one_line(err, "interrupted; rerun the same command to resume")
    _session_gone(p.pid)
    assert temp_files(out / STUDY / "runs") == []
    assert_no_lock_holders(out)
    # SIGKILL of the parent alone: its workers follow it (PR_SET_PDEATHSIG), unwinding cleanly
    before = finished_epoch_files(out)
    p = _start(study, out, data)
    _until_epoch_lines(p, 2)
    p.kill()
    p.communicate(timeout=60)
    assert p.returncode == -signal.SIGKILL
    _session_gone(p.pid)
    assert temp_files(out / STUDY / "runs") == []
    assert_no_lock_holders(out)
    assert_untouched(before)
    before = finished_epoch_files(out)
    r = run_cli(study, out, data, *TWO)
    assert r.returncode == 0, r.stderr
    assert_untouched(before)
    assert temp_files(out) == []
    reference = tmp_path / "reference"
    assert run_cli(study, reference, data, *TWO).returncode == 0
    for o in (out, reference):
        assert _report(o) == 0
    assert_records_equal(comparable(read_records(out)), comparable(read_records(reference)))


def test_a_killed_worker_fails_its_run_and_the_next_invocation_resumes_it(baseline, fresh):
    study, data, out = fresh
    # every worker (and each one started in a dead one's place) SIGKILLs itself at its 6th step:
    # mid-epoch 2 of its first run, after that run's epoch-1 checkpoint
    r = run_cli(study, out, data, *TWO, fault="kill:train-step:6")
    assert r.returncode == 1, r.stderr
    assert r.stdout.count("worker process died (exit code -9)") == N_RUNS, r.stdout
    assert all(not (rd / "status.json").exists() for rd in run_dirs(out))  # resumable, not final
    assert_no_lock_holders(out)
    before = finished_epoch_files(out)
    r = run_cli(study, out, data, *TWO)
    assert r.returncode == 0, r.stderr
    assert "epoch 1/2" not in r.stdout and r.stdout.count("epoch 2/2") == N_RUNS  # epoch 1 kept
    assert_untouched(before)
    _same_as_baseline(out, baseline)
    assert temp_files(out) == []


def test_full_disk_in_a_worker_stops_the_study_and_oom_fails_one_run(baseline, fresh):
    study, data, out = fresh
    # a worker's 2nd checkpoint hits a full disk: one line, exit 2, the other worker stopped
    r = run_cli(study, out, data, *TWO, fault="enospc:checkpoint-write:2")
    assert r.returncode == 2, r.stderr
    one_line(r.stderr, "cannot write", "checkpoint.pt: No space left on device", "rerun")
    assert all(not (rd / "status.json").exists() for rd in run_dirs(out))
    assert temp_files(out) == []
    assert_no_lock_holders(out)
    # each worker's 6th step runs out of memory: that run fails, the study goes on (exit 1)
    r = run_cli(study, out, data, *TWO, fault="oom:train-step:6")
    assert r.returncode == 1, r.stderr
    failed = [line for line in r.stdout.splitlines() if " failed: " in line]
    assert failed and all("out of memory" in line and "smaller batch_size" in line for line in failed)
    assert temp_files(out) == []
    r = run_cli(study, out, data, *TWO)  # the failed runs resume from their last checkpoints
    assert r.returncode == 0, r.stderr
    _same_as_baseline(out, baseline)


def test_a_broken_cuda_context_ends_its_worker_and_the_study_goes_on(baseline, fresh):
    study, data, out = fresh
    # every worker's 6th step hits a device-side assert: its run fails, the worker exits (its
    # CUDA context would fail every later run) and a fresh worker takes its place
    r = run_cli(study, out, data, *TWO, fault="cuda:train-step:6")
    assert r.returncode == 1, r.stderr
    assert r.stdout.count("worker exits: ") == N_RUNS, r.stdout
    failed = [line for line in r.stdout.splitlines() if " failed: " in line]
    assert len(failed) == N_RUNS and all("device-side assert" in line for line in failed)
    assert_no_lock_holders(out)
    r = run_cli(study, out, data, *TWO)  # the failed runs resume from their last checkpoints
    assert r.returncode == 0, r.stderr
    _same_as_baseline(out, baseline)


def test_two_writers_with_two_workers_each_train_every_epoch_once(baseline, fresh):
    study, data, out = fresh
    procs = [_start(study, out, data) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for p, (_, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        _session_gone(p.pid)
    logs = "".join(stdout for stdout, _ in results)
    trained = Counter(re.findall(r"^\[([0-9a-f]{16})\] .* epoch (\d+)/\d+ ", logs, flags=re.M))
    assert len(trained) == N_RUNS * EPOCHS and set(trained.values()) == {1}, trained
    _same_as_baseline(out, baseline)
    assert temp_files(out) == []
    assert_no_lock_holders(out)


def _fds() -> dict[int, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return out


def test_in_process_pool_leaves_no_handles_orchild_pids(baseline, tmp_path, monkeypatch):
    for k, v in _env(None).items():  # the workers' bytecode cache, as the CLIs' (harness._env)
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    study = load_study(baseline.study, "quick")
    cpu = torch.device("cpu")
    run_study(study, RunOptions(tmp_path / "warm", cpu, baseline.data, log=lambda m: None, dry_run=True))
    before, kids = _fds(), child_pids()
    outcomes = run_study(study, RunOptions(tmp_path / "out", cpu, baseline.data, log=lambda m: None,
                         wait=True, workers=2, threads=1))
    assert [o.status for o in outcomes] == ["completed"] * N_RUNS
    after = _fds()
    assert after == before, {fd: p for fd, p in after.items() if before.get(fd) != p}
    assert child_pids() == kids
    assert temp_files(tmp_path / "out") == []
    assert_no_lock_holders(tmp_path / "out")
