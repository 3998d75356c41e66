"""Two ``annealbench run`` processes on the same study and output folder at the same time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter

import pytest
import torch
from harness import (
    EPOCHS,
    N_RUNS,
    _env,
    assert_no_lock_holders,
    assert_records_equal,
    comparable,
    read_records,
    report_cli,
    run_dirs,
    session_alive,
    temp_files,
)

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.store import RunDir, atomic_write_json


def test_two_writers_finish_every_run_exactly_once(baseline, fresh):
    study, data, out = fresh
    argv = [sys.executable, "-m", "annealbench", "run", str(study), "--out", str(out), "--data-dir",
            str(data), "--device", "cpu", "--budget", "quick", "--no-progress",
            "--no-report"]  # training only: its last line is the summary it reads
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(None), start_new_session=True) for _ in range(2)]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (_, stderr) in zip(procs, results):
        assert p.returncode == 0, stderr
        assert not session_alive(p.pid)
    logs = "".join(stdout for stdout, _ in results)
    # every epoch of every run was trained by exactly one of the two processes
    trained = Counter(re.findall(r"^\[([0-9a-f]{16})\] .* epoch (\d+)/\d+ ", logs, flags=re.M))
    assert len(trained) == N_RUNS * EPOCHS and set(trained.values()) == {1}, trained
    # each process ended with the whole study finished (it waited for what the other held)
    for stdout, _ in results:
        last = stdout.strip().splitlines()[-1]  # "rel: 2 completed, 2 skipped in 9.1 s"
        counts = {s: int(n) for n, s in re.findall(r"(\d+) (\w+)", last.split(": ", 1)[1].split(" in ")[0])}
        assert set(counts) <= {"completed", "skipped"} and sum(counts.values()) == N_RUNS, last
    for rd in run_dirs(out):
        assert json.loads((rd / "status.json").read_text())["status"] == "completed"
        epochs = sorted(f.name for f in (rd / "epochs").iterdir())
        assert epochs == [f"{e:05d}.csv" for e in range(EPOCHS + 1)]
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    df = read_records(out)
    # no duplicated or torn rows: exactly the uninterrupted run's table
    assert not df.duplicated(["run_key", "epoch", "step", "split", "metric"]).any()
    assert_records_equal(comparable(df), comparable(baseline.records))
    assert temp_files(out) == []
    assert_no_lock_holders(out)


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


def _holder(run: RunDir) -> subprocess.Popen:
    """Another process holding the run's lock (as a training process would)."""
    run.root.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(run.lock_file)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "locked"
    return p


@pytest.mark.parametrize("holder_ends", ["killed", "finished"])
def test_a_run_held_elsewhere_is_waited_for_then_taken_over_or_skipped(baseline, tmp_path, holder_ends):
    """The final pass of ``annealbench run``: wait for the holder; if it died without a status,
    finish the run here, if it finished the run, do not train it again."""
    study = load_study(baseline.study, "quick")
    cfg = expand(study, "cpu")[1]
    out = tmp_path / "out"
    run = RunDir(out / study.name / "runs" / cfg["run_key"])
    holder = _holder(run)
    logs = []

    def let_go():
        if holder_ends == "finished":
            atomic_write_json(run.status, {"status": "completed", "epochs_done": 2, "diverged_step": None,
                                           "error": None, "finished_at": "now"})
        holder.kill()

    timers = []

    def log(msg):
        logs.append(msg)
        if "waiting for the other process" in msg:  # the final pass is about to block on the lock
            timers.append(threading.Timer(0.5, let_go))
            timers[-1].start()

    try:
        outcomes = run_study(study, RunOptions(out, torch.device("cpu"), baseline.data, log=log, wait=True))
    finally:
        for t in timers:
            t.join()
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert any(f"[{cfg['run_key']}] run 2/4 busy" in m for m in logs), logs
    by_key = {o.run_key: o for o in outcomes}
    assert logs.count(f"[{cfg['run_key']}] waiting for the other process running it") == 1
    if holder_ends == "killed":
        assert by_key[cfg["run_key"]].status == "completed"
        assert json.loads(run.status.read_text())["status"] == "completed"
    else:
        assert by_key[cfg["run_key"]].status == "skipped"
        assert by_key[cfg["run_key"]].message == "completed by another process"
        assert not run.epochs.exists()  # never trained here
    assert {o.status for k, o in by_key.items() if k != cfg["run_key"]} == {"completed"}
    assert_no_lock_holders(out)
