"""How a study is run: the options of ``annealbench run`` and ``annealbench.api.run``, one object.

The CLI and the Python API each build one ``RunOptions`` (under the same names: ``--cpus-per-run``
is ``cpus_per_run``, ``--no-wait`` is ``wait=False``), resolve it once
(annealbench.execution.workers.resolve: the device, the data folder, the workers and threads) and
pass it down the run path: annealbench.execution.study.run_study, the executors, and, as its
per-run part ``TrainOptions``, annealbench.training.runner. Plain frozen values: nothing here
imports torch or reads the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DRY_RUN_STEPS = 2   # a dry run trains this many steps of one epoch per arm
DRY_RUN_EPOCHS = 1


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None       # None: start a local Ray instance; "auto": join a running one
    cpus_per_run: float = 1.0
    gpus_per_run: float = 1.0        # used only when the study runs on CUDA


@dataclass(frozen=True)
class TrainOptions:
    """What one run needs besides its config: where its messages go and how far it may train."""

    log: Callable[[str], None] | None = print  # None only in a portable copy
    progress: bool = False            # a tqdm bar per epoch
    max_steps: int | None = None      # cut each epoch short (dry runs, benchmarks)
    max_epochs: int | None = None     # cut the run short; its schedule still spans its length

    def portable(self) -> TrainOptions:
        """A copy another process can unpickle: this process's ``log`` (often a closure, and even
        ``print`` is refused by pickle once a library has wrapped ``builtins.print``) stays here;
        the receiver sets its own."""
        return replace(self, log=None, progress=False)


TRAIN_DEFAULTS = TrainOptions()  # printed messages, no cut: a run trained as a study trains it


@dataclass(frozen=True)
class RunOptions:
    """The run options, with the CLI's defaults. ``device``, ``workers`` and ``threads`` hold what
    the user gave ("auto", None: decide) until resolved; ``data_dir`` None: no data folder."""

    out: Path | str = "reports"
    device: Any = "auto"              # "auto", "cpu", "cuda", or a torch.device once resolved
    data_dir: Path | str | None = None
    dry_run: bool = False             # two steps of every arm in a temporary folder
    executor: str = "local"           # annealbench.execution.local.EXECUTORS
    ray_address: str | None = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 1.0
    wait: bool = True                 # wait for runs another process holds, then take them up
    share_prefix: bool | None = None  # None: annealbench.sharing.plan.mode's default
    workers: int | str | None = None  # None or "auto": $ANNEALBENCH_WORKERS, else the machine's
    threads: int | str | None = None
    progress: bool = False            # a tqdm bar per epoch of each run
    display: str = "off"              # annealbench.progress.Progress's mode
    verbose: bool = False             # per-epoch lines on screen too
    log: Callable[[str], None] | None = print  # None only in a portable copy

    @property
    def ray(self) -> RayOptions:
        return RayOptions(self.ray_address, self.cpus_per_run, self.gpus_per_run)

    @property
    def pool(self) -> bool:
        """Whether the runs train in local worker processes (annealbench.execution.pool)."""
        return self.executor == "local" and (self.workers or 1) > 1 and not self.dry_run

    def train(self) -> TrainOptions:
        """The part each run reads; a dry run's runs stop after two steps of one epoch."""
        return TrainOptions(self.log, self.progress,
                            DRY_RUN_STEPS if self.dry_run else None,
                            DRY_RUN_EPOCHS if self.dry_run else None)
