"""The Ray executor trains the same grid into the same store as the local one, with the same numbers."""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import pytest
import torch

from annealbench.executors import RayOptions
from annealbench.spec import load_study
from annealbench.study import run_study

CPU = torch.device("cpu")


def _rows(run_dir: Path) -> list[tuple]:
    rows = []
    for f in sorted((run_dir / "epochs").glob("*.csv")):
        with open(f, newline="") as fh:
            rows += [(r["epoch"], r["step"], r["split"], r["metric"], r["value"], r["lr"])
                     for r in csv.DictReader(fh) if r["metric"] != "throughput"]
    return rows


@contextlib.contextmanager
def _one_thread():
    # Each Ray worker computes with one intra-op thread; so does the local reference, for equal sums.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _ray_cluster(ray, **env):
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", **env}})
    try:
        yield
    finally:
        ray.shutdown()


def _tiny(write_study):
    return load_study(write_study(replace={"seeds = [0, 1]": "seeds = [3]", "epochs = 3": "epochs = 2"}))


def _assert_same_records(local, tmp_path):
    for o in local:
        a = _rows(tmp_path / "local" / "tiny" / "runs" / o.run_key)
        b = _rows(tmp_path / "ray" / "tiny" / "runs" / o.run_key)
        assert a and a == b, o.run_key


@pytest.mark.timeout(240)
def test_ray_executor_matches_local_and_resumes(write_study, tmp_path):
    ray = pytest.importorskip("ray")
    study = _tiny(write_study)
    logs = []
    with _one_thread():
        local = run_study(study, tmp_path / "local", CPU, None, log=lambda m: None)
        with _ray_cluster(ray):
            remote = run_study(study, tmp_path / "ray", CPU, None, log=logs.append, executor="ray",
                               ray_options=RayOptions(cpus_per_run=1))
            again = run_study(study, tmp_path / "ray", CPU, None, log=logs.append, executor="ray")

    assert sorted(o.status for o in remote) == ["completed"] * len(local)
    assert [o.status for o in again] == ["skipped"] * len(local)
    assert any(m.startswith("ray: 4 runs submitted") for m in logs)
    _assert_same_records(local, tmp_path)


def test_ray_missing_is_a_user_error(write_study, tmp_path, monkeypatch):
    import builtins

    from annealbench.errors import AnnealbenchError

    real_import = builtins.__import__

    def no_ray(name, *a, **kw):
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name)
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    study = load_study(write_study())
    with pytest.raises(AnnealbenchError, match="pip install 'annealbench\\[ray\\]'"):
        run_study(study, tmp_path / "out", CPU, None, log=lambda m: None, executor="ray")


@pytest.mark.timeout(240)
def test_a_dead_ray_worker_fails_its_run_and_the_next_invocation_resumes_it(write_study, tmp_path):
    ray = pytest.importorskip("ray")
    study = _tiny(write_study)
    with _one_thread():
        local = run_study(study, tmp_path / "local", CPU, None, log=lambda m: None)
        # every worker SIGKILLs itself at its 6th step: mid-epoch 2, after epoch 1's checkpoint
        with _ray_cluster(ray, ANNEALBENCH_FAULT="kill:train-step:6"):
            died = run_study(study, tmp_path / "ray", CPU, None, log=lambda m: None, executor="ray")
        unfinished = [not (tmp_path / "ray" / "tiny" / "runs" / o.run_key / "status.json").exists()
                      for o in died]
        resumed = run_study(study, tmp_path / "ray", CPU, None, log=lambda m: None)

    assert [o.status for o in died] == ["failed"] * len(local)
    assert all(unfinished)  # no final status on disk: the next invocation picks them up
    assert [o.status for o in resumed] == ["completed"] * len(local)
    assert all(o.epochs_trained == 1 for o in resumed)  # epoch 1 was kept, only epoch 2 redone
    _assert_same_records(local, tmp_path)
