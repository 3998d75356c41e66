"""Resource hygiene: after a run and after a failure, no leaked child processes, temp files, open
file handles or held run locks (checked through /proc)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from harness import assert_no_lock_holders, copy_out, report_cli, run_cli, temp_files
from testkit import child_pids

from annealbench.errors import StoreError
from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.load import load_study


def _fds() -> dict[int, str]:
    out = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            out[int(fd)] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the fd listdir itself used, now closed
            pass
    return out


@pytest.fixture(scope="module")
def warm(baseline, tmp_path_factory):
    """One study run first, so lazy imports and data caches do not count as leaks."""
    run_study(load_study(baseline.study, "quick"),
              RunOptions(tmp_path_factory.mktemp("warm"), torch.device("cpu"), baseline.data,
                         log=lambda m: None))


@pytest.mark.parametrize("fault", [None, "oom:train-step:3", "enospc:epoch-write:4"])
def test_in_process_study_leaves_no_handles_children_or_temp_files(baseline, warm, tmp_path, monkeypatch,
                                                                  fault):
    study = load_study(baseline.study, "quick")
    out = tmp_path / "out"
    cpu = torch.device("cpu")
    before, kids = _fds(), child_pids()
    if fault:
        monkeypatch.setenv("ANNEALBENCH_FAULT", fault)
    try:
        outcomes = run_study(study, RunOptions(out, cpu, baseline.data, log=lambda m: None, wait=True))
    except StoreError:
        assert fault.startswith("enospc")
    else:
        assert {o.status for o in outcomes} <= {"completed", "failed"}
        assert ("failed" in {o.status for o in outcomes}) == bool(fault)
    after = _fds()
    assert after == before, {fd: p for fd, p in after.items() if before.get(fd) != p}
    assert child_pids() == kids
    assert temp_files(out) == []
    assert_no_lock_holders(out)


def test_in_process_report_failure_leaves_no_handles(baseline, warm, tmp_path, capsys):
    from annealbench_report.cli import main as report_main

    out = copy_out(baseline, tmp_path / "out")
    assert report_main(["build", "--out", str(out)]) == 0  # warm: imports, fonts
    records = out / "rel" / "records.parquet"
    shutil.rmtree(out / "rel" / "runs")
    records.write_bytes(records.read_bytes()[:200])
    before, kids = _fds(), child_pids()
    assert report_main(["build", "--out", str(out)]) == 2
    assert "cannot read records" in capsys.readouterr().err
    assert _fds() == before and child_pids() == kids
    assert temp_files(out) == []


def test_cli_processes_leave_nothing_behind(baseline, tmp_path):
    """A failing and a succeeding CLI process: cli() asserts nothing of their session survives."""
    out = tmp_path / "out"
    r = run_cli(baseline.study, out, baseline.data, fault="enospc:checkpoint-write:3")
    assert r.returncode == 2 and "No space left on device" in r.stderr
    assert temp_files(out) == []
    assert_no_lock_holders(out)
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    assert temp_files(out) == []
