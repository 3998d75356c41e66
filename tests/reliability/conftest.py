"""Fixtures of the reliability suite; the helpers live in harness.py."""

from __future__ import annotations

import pytest
from harness import N_RUNS, SHARE_ENV, Baseline, make_cifar, read_records, report_cli, run_cli, write_toml


@pytest.fixture(autouse=True)
def plain_runner(monkeypatch):
    """In-process runs train every epoch themselves too (see harness.SHARE_ENV)."""
    monkeypatch.setenv(SHARE_ENV, "0")


@pytest.fixture(autouse=True, scope="session")
def _one_run_at_a_time():
    """The fault points these tests name count passes per process in grid order, so they describe
    one process training the runs one after another (``--workers 1``, the CLIs and the in-process
    calls alike); test_workers.py proves the same guarantees with ``--workers 2``."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ANNEALBENCH_WORKERS", "1")
    yield
    mp.undo()


@pytest.fixture(scope="session")
def baseline(tmp_path_factory) -> Baseline:
    """The uninterrupted pipeline, once per session: what every faulted run must end up equal to."""
    root = tmp_path_factory.mktemp("baseline")
    data = root / "data"
    make_cifar(data)
    study = write_toml(root / "rel.toml")
    out = root / "out"
    r = run_cli(study, out, data)
    assert r.returncode == 0, r.stderr
    rr = report_cli(out)
    assert rr.returncode == 0, rr.stderr
    df = read_records(out)
    assert set(df["status"].astype(str)) == {"completed"} and df["run_key"].nunique() == N_RUNS
    return Baseline(data, study, out, df, r.seconds)


@pytest.fixture
def fresh(baseline, tmp_path):
    """(study, data, out): the baseline's study and data, an empty output folder."""
    return baseline.study, baseline.data, tmp_path / "out"
