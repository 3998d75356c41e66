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
from dataclasses import replace
from pathlib import Path

import torch

from annealbench import devices
from annealbench.execution.local import TaskSpec, finish_busy, run_local, run_ray
from annealbench.execution.pool import run_pool
from annealbench.options import RunOptions
from annealbench.progress import Progress
from annealbench.sharing import plan as prefix
from annealbench.sharing.fork import prune, totals
from annealbench.spec import measured
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


def run_study(study: Study, opts: RunOptions, *, root: Path | None = None) -> list[RunOutcome]:
    """Train every run of the study's grid that is not finished yet, as ``opts`` (resolved: see
    annealbench.options) says: here, in ``opts.workers`` local processes of ``opts.threads``
    threads each (annealbench.execution.pool), or on a Ray cluster.

    ``opts.dry_run`` trains each (optimizer, schedule) arm for two steps of one epoch in a
    temporary directory, in this process: a check that data, models and schedules fit together,
    writing nothing under ``opts.out``.
    ``root``: the study's folder (default ``out/<name>``; a tuning budget's runs go elsewhere, so
    that they never mix into the judged study's records).
    """
    grid = expand(study, opts.device.type)
    if not opts.dry_run:
        done = _all_finished(grid, Path(opts.out) / study.name)
        if done is not None:  # nothing to train: the data set is not needed, nor loaded
            opts.log(f"{study.name}: {len(grid)} skipped (every run of the {study.budget} budget is "
                     "finished: nothing to train, the data set is not loaded)")
            return done
    share = "off" if opts.dry_run else prefix.mode(opts.device.type, opts.share_prefix)
    if not opts.dry_run:
        root = Path(root) if root is not None else Path(opts.out) / study.name
        return _Invocation(study, grid, root, opts, share).run()
    first = {(c["optimizer"], c["schedule"]): c for c in reversed(grid)}
    with tempfile.TemporaryDirectory(prefix="annealbench-dry-run-") as tmp:
        return _Invocation(study, list(first.values()), Path(tmp) / study.name, opts, share).run()


class _Invocation:
    """One ``run_study`` call past its checks: the grid, its folder, the options (their log
    going through the progress display), and what the set-up loaded (task, plan, meta.json)."""

    def __init__(self, study: Study, grid: list[dict], root: Path, opts: RunOptions, share: str):
        self.study, self.grid, self.root, self.share = study, grid, root, share
        self.started = now()
        self.t0 = time.perf_counter()
        self.shown = Progress(study.name, grid, root, mode=opts.display, verbose=opts.verbose,
                              out=opts.log)
        self.opts = replace(opts, log=self.shown.log)
        self.task = self.plan = self.meta = None
        self.seen: list[RunOutcome] = []

    def load(self, on: torch.device):
        from annealbench.tasks import make_task

        study = self.study
        return make_task(study.dataset, study.dataset_kwargs, data_dir=self.opts.data_dir, device=on,
                         batch_size=study.batch_size)

    def prepare(self) -> prefix.Plan:
        """Load the data (checksums, steps per epoch), plan shared prefixes, write study.json and
        meta.json: in a pool, while the workers start. With Ray or a pool the workers load their
        own copies; this one (checksums, a run taken over from a dead process) stays off the GPU
        the workers share until it is needed there."""
        opts = self.opts
        self.task = self.load(torch.device("cpu") if opts.executor == "ray" or opts.pool
                              else opts.device)
        self.plan = prefix.plan(self.grid, self.task.steps_per_epoch(), self.share)
        self.meta = _meta(self.study, self.grid, self.root, opts, self.task, self.plan, self.started)
        opts.log(f"{self.study.name}: {len(self.grid)} runs ({self.study.budget} budget) on "
                 f"{self.meta['device_name']} -> {self.root}")
        to_train = self.plan.epochs_total() - self.plan.epochs_shared()
        expected = None if opts.dry_run else measured.expected_line(self.study, to_train)
        if expected:
            self.shown.predicted = measured.expected_seconds(self.study.measured, to_train)
            opts.log(expected)
        return self.plan

    def on_outcome(self, cfg: dict, outcome: RunOutcome) -> None:
        self.seen.append(outcome)
        if outcome.status in TRAINED and self.meta is not None and not self.opts.dry_run:
            self.record_so_far()
        self.shown.finished(cfg["run_key"], outcome.status, outcome.message)
        if outcome.status == "busy" or (outcome.status == "skipped" and self.opts.display == "off"):
            self.opts.log(f"[{cfg['run_key']}] run {len(self.seen)}/{len(self.grid)} {outcome.status} "
                          f"({outcome.message})")

    def record_so_far(self) -> None:
        """meta.json with this call listed as it stands (``finished_at`` null): a call killed
        before its end (a machine reclaimed, a job's time limit) keeps its time up to its last
        finished run, which the next call's list and the report's summed wall time carry on."""
        so_far = {**{k: self.meta.get(k) for k in CALL_KEYS},  # finished_at: still null
                  "wall_time_s": round(time.perf_counter() - self.t0, 2),
                  "outcomes": dict(Counter(o.status for o in self.seen))}
        atomic_write_json(self.root / "meta.json",
                          {**self.meta, "calls": [*self.meta.get("calls", []), so_far]})

    def run(self) -> list[RunOutcome]:
        try:
            outcomes = self.execute()
        finally:
            self.shown.close()  # the live line ends before the summary
        return self.finish(outcomes)

    def execute(self) -> list[RunOutcome]:
        """Every run through the chosen executor, then (``opts.wait``) those another process held."""
        grid, root, opts, study = self.grid, self.root, self.opts, self.study
        if opts.pool or opts.executor == "ray":
            spec = TaskSpec(study.dataset, dict(study.dataset_kwargs),
                            str(opts.data_dir) if opts.data_dir else None, study.batch_size)
        if opts.pool:
            outcomes = run_pool(grid, root, spec, opts, on_outcome=self.on_outcome, prepare=self.prepare)
        elif opts.executor == "ray":
            outcomes = run_ray(grid, root, spec, opts, on_outcome=self.on_outcome, plan=self.prepare())
        else:
            plan = self.prepare()
            outcomes = run_local(grid, root, self.task, opts, on_outcome=self.on_outcome, plan=plan)
        if not opts.wait or opts.dry_run:
            return outcomes
        task = self.task  # runs another process held: wait, take its result or finish them here
        if any(o.status == "busy" for o in outcomes) and task.device != opts.device:
            task = self.load(opts.device)
        return finish_busy(outcomes, grid, root, task, opts, share=self.plan.share)

    def finish(self, outcomes: list[RunOutcome]) -> list[RunOutcome]:
        """Outcomes in grid order, whatever order they ran in; meta.json completed; a summary line."""
        at = {c["run_key"]: i for i, c in enumerate(self.grid)}
        outcomes.sort(key=lambda o: at[o.run_key])
        counts = Counter(o.status for o in outcomes)
        meta = self.meta
        meta.update(finished_at=now(), wall_time_s=round(time.perf_counter() - self.t0, 2),
                    outcomes=dict(counts))
        # every call that built this folder, so that a report can sum them (wall_time_s is this call's)
        meta["calls"] = [*meta.get("calls", []), {k: meta[k] for k in CALL_KEYS}]
        if not self.opts.dry_run:
            prune(self.root, self.plan)
            meta["prefix"] = totals(self.root, self.grid, self.plan)
            atomic_write_json(self.root / "meta.json", meta)
        self.opts.log(f"{self.study.name}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                      + f" in {meta['wall_time_s']:.1f} s")
        return outcomes


CALL_KEYS = ("budget", "started_at", "finished_at", "wall_time_s", "outcomes")
TRAINED = (*FINAL_STATUSES, "failed")  # outcomes that took training time (not skipped, busy)


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


def _meta(study: Study, grid, root: Path, opts: RunOptions, task, plan, started: str) -> dict:
    """meta.json of this invocation, written (with study.json) unless it is a dry run."""
    meta = {"study": study.name, "budget": study.budget, "spec_file": study.file,
            "spec_sha256": study.spec_sha256, "command": shlex.join(sys.argv),
            "started_at": started, "finished_at": None, "wall_time_s": None,
            "git_commit": git_commit(Path(study.file).resolve().parent),
            # a dry run writes no meta.json: no reason to hash the whole data set for it
            "data_checksums": {} if opts.dry_run else data_checksums(task.data_files(), opts.data_dir),
            "runs_planned": len(grid), **environment(opts.device), "prefix": totals(root, grid, plan),
            "precision": {"requested": study.precision,
                          "resolved": sorted({c["precision"] for c in grid})},
            "engine": {"executor": "pool" if opts.pool else opts.executor,
                       "workers": opts.workers if opts.pool else 1,
                       "threads": None if opts.executor == "ray"
                       else opts.threads or torch.get_num_threads()},
            # the report keeps only these: runs of an earlier budget or edited spec stay on disk
            # (nothing computed is lost) but do not mix into this study's table
            "run_keys": sorted(c["run_key"] for c in grid)}
    if not opts.dry_run:
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
