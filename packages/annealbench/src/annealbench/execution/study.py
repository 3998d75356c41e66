"""Run a whole study: write its resolved spec and environment, then every run of its grid."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from annealbench import devices
from annealbench.execution.local import RayOptions, TaskSpec, finish_busy, run_local, run_ray
from annealbench.execution.pool import run_pool
from annealbench.progress import Progress
from annealbench.sharing import plan as prefix
from annealbench.sharing.fork import prune, totals
from annealbench.spec.grid import expand
from annealbench.spec.load import Study
from annealbench.store import RunDir, atomic_write_json, now, read_json, remove_temps
from annealbench.training.runner import FINAL_STATUSES, RunOutcome

PACKAGES = ("annealbench", "torch", "torchvision", "numpy", "tqdm")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() + ("+dirty" if dirty else "")) if out.returncode == 0 else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return platform.processor() or "cpu"


def environment(device: torch.device) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"device": device.type, "device_name": _device_name(device), "torch": torch.__version__,
            "cuda": torch.version.cuda if device.type == "cuda" else None,
            **({"cuda_settings": devices.settings(device)} if device.type == "cuda" else {}),
            "python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def data_checksums(files, data_dir: Path | None) -> dict:
    out = {}
    for f in files:
        f = Path(f)
        try:
            name = str(f.relative_to(data_dir)) if data_dir else f.name
        except ValueError:
            name = str(f)
        out[name] = _sha256(f)
    return out


def run_study(study: Study, out: Path, device: torch.device, data_dir: Path | None, *,
              log=print, progress: bool = False, dry_run: bool = False, executor: str = "local",
              ray_options: RayOptions | None = None, wait_for_busy: bool = False,
              share_prefix: bool | None = None, workers: int = 1,
              threads: int | None = None, root: Path | None = None, display: str = "off",
              verbose: bool = False) -> list[RunOutcome]:
    """Train every run of the study's grid that is not finished yet, here, in ``workers`` local
    processes of ``threads`` threads each (annealbench.execution.pool), or on a Ray cluster.

    ``dry_run`` trains each (optimizer, schedule) arm for two steps of one epoch in a temporary
    directory, in this process: a check that data, models and schedules fit together, writing
    nothing under ``out``.
    ``share_prefix``: True/False forces shared prefixes on/off (default: annealbench.sharing.plan.mode).
    ``root``: the study's folder (default ``out/<name>``; a tuning budget's runs go elsewhere, so
    that they never mix into the judged study's records).
    ``display``/``verbose``: how progress is shown (annealbench.progress; "off": every line).
    """
    from annealbench.tasks import make_task

    grid = expand(study, device.type)
    if not dry_run:
        done = _all_finished(grid, Path(out) / study.name)
        if done is not None:  # nothing to train: the data set is not needed, nor loaded
            log(f"{study.name}: {len(grid)} skipped (every run of the {study.budget} budget is "
                "finished: nothing to train, the data set is not loaded)")
            return done
    share = "off" if dry_run else prefix.mode(device.type, share_prefix)
    if dry_run:
        first = {(c["optimizer"], c["schedule"]): c for c in reversed(grid)}
        grid = list(first.values())
        tmp = tempfile.TemporaryDirectory(prefix="annealbench-dry-run-")
        root = Path(tmp.name) / study.name
    else:
        root = Path(root) if root is not None else Path(out) / study.name

    def load(on: torch.device):
        return make_task(study.dataset, study.dataset_kwargs, data_dir=data_dir, device=on,
                         batch_size=study.batch_size)

    # With Ray or a pool the workers load their own copies; the driver's (checksums, a run taken
    # over from a dead process) stays off the GPU the workers share until it is needed there.
    pool = executor == "local" and workers > 1 and not dry_run
    started = now()
    t0 = time.perf_counter()
    here: dict = {}
    shown = Progress(study.name, grid, root, mode=display, verbose=verbose, out=log)
    log = shown.log

    def prepare() -> prefix.Plan:
        """Load the data (checksums, steps per epoch), plan shared prefixes, write study.json and
        meta.json: in a pool, while the workers start."""
        task = load(torch.device("cpu") if executor == "ray" or pool else device)
        plan = prefix.plan(grid, task.steps_per_epoch(), share)
        here.update(task=task, plan=plan, meta=_meta(study, grid, root, device, task, plan, data_dir,
                                                     started, dry_run, executor, pool, workers,
                                                     threads))
        log(f"{study.name}: {len(grid)} runs ({study.budget} budget) on "
            f"{here['meta']['device_name']} -> {root}")
        return plan

    seen = []

    def on_outcome(cfg, outcome):
        seen.append(outcome)
        shown.finished(cfg["run_key"], outcome.status, outcome.message)
        if outcome.status == "busy" or (outcome.status == "skipped" and display == "off"):
            log(f"[{cfg['run_key']}] run {len(seen)}/{len(grid)} {outcome.status} ({outcome.message})")

    limits = {"max_steps": 2 if dry_run else None, "max_epochs": 1 if dry_run else None}
    spec = TaskSpec(study.dataset, dict(study.dataset_kwargs),
                    str(data_dir) if data_dir else None, study.batch_size)
    try:
        if pool:
            outcomes = run_pool(grid, root, spec, device, workers, threads or torch.get_num_threads(),
                                log=log, on_outcome=on_outcome, prepare=prepare, **limits)
        elif executor == "ray":
            outcomes = run_ray(grid, root, spec, device, ray_options or RayOptions(), log=log,
                               on_outcome=on_outcome, plan=prepare(), **limits)
        else:
            plan = prepare()
            outcomes = run_local(grid, root, here["task"], device, log=log, progress=progress,
                                 on_outcome=on_outcome, plan=plan, **limits)
        task = here["task"]
        plan = here["plan"]
        meta = here["meta"]
        if wait_for_busy and not dry_run:  # runs another process held: wait, take its result or finish
            if any(o.status == "busy" for o in outcomes) and task.device != device:
                task = load(device)
            outcomes = finish_busy(outcomes, grid, root, task, device, log=log, progress=progress,
                                   options=plan.options)
    finally:
        shown.close()  # the live line ends before the summary
    at = {c["run_key"]: i for i, c in enumerate(grid)}
    outcomes.sort(key=lambda o: at[o.run_key])  # grid order, whatever order they ran in
    counts = Counter(o.status for o in outcomes)
    meta.update(finished_at=now(), wall_time_s=round(time.perf_counter() - t0, 2),
                outcomes=dict(counts))
    # every call that built this folder, so that a report can sum them (wall_time_s is this call's)
    meta["calls"] = [*meta.get("calls", []), {k: meta[k] for k in CALL_KEYS}]
    if not dry_run:
        prune(root, plan)
        meta["prefix"] = totals(root, grid, plan)
        atomic_write_json(root / "meta.json", meta)
    else:
        tmp.cleanup()
    log(f"{study.name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + f" in {meta['wall_time_s']:.1f} s")
    return outcomes


CALL_KEYS = ("budget", "started_at", "finished_at", "wall_time_s", "outcomes")


def earlier_calls(before: dict) -> list[dict]:
    """The calls a previous meta.json lists; one written before calls were listed gives its own
    finished call, if it finished."""
    if isinstance(before.get("calls"), list):
        return before["calls"]
    if before.get("wall_time_s") is None:
        return []
    return [{k: before.get(k) for k in CALL_KEYS}]


def _all_finished(grid, root: Path) -> list[RunOutcome] | None:
    """Every run's outcome as "skipped" when all of them are finished, else None."""
    done = []
    for cfg in grid:
        st = RunDir(root / "runs" / cfg["run_key"]).finished()
        if (st or {}).get("status") not in FINAL_STATUSES:
            return None
        done.append(RunOutcome(cfg["run_key"], "skipped", 0, st["status"]))
    return done


def _meta(study: Study, grid, root: Path, device, task, plan, data_dir, started, dry_run, executor,
          pool, workers, threads) -> dict:
    """meta.json of this invocation, written (with study.json) unless it is a dry run."""
    meta = {"study": study.name, "budget": study.budget, "spec_file": study.file,
            "spec_sha256": study.spec_sha256, "command": shlex.join(sys.argv),
            "started_at": started, "finished_at": None, "wall_time_s": None,
            "git_commit": git_commit(Path(study.file).resolve().parent),
            # a dry run writes no meta.json: no reason to hash the whole data set for it
            "data_checksums": {} if dry_run else data_checksums(task.data_files(), data_dir),
            "runs_planned": len(grid), **environment(device), "prefix": totals(root, grid, plan),
            "precision": {"requested": study.precision,
                          "resolved": sorted({c["precision"] for c in grid})},
            "engine": {"executor": "pool" if pool else executor, "workers": workers if pool else 1,
                       "threads": None if executor == "ray" else threads or torch.get_num_threads()},
            # the report keeps only these: runs of an earlier budget or edited spec stay on disk
            # (nothing computed is lost) but do not mix into this study's table
            "run_keys": sorted(c["run_key"] for c in grid)}
    if not dry_run:
        previous = root / "meta.json"
        if previous.exists():  # several invocations can build one study; keep its first start
            try:
                before = read_json(previous)
                meta["first_started_at"] = before.get("first_started_at", started)
                meta["calls"] = earlier_calls(before)
            except (OSError, ValueError):
                meta["first_started_at"] = started
        else:
            meta["first_started_at"] = started
        remove_temps(root)  # study.json/meta.json temp files of a killed invocation
        atomic_write_json(root / "study.json", study.to_dict())
        atomic_write_json(root / "meta.json", meta)
    return meta
