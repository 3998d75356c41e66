"""The Ray executor and the local pool train the same grid into the same store as the one-at-a-time
executor, with the same numbers; the pool honours a prefix plan's ``after`` and ``options``."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import torch
from testkit import run_rows

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.sharing.plan import NO_SHARE, Share
from annealbench.spec.load import load_study

CPU = torch.device("cpu")


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
        a = run_rows(tmp_path / "local" / "tiny" / "runs" / o.run_key)
        b = run_rows(tmp_path / "ray" / "tiny" / "runs" / o.run_key)
        assert a and a == b, o.run_key


@pytest.mark.timeout(240)
def test_ray_executor_matches_local_and_resumes(write_study, tmp_path):
    ray = pytest.importorskip("ray")
    study = _tiny(write_study)
    logs = []
    with _one_thread():
        local = run_study(study, RunOptions(tmp_path / "local", CPU, None, log=lambda m: None))
        with _ray_cluster(ray):
            remote = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=logs.append, executor="ray",
                                                 cpus_per_run=1))
            again = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=logs.append, executor="ray"))

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
        run_study(study, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None, executor="ray"))


@pytest.mark.timeout(240)
def test_a_dead_ray_worker_fails_its_run_and_the_next_invocation_resumes_it(write_study, tmp_path):
    ray = pytest.importorskip("ray")
    study = _tiny(write_study)
    with _one_thread():
        local = run_study(study, RunOptions(tmp_path / "local", CPU, None, log=lambda m: None))
        # every worker SIGKILLs itself at its 6th step: mid-epoch 2, after epoch 1's checkpoint
        with _ray_cluster(ray, ANNEALBENCH_FAULT="kill:train-step:6"):
            died = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=lambda m: None,
                                               executor="ray"))
        unfinished = [not (tmp_path / "ray" / "tiny" / "runs" / o.run_key / "status.json").exists()
                      for o in died]
        resumed = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=lambda m: None))

    assert [o.status for o in died] == ["failed"] * len(local)
    assert all(unfinished)  # no final status on disk: the next invocation picks them up
    assert [o.status for o in resumed] == ["completed"] * len(local)
    assert all(o.epochs_trained == 1 for o in resumed)  # epoch 1 was kept, only epoch 2 redone
    _assert_same_records(local, tmp_path)


# --- the local pool (annealbench.execution.pool) ------------------------------------------------------------

@pytest.fixture
def workers_env(monkeypatch):
    """Worker processes reuse compiled bytecode, as the reliability harness's CLIs do."""
    import os
    import tempfile
    monkeypatch.setenv("PYTHONPYCACHEPREFIX",
                       str(Path(tempfile.gettempdir()) / f"annealbench-test-pycache-{os.getuid()}"))
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("ANNEALBENCH_FAULT", raising=False)


class _Plan:
    """The interface the prefix planner implements: after(run_key) and share(run_key)."""

    def __init__(self, after: dict, shares: dict):
        self._after, self._shares = after, shares

    def after(self, key):
        return self._after.get(key)

    def share(self, key):
        return self._shares.get(key, NO_SHARE)


def _pool(study, grid, root, plan=None, workers=2):
    from annealbench.execution.local import TaskSpec
    from annealbench.execution.pool import run_pool

    spec = TaskSpec(study.dataset, dict(study.dataset_kwargs), None, study.batch_size)
    seen = []
    outcomes = run_pool(grid, root, spec, RunOptions(device=CPU, workers=workers, threads=1,
                                                     log=lambda m: None),
                        on_outcome=lambda c, o: seen.append(o.run_key), plan=plan)
    return outcomes, seen


@pytest.mark.timeout(240)
def test_pool_matches_one_at_a_time_and_skips_finished(write_study, tmp_path, workers_env):
    study = _tiny(write_study)
    with _one_thread():
        local = run_study(study, RunOptions(tmp_path / "local", CPU, None, log=lambda m: None))
    pooled = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=lambda m: None, workers=2,
                                         threads=1))
    assert [o.status for o in pooled] == ["completed"] * len(local)
    assert [o.run_key for o in pooled] == [o.run_key for o in local]  # grid order
    _assert_same_records(local, tmp_path)
    meta = json.loads((tmp_path / "ray" / "tiny" / "meta.json").read_text())
    assert meta["engine"] == {"executor": "pool", "workers": 2, "threads": 1}
    logs = []
    again = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=logs.append, workers=2, threads=1))
    assert [o.status for o in again] == ["skipped"] * len(local)
    assert not any(m.startswith("pool:") for m in logs)  # nothing to train: no worker started


@pytest.mark.timeout(240)
def test_pool_starts_a_run_after_the_one_it_waits_for_and_passes_its_options(write_study, tmp_path,
                                                                             workers_env):
    from annealbench.spec.grid import expand

    study = _tiny(write_study)
    grid = expand(study, "cpu")  # constant, step, onecycle, plateau
    k = [c["run_key"] for c in grid]
    # the first run in grid order waits for the last: a donor placed last starts first
    plan = _Plan({k[0]: k[3], k[2]: k[1]}, {k[0]: Share(keep_epochs=(1,))})
    root = tmp_path / "out"
    outcomes, seen = _pool(study, grid, root, plan)
    assert [o.status for o in outcomes] == ["completed"] * 4
    run = {key: root / "runs" / key for key in k}
    for fork, donor in ((k[0], k[3]), (k[2], k[1])):
        assert seen.index(donor) < seen.index(fork)
        started = (run[fork] / "epochs" / "00000.csv").stat().st_mtime_ns
        assert started >= (run[donor] / "status.json").stat().st_mtime_ns
    assert sorted(p.name for p in (run[k[0]] / "prefix").iterdir()) == ["00001.pt"]  # as it was told
    assert not (run[k[2]] / "prefix").exists()  # told nothing: keeps nothing


@pytest.mark.timeout(240)
def test_a_run_whose_donor_another_process_holds_is_busy(write_study, tmp_path, workers_env):
    import subprocess
    import sys

    from annealbench.spec.grid import expand
    from annealbench.store import RunDir

    study = _tiny(write_study)
    grid = expand(study, "cpu")
    k = [c["run_key"] for c in grid]
    root = tmp_path / "out"
    donor = RunDir(root / "runs" / k[1])
    donor.root.mkdir(parents=True)
    hold = ("import fcntl, os, sys, time\nfd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(donor.lock_file)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        outcomes, _ = _pool(study, grid, root, _Plan({k[2]: k[1]}, {}))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    by = {o.run_key: o for o in outcomes}
    assert by[k[1]].status == "busy"
    assert by[k[2]].status == "busy" and by[k[2]].message == \
        f"its donor {k[1]} is running in another process"
    assert not (root / "runs" / k[2]).exists()  # never started here: finish_busy takes it up
    assert {by[k[0]].status, by[k[3]].status} == {"completed"}


def test_queue_dispatches_donors_first_and_only_ready_runs():
    from annealbench.execution.pool import _Queue

    grid = [{"run_key": key} for key in "abcd"]
    q = _Queue(grid, {"a", "b", "c", "d", "x"}, _Plan({"a": "d", "b": "x", "c": "zzz"},
                                                       {"c": {"fork": 1}}))
    assert [c["run_key"] for c in q.pending] == ["d", "a", "b", "c"]  # d: a donor
    assert q.take() == ({"run_key": "d"}, NO_SHARE)
    assert q.take() == ({"run_key": "c"}, {"fork": 1})  # a: waits for d, b: for x; zzz: no such run
    assert q.take() is None
    q.done("x", "busy")
    assert q.blocked() == [{"run_key": "b"}] and q.take() is None
    q.done("d", "failed")  # any outcome releases the runs waiting for it
    assert q.take() == ({"run_key": "a"}, NO_SHARE)


@pytest.mark.timeout(240)
def test_a_plan_with_a_cycle_is_refused(write_study, tmp_path, workers_env):
    from annealbench.spec.grid import expand

    study = _tiny(write_study)
    grid = expand(study, "cpu")[:2]
    k = [c["run_key"] for c in grid]
    with pytest.raises(RuntimeError, match="wait for each other in a cycle"):
        _pool(study, grid, tmp_path / "out", _Plan({k[0]: k[1], k[1]: k[0]}, {}), workers=1)


def _take_all(queue, workers: int) -> list[list[dict]]:
    """Dispatch as the pool does with ``workers`` processes, each run finishing in the order it
    started; the finished runs after each outcome (where an interruption could fall)."""
    running, done, states = [], [], []
    while queue.pending or running:
        while len(running) < workers and (job := queue.take()) is not None:
            running.append(job[0])
        cfg = running.pop(0)
        queue.done(cfg["run_key"], "completed")
        done.append(cfg)
        states.append(list(done))
    return states


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_runs_go_seed_major_so_an_interrupted_study_holds_whole_seeds(root, workers):
    """Every seed's runs (donors first within it) before the next seed's, in the pool's dispatch
    and the one-at-a-time order alike: wherever the study stops, its finished runs are whole
    seeds plus those of at most ``workers`` seeds in progress, not a few runs of every seed."""
    from annealbench.execution.pool import _Queue
    from annealbench.sharing import plan as prefix
    from annealbench.spec.grid import expand

    study = load_study(root / "experiments" / "cifar10-cnn.toml", "short")
    grid = expand(study, "cpu")
    plan = prefix.plan(grid, 1, prefix.mode("cpu", None))
    assert plan.forks  # shared prefixes: donors the queue moves forward
    seeds = [c["seed"] for c in plan.order(grid)]
    assert seeds == sorted(seeds)
    per_seed = len(grid) // len(study.seeds)
    states = _take_all(_Queue(grid, {c["run_key"] for c in grid}, plan), workers)
    assert len(states[-1]) == len(grid)
    for done in states:
        count = {s: sum(c["seed"] == s for c in done) for s in study.seeds}
        whole = [s for s in study.seeds if count[s] == per_seed]
        assert whole == list(study.seeds[:len(whole)])  # the first seeds, in order
        assert len([s for s in study.seeds if 0 < count[s] < per_seed]) <= workers


def test_run_options_cross_to_another_process_when_print_is_wrapped(monkeypatch):
    """Libraries (Ray's log forwarding among them) wrap builtins.print; the options sent to a
    worker must still pickle, so they carry no callable of this process."""
    import builtins
    import pickle

    from annealbench.options import TrainOptions

    real = builtins.print
    monkeypatch.setattr(builtins, "print", lambda *a, **k: real(*a, **k))
    sent = pickle.loads(pickle.dumps(TrainOptions(log=real, max_steps=3).portable()))
    assert sent.log is None and sent.max_steps == 3 and not sent.progress
