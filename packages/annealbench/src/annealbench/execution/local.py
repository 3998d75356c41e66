"""Where the runs of a grid execute: in this process, or as Ray tasks across a cluster.

Both executors call the same ``run_one`` on the same run directories, so everything the store
guarantees (per-run lock, atomic records, resume from checkpoint) holds whichever one runs a grid.
A Ray cluster needs ``--out`` on a filesystem every node sees (NFS, a shared volume); the data
folder must exist at the same path on every node, or be downloadable there.

Ray is an optional dependency (``pip install 'annealbench[ray]'``), imported only when chosen.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from annealbench.errors import AnnealbenchError
from annealbench.options import RunOptions, TrainOptions
from annealbench.tasks.prepare import prepare_data

if TYPE_CHECKING:
    from annealbench.sharing.plan import Share

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class TaskSpec:
    """What a worker needs to rebuild the study's data task on its own device."""
    dataset: str
    dataset_kwargs: dict
    data_dir: str | None
    batch_size: int


def make_task(spec: TaskSpec, device):
    from annealbench.tasks import make_task
    return make_task(spec.dataset, spec.dataset_kwargs,
                     data_dir=Path(spec.data_dir) if spec.data_dir else None,
                     device=device, batch_size=spec.batch_size)


def run_local(grid: list[dict], root: Path, task, opts: RunOptions, *, on_outcome, plan=None):
    """One run after another, each donor before its forks (``plan``: a prefix.Plan); a fork whose
    donor another process holds is left "busy" too, for finish_busy to take up after it."""
    from annealbench.sharing.plan import Plan
    from annealbench.store import RunDir
    from annealbench.training.runner import RunOutcome, run_one

    plan = plan or Plan()
    train = opts.train()
    outcomes = []
    status = {}
    for cfg in plan.order(grid):
        key = cfg["run_key"]
        donor = plan.after(cfg["run_key"])
        if status.get(donor) == "busy":
            o = RunOutcome(key, "busy", 0, f"its donor {donor} is running in another process")
        else:
            o = run_one(cfg, RunDir(root / "runs" / key), task, opts.device, train, plan.share(key))
        status[key] = o.status
        on_outcome(cfg, o)
        outcomes.append(o)
    return outcomes


# A Ray worker process is reused across tasks: keep its data set loaded between runs.
_WORKER_TASKS: dict = {}


def _ray_run(cfg: dict, root: str, spec: TaskSpec, device_type: str, train: TrainOptions,
             share: Share):
    import torch

    from annealbench.store import RunDir
    from annealbench.training.runner import run_one

    device = torch.device(device_type)
    key = json.dumps([asdict(spec), device_type], sort_keys=True)
    if key not in _WORKER_TASKS:
        _WORKER_TASKS.clear()  # one data set resident per worker, not one per study seen
        _WORKER_TASKS[key] = make_task(spec, device)
    # Worker stdout is forwarded to the driver by Ray, so the per-epoch log lines still appear.
    return run_one(cfg, RunDir(Path(root) / "runs" / cfg["run_key"]), _WORKER_TASKS[key], device,
                   replace(train, log=lambda m: print(m, flush=True)), share)


def _lost(cfg: dict, msg: str):
    from annealbench.training.runner import RunOutcome
    return RunOutcome(cfg["run_key"], "failed", 0, msg.splitlines()[0])


def run_ray(grid: list[dict], root: Path, spec: TaskSpec, opts: RunOptions, *, on_outcome, plan=None):
    from annealbench.sharing.plan import Plan

    plan = plan or Plan()
    device, log, train = opts.device, opts.log, opts.train().portable()
    try:
        import ray
    except ImportError:
        raise AnnealbenchError("--executor ray: Ray is not installed; pip install 'annealbench[ray]' "
                               "(or 'ray>=2.40')") from None
    started_here = not ray.is_initialized()
    if started_here:
        # every run's per-epoch line matters; Ray would otherwise fold "similar" lines together
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        ray.init(address=opts.ray.address, include_dashboard=False, log_to_driver=True,
                 configure_logging=False)
    try:
        resources = {"num_cpus": opts.cpus_per_run,
                     "num_gpus": opts.gpus_per_run if device.type == "cuda" else 0}
        remote = ray.remote(max_retries=0, **resources)(_ray_run)
        # once, here, before any task starts (nodes with a folder of their own prepare it under its lock)
        prepare_data(spec.dataset, spec.dataset_kwargs, spec.data_dir)
        pending = {}
        forks = {}

        def submit(cfg):
            pending[remote.remote(cfg, str(root), spec, device.type, train,
                                  plan.share(cfg["run_key"]))] = cfg

        for cfg in grid:  # a fork is submitted once its donor is done
            forks.setdefault(plan.after(cfg["run_key"]), []).append(cfg)
        for cfg in forks.pop(None, []):
            submit(cfg)
        log(f"ray: {len(grid)} runs submitted to {ray.cluster_resources().get('CPU', 0):g} CPUs, "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs")
        outcomes = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            cfg = pending.pop(done[0])
            try:
                o = ray.get(done[0])
            except ray.exceptions.RayTaskError as e:
                if isinstance(e.cause, AnnealbenchError):  # bad data or spec: the user's to fix
                    raise e.cause from None
                o = _lost(cfg, f"ray task raised {type(e.cause).__name__}: {e.cause}")
            except ray.exceptions.RayError as e:  # worker or node died: the run resumes next time
                o = _lost(cfg, type(e).__name__)
            on_outcome(cfg, o)
            outcomes.append(o)
            for fork in forks.pop(cfg["run_key"], []):
                submit(fork)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


def finish_busy(outcomes: list, grid: list[dict], root: Path, task, opts: RunOptions, *,
                share=None) -> list:
    """After a pass over the grid: wait for each run another process held ("busy"), then take
    what it wrote, or finish the run here if that process died. So a study invocation that
    returns 0 leaves every run of its grid finished, however many processes share the folder.
    ``share(run_key)``: run_one's sharing options (a prefix.Plan's). Returns the outcomes, each
    busy one replaced by what became of it."""
    from annealbench.sharing.plan import NO_SHARE
    from annealbench.store import RunDir
    from annealbench.training.runner import run_one

    by_key = {c["run_key"]: c for c in grid}
    log, train = opts.log, opts.train()
    done = []
    for o in outcomes:
        if o.status == "busy":
            log(f"[{o.run_key}] waiting for the other process running it")
            o = run_one(by_key[o.run_key], RunDir(Path(root) / "runs" / o.run_key), task, opts.device,
                        train, share(o.run_key) if share else NO_SHARE, wait=True)
            if o.status == "skipped":
                o.message = f"{o.message} by another process"
            log(f"[{o.run_key}] {o.status} ({o.message})" if o.message else f"[{o.run_key}] {o.status}")
        done.append(o)
    return done
