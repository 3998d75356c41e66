"""The local parallel executor: N worker processes on this machine train the runs of one grid.

Each worker is a fresh interpreter (the "spawn" start method: never a fork of a process whose
torch thread pools are running), sets its intra-op threads, loads the study's data once and then
trains one run at a time through the same ``runner.run_one`` on the same run store as the other
executors, so the per-run lock, atomic records, resume and skip-finished hold as they do there,
and a run's records do not depend on which process trained it (at the same thread count).

This process only dispatches: a run goes to an idle worker when the run ``plan.after`` names has
an outcome (a fork whose donor another process holds is reported "busy", as the local executor
does, for ``finish_busy`` to take up), seed by seed and donors first within a seed. Log lines
come back through each worker's pipe and are logged here.

Nothing outlives this process: each worker asks the kernel for SIGTERM when its parent dies
(PR_SET_PDEATHSIG; a watchdog thread where prctl is missing) and turns SIGTERM into an exit that
unwinds like Ctrl-C (the run's temp file removed, its lock released, no status written: the run
resumes next time). On an exception or interrupt here the workers are terminated and joined.
A worker that dies (SIGKILL, the OOM killer) fails the run it held, with no status on disk, so the
next invocation resumes it, and a new worker takes its place. A worker whose CUDA context broke
(runner.DeviceLost) reports its run as failed and exits: a new worker gets a fresh context.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
from multiprocessing.connection import wait
from pathlib import Path

from annealbench.errors import AnnealbenchError, DataError, StoreError
from annealbench.execution.local import TaskSpec
from annealbench.execution.worker import Done, Failure, Job, Log, Ready, Retire, Start, Stop
from annealbench.options import RunOptions
from annealbench.sharing.plan import NO_SHARE
from annealbench.store import RunDir
from annealbench.tasks.prepare import prepare_data
from annealbench.training.runner import FINAL_STATUSES, RunOutcome

_ERRORS = {"StoreError": StoreError, "DataError": DataError}
# The worker's first lines use only the standard library: it takes the parent's sys.path (as the
# "spawn" start method does) before it imports annealbench. Not multiprocessing.Process itself:
# its spawn start also starts a resource-tracker process that would outlive the pool. Ctrl-C
# reaches the workers too (one process group); they leave it to the parent, which stops them
# with SIGTERM, the one way a worker is ever stopped.
_BOOT = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
         "from multiprocessing.connection import Connection\n"
         "conn = Connection(int(sys.argv[1]))\nsys.path[:] = conn.recv()\n"
         "from annealbench.execution.worker import serve\nserve(conn)\n")


class _Queue:
    """Runs not yet dispatched, and which of them may start (``plan.after`` has an outcome).

    Seed-major, as the grid: every run of the first seed before any of the next, so an
    interrupted study holds whole paired seeds; within a seed, donors first so that their forks
    are not kept waiting (a prefix plan shares only between runs of one seed)."""

    def __init__(self, todo: list[dict], known: set[str], plan):
        self.after = {c["run_key"]: plan.after(c["run_key"]) if plan else None for c in todo}
        donors = set(self.after.values())
        order = {c["run_key"]: i for i, c in enumerate(todo)}
        seeds: dict = {}
        for c in todo:
            seeds.setdefault(c.get("seed"), len(seeds))
        self.pending = sorted(todo, key=lambda c: (seeds[c.get("seed")], c["run_key"] not in donors,
                                                   order[c["run_key"]]))
        self.known = known
        self.status = {}
        self.plan = plan

    def done(self, key: str, status: str) -> None:
        self.status[key] = status

    def _waits(self, cfg) -> bool:
        a = self.after[cfg["run_key"]]
        return a is not None and a in self.known and a not in self.status

    def blocked(self) -> list[dict]:
        """Pending runs whose donor another process holds: they cannot start here now."""
        out = [c for c in self.pending if self.status.get(self.after[c["run_key"]]) == "busy"]
        self.pending = [c for c in self.pending if c not in out]
        return out

    def take(self) -> tuple[dict, dict] | None:
        for i, cfg in enumerate(self.pending):
            if not self._waits(cfg):
                del self.pending[i]
                return cfg, self.plan.share(cfg["run_key"]) if self.plan else NO_SHARE
        return None


class _Worker:
    """One worker process and this end of its pipe (which reads EOF when the process dies)."""

    def __init__(self, start: Start):
        self.conn, child = multiprocessing.Pipe()
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(child.fileno())],
                                     pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL)
        child.close()
        self.ready = False
        self.job = None
        self.dead = False
        self.retired = False
        try:
            self.conn.send(list(sys.path))
            self.conn.send(start)
        except OSError:  # it died at once: its pipe reads EOF, counted as a failed start
            pass

    def messages(self) -> list:
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            self.dead = True
        return out

    def ask_to_stop(self) -> None:
        try:
            self.conn.send(Stop())
        except OSError:  # already gone
            pass

    def stop(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()  # SIGTERM: unwinds, removing its temp file, releasing its lock
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.conn.close()


def run_pool(grid: list[dict], root: Path, spec: TaskSpec, opts: RunOptions, *, on_outcome, plan=None,
             prepare=None) -> list[RunOutcome]:
    """Train the grid's unfinished runs in ``opts.workers`` processes of ``opts.threads`` threads
    each (None: this process's count); returns the outcomes in grid order.

    ``prepare()``, when given, runs in this process once the workers are starting and returns the
    plan: a worker takes seconds to import torch and load its data, the caller's own set-up
    (loading the data for checksums, planning prefixes) overlaps that instead of preceding it.
    Nothing is dispatched before it returns, and the workers are stopped if it raises."""
    return _Pool(grid, Path(root), spec, opts, on_outcome).run(plan, prepare)


class _Pool:
    """One ``run_pool`` call: the outcomes so far, the runs left, the worker processes."""

    def __init__(self, grid: list[dict], root: Path, spec: TaskSpec, opts: RunOptions, on_outcome):
        import torch

        self.grid, self.root, self.spec, self.opts, self.on_outcome = grid, root, spec, opts, on_outcome
        self.threads = opts.threads or torch.get_num_threads()
        self.gpus = _gpus(opts.device)
        self.outcomes: dict[str, RunOutcome] = {}
        self.queue: _Queue | None = None
        self.workers: list[_Worker] = []
        self.failed_starts = 0
        self.todo = []
        for cfg in grid:  # finished runs need no worker (and no data set loaded for them)
            st = RunDir(root / "runs" / cfg["run_key"]).finished()
            if (st or {}).get("status") in FINAL_STATUSES:
                self.outcomes[cfg["run_key"]] = RunOutcome(cfg["run_key"], "skipped", 0, st["status"])
                on_outcome(cfg, self.outcomes[cfg["run_key"]])
            else:
                self.todo.append(cfg)
        self.n = min(opts.workers or 1, len(self.todo))

    def start(self, i: int) -> _Worker:
        device = self.opts.device
        name = f"cuda:{i % self.gpus}" if self.gpus and device.index is None else str(device)
        return _Worker(Start(self.spec, name, self.threads, str(self.root), os.getpid(),
                             self.opts.train().portable()))

    def record(self, cfg: dict, o: RunOutcome) -> None:
        self.outcomes[cfg["run_key"]] = o
        self.queue.done(cfg["run_key"], o.status)
        self.on_outcome(cfg, o)

    def finished(self) -> bool:
        return len(self.outcomes) == len(self.grid)

    def run(self, plan, prepare) -> list[RunOutcome]:
        if self.n:
            self.opts.log(f"pool: {len(self.todo)} runs to train in {self.n} processes x {self.threads} "
                          "threads")
        try:
            if self.n:  # workers only read the data: download or check it once, here, before any starts
                prepare_data(self.spec.dataset, self.spec.dataset_kwargs, self.spec.data_dir)
            self.workers = [self.start(i) for i in range(self.n)]
            if prepare is not None:
                plan = prepare()
            self.queue = _Queue(self.todo, {c["run_key"] for c in self.grid}, plan)
            self.queue.status.update({k: o.status for k, o in self.outcomes.items()})
            while not self.finished():
                self.dispatch()
                if self.finished():
                    break
                wait([w.conn for w in self.workers])
                self.receive()
        finally:  # all asked first, so they wind down together
            self.workers = [w for w in self.workers if w is not None]
            for w in self.workers:
                w.ask_to_stop()
            for w in self.workers:
                w.stop(timeout=30 if self.finished() else 0)
        return [self.outcomes[c["run_key"]] for c in self.grid]

    def dispatch(self) -> None:
        """Runs whose donor another process holds are busy; each idle worker gets a run that may
        start. All idle with runs left: they wait for each other, which a plan must never do."""
        queue = self.queue
        for cfg in queue.blocked():
            self.record(cfg, RunOutcome(cfg["run_key"], "busy", 0, f"its donor "
                                        f"{queue.after[cfg['run_key']]} is running in another process"))
        for w in self.workers:
            if w.ready and not w.retired and w.job is None and (job := queue.take()) is not None:
                w.job = job[0]
                w.conn.send(Job(*job))
        live = [w for w in self.workers if not w.retired]  # a retired one is replaced once it exits
        if not self.finished() and live and all(w.ready and w.job is None for w in live):
            raise RuntimeError("plan: runs wait for each other in a cycle: "
                               + ", ".join(c["run_key"] for c in queue.pending))

    def receive(self) -> None:
        """Every worker's messages, then a new worker in place of each that died."""
        for i, w in enumerate(self.workers):
            for msg in w.messages():
                match msg:
                    case Ready():
                        w.ready = True
                    case Log(text):
                        self.opts.log(text)
                    case Done(outcome) | Retire(outcome):
                        cfg, w.job = w.job, None
                        w.retired = isinstance(msg, Retire)
                        self.record(cfg, outcome)
                    case Failure(error, message):
                        raise _ERRORS.get(error, AnnealbenchError)(message)
            if w.dead:
                self.replace(i, w)
        self.workers = [w for w in self.workers if w is not None]

    def replace(self, i: int, w: _Worker) -> None:
        """A dead worker: its run failed (no status on disk: the next invocation resumes it), or it
        never started (too many of those: give up); a new one takes its place if runs are left."""
        code = w.proc.wait()
        w.conn.close()
        if w.job is not None:
            why = f"worker process died (exit code {code}); rerun to resume this run"
            self.opts.log(f"[{w.job['run_key']}] {why}")
            self.record(w.job, RunOutcome(w.job["run_key"], "failed", 0, why))
        elif not w.ready:
            self.failed_starts += 1
            if self.failed_starts > self.n:
                raise AnnealbenchError(f"worker processes exit before they are ready (exit "
                                       f"code {code}); try --workers 1")
        self.workers[i] = self.start(i) if self.queue.pending else None


def _gpus(device) -> int:
    if device.type != "cuda":
        return 0
    import torch
    return torch.cuda.device_count()
