"""The local parallel executor: N worker processes on this machine train the runs of one grid.

Each worker is a fresh interpreter (the "spawn" start method: never a fork of a process whose
torch thread pools are running), sets its intra-op threads, loads the study's data once and then
trains one run at a time through the same ``runner.run_one`` on the same run store as the other
executors, so the per-run lock, atomic records, resume and skip-finished hold as they do there,
and a run's records do not depend on which process trained it (at the same thread count).

This process only dispatches: a run goes to an idle worker when the run ``plan.after`` names has
an outcome (a fork whose donor another process holds is reported "busy", as the local executor
does, for ``finish_busy`` to take up), donors first so their forks are not kept waiting. Log lines
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
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path

from annealbench.errors import AnnealbenchError, DataError, DeviceLost, StoreError
from annealbench.execution.local import TaskSpec, make_task
from annealbench.options import RunOptions
from annealbench.sharing.plan import NO_SHARE
from annealbench.store import RunDir
from annealbench.training.runner import FINAL_STATUSES, RunOutcome

_ERRORS = {"StoreError": StoreError, "DataError": DataError}
_PR_SET_PDEATHSIG = 1
# The worker's first lines use only the standard library: it takes the parent's sys.path (as the
# "spawn" start method does) before it imports annealbench. Not multiprocessing.Process itself:
# its spawn start also starts a resource-tracker process that would outlive the pool. Ctrl-C
# reaches the workers too (one process group); they leave it to the parent, which stops them
# with SIGTERM, the one way a worker is ever stopped.
_BOOT = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
         "from multiprocessing.connection import Connection\n"
         "conn = Connection(int(sys.argv[1]))\nsys.path[:] = conn.recv()\n"
         "from annealbench.execution.pool import serve\nserve(conn)\n")


def _die_with_parent(parent: int) -> None:
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):  # not Linux: poll for the parent instead
        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)
        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _exit_on_term(signum, frame):
    raise SystemExit(128 + signum)


def serve(conn: Connection) -> None:
    """A worker's life: load the data once, then train the runs sent to it until told to stop."""
    signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        spec, device_name, threads, root, parent = conn.recv()
        _die_with_parent(parent)
        import torch

        from annealbench.training.runner import run_one

        torch.set_num_threads(threads)
        device = torch.device(device_name)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        task = make_task(spec, device)

        def log(msg):  # a parent gone mid-run must not fail the run: SIGTERM is on its way
            try:
                conn.send(("log", msg))
            except OSError:
                pass

        conn.send(("ready",))
        while (job := conn.recv()) is not None:
            cfg, train, share = job
            try:
                o = run_one(cfg, RunDir(Path(root) / "runs" / cfg["run_key"]), task, device,
                            replace(train, log=log), share)
            except DeviceLost as e:
                log(f"[{cfg['run_key']}] worker exits: {e}")
                conn.send(("retire", e.outcome))  # no further job: this process exits now
                return
            conn.send(("done", o))
    except AnnealbenchError as e:  # bad data, a full disk: stops the study, as in one process
        try:
            conn.send(("error", type(e).__name__, str(e)))
        except OSError:
            pass
    except (SystemExit, EOFError, OSError):
        pass  # stopped, or the parent went away: everything written so far is resumable
    finally:  # nothing left to unwind: a late SIGTERM must not raise in interpreter shutdown
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _Queue:
    """Runs not yet dispatched, and which of them may start (``plan.after`` has an outcome)."""

    def __init__(self, todo: list[dict], known: set[str], plan):
        self.after = {c["run_key"]: plan.after(c["run_key"]) if plan else None for c in todo}
        donors = set(self.after.values())
        order = {c["run_key"]: i for i, c in enumerate(todo)}
        self.pending = sorted(todo, key=lambda c: (c["run_key"] not in donors, order[c["run_key"]]))
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

    def __init__(self, spec: TaskSpec, device_name: str, threads: int, root: Path):
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
            self.conn.send((spec, device_name, threads, str(root), os.getpid()))
        except OSError:  # it died at once: its pipe reads EOF, counted as a failed start
            pass

    def messages(self) -> list[tuple]:
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            self.dead = True
        return out

    def ask_to_stop(self) -> None:
        try:
            self.conn.send(None)
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
    import torch
    device, log, workers, train = opts.device, opts.log, opts.workers, opts.train().portable()
    threads = opts.threads or torch.get_num_threads()
    outcomes: dict[str, RunOutcome] = {}
    todo = []
    for cfg in grid:  # finished runs need no worker (and no data set loaded for them)
        st = RunDir(Path(root) / "runs" / cfg["run_key"]).finished()
        if (st or {}).get("status") in FINAL_STATUSES:
            outcomes[cfg["run_key"]] = RunOutcome(cfg["run_key"], "skipped", 0, st["status"])
            on_outcome(cfg, outcomes[cfg["run_key"]])
        else:
            todo.append(cfg)
    queue = None

    def record(cfg, o):
        outcomes[cfg["run_key"]] = o
        queue.done(cfg["run_key"], o.status)
        on_outcome(cfg, o)

    n = min(workers, len(todo))
    if n:
        log(f"pool: {len(todo)} runs to train in {n} processes x {threads} threads")
    gpus = _gpus(device)

    def start(i):
        name = f"cuda:{i % gpus}" if gpus and device.index is None else str(device)
        return _Worker(spec, name, threads, root)

    pool: list[_Worker] = []
    failed_starts = 0
    try:
        pool = [start(i) for i in range(n)]
        if prepare is not None:
            plan = prepare()
        queue = _Queue(todo, {c["run_key"] for c in grid}, plan)
        queue.status.update({k: o.status for k, o in outcomes.items()})
        while len(outcomes) < len(grid):
            for cfg in queue.blocked():
                record(cfg, RunOutcome(cfg["run_key"], "busy", 0, f"its donor "
                                       f"{queue.after[cfg['run_key']]} is running in another process"))
            for w in pool:
                if w.ready and not w.retired and w.job is None and (job := queue.take()) is not None:
                    w.job = job[0]
                    w.conn.send((job[0], train, job[1]))
            live = [w for w in pool if not w.retired]  # a retired one is replaced once it exits
            if len(outcomes) < len(grid) and live and all(w.ready and w.job is None for w in live):
                raise RuntimeError("plan: runs wait for each other in a cycle: "
                                   + ", ".join(c["run_key"] for c in queue.pending))
            if len(outcomes) == len(grid):
                break
            wait([w.conn for w in pool])
            for i, w in enumerate(pool):
                for msg in w.messages():
                    if msg[0] == "ready":
                        w.ready = True
                    elif msg[0] == "log":
                        log(msg[1])
                    elif msg[0] in ("done", "retire"):
                        cfg = w.job
                        w.job = None
                        w.retired = msg[0] == "retire"
                        record(cfg, msg[1])
                    elif msg[0] == "error":
                        raise _ERRORS.get(msg[1], AnnealbenchError)(msg[2])
                if not w.dead:
                    continue
                code = w.proc.wait()
                w.conn.close()
                if w.job is not None:
                    why = f"worker process died (exit code {code}); rerun to resume this run"
                    log(f"[{w.job['run_key']}] {why}")
                    record(w.job, RunOutcome(w.job["run_key"], "failed", 0, why))
                elif not w.ready:
                    failed_starts += 1
                    if failed_starts > n:
                        raise AnnealbenchError(f"worker processes exit before they are ready (exit "
                                               f"code {code}); try --workers 1")
                pool[i] = start(i) if queue.pending else None
            pool = [w for w in pool if w is not None]
    finally:  # all asked first, so they wind down together
        pool = [w for w in pool if w is not None]
        for w in pool:
            w.ask_to_stop()
        for w in pool:
            w.stop(timeout=30 if len(outcomes) == len(grid) else 0)
    return [outcomes[c["run_key"]] for c in grid]


def _gpus(device) -> int:
    if device.type != "cuda":
        return 0
    import torch
    return torch.cuda.device_count()
