"""A worker process of the local pool (annealbench.execution.pool): its life (``serve``), and what
it and the pool send each other through a pipe: one small frozen, picklable value per kind of
message, told apart by its type.

Parent to worker: ``Start`` once (after the bare ``sys.path`` list the worker needs before it can
import annealbench), then a ``Job`` per run, then ``Stop``. Worker to parent: ``Ready`` once its
data is loaded, ``Log`` lines, one ``Done`` per run, ``Retire`` (its run failed with the device
context, and it exits) or ``Failure`` (an error that stops the study).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path

from annealbench.errors import AnnealbenchError, DeviceLost
from annealbench.execution.local import TaskSpec, make_task
from annealbench.options import TrainOptions
from annealbench.sharing.plan import Share
from annealbench.store import RunDir
from annealbench.training.runner import RunOutcome

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Start:
    spec: TaskSpec        # the data to load
    device: str           # its own device ("cuda:1"), as a name
    threads: int
    root: str             # the study's folder
    parent: int           # the parent's pid: the worker exits when it dies
    train: TrainOptions   # for every run (its log: the worker's own)


@dataclass(frozen=True)
class Job:
    cfg: dict
    share: Share


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class Log:
    text: str


@dataclass(frozen=True)
class Done:
    outcome: RunOutcome


@dataclass(frozen=True)
class Retire:
    outcome: RunOutcome   # the failed run's: the worker exits, a new one takes its place


@dataclass(frozen=True)
class Failure:
    error: str            # the AnnealbenchError subclass's name, raised again in the parent
    message: str


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
        start: Start = conn.recv()
        _die_with_parent(start.parent)
        import torch

        from annealbench.training.runner import run_one

        torch.set_num_threads(start.threads)
        device = torch.device(start.device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        task = make_task(start.spec, device)

        def log(msg):  # a parent gone mid-run must not fail the run: SIGTERM is on its way
            try:
                conn.send(Log(msg))
            except OSError:
                pass

        train = replace(start.train, log=log)
        conn.send(Ready())
        while isinstance(job := conn.recv(), Job):
            cfg = job.cfg
            try:
                o = run_one(cfg, RunDir(Path(start.root) / "runs" / cfg["run_key"]), task, device,
                            train, job.share)
            except DeviceLost as e:
                log(f"[{cfg['run_key']}] worker exits: {e}")
                conn.send(Retire(e.outcome))  # no further job: this process exits now
                return
            conn.send(Done(o))
    except AnnealbenchError as e:  # bad data, a full disk: stops the study, as in one process
        try:
            conn.send(Failure(type(e).__name__, str(e)))
        except OSError:
            pass
    except (SystemExit, EOFError, OSError):
        pass  # stopped, or the parent went away: everything written so far is resumable
    finally:  # nothing left to unwind: a late SIGTERM must not raise in interpreter shutdown
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
