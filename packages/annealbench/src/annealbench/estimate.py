"""How long a study's budget takes on this machine, predicted from one of its runs timed per epoch.

    python -m annealbench.estimate cifar10-cnn --budget full --device cuda --data-dir D

Every run of a budget trains the same model on the same data with the same batch, so one epoch
costs about the same in every run; what differs between runs is how many epochs they train and how
many of those shared prefixes save. The estimate therefore times one run of the budget (the first
longest one in grid order) for a few epochs in a scratch folder, takes the median of its epochs
after the first (the first pays for cuDNN's autotuning, kernel compilation and caches warming up),
and multiplies by the epochs the study would train (the prefix planner's total minus what it
shares, as ``annealbench run`` plans it).

What it leaves out, said in the output: process start-up (a few seconds per worker, once), test
evaluations at the budget curve's lengths (one evaluation pass each), and how several runs at once
share the machine: ``--speedup`` divides the serial time by a measured factor (``annealbench bench``'s
``gpu_runs`` on a GPU, ``engine_throughput`` on a CPU); without it the estimate is for one run at a
time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from annealbench.errors import AnnealbenchError


def time_epochs(cfg: dict, task, device, epochs: int, max_steps: int | None = None) -> list[float]:
    """Wall seconds of each of the first ``epochs`` epochs of run ``cfg`` (training, the per-epoch
    validation and the checkpoint, as the runner does them), trained in a scratch folder."""
    from annealbench.options import TrainOptions
    from annealbench.store import RunDir
    from annealbench.training.runner import train_run

    marks: list[float] = []

    def log(message: str) -> None:
        if " epoch " in message:  # the runner's one line per finished epoch
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory(prefix="annealbench-estimate-") as tmp:
        t0 = time.perf_counter()
        train_run(cfg, RunDir(Path(tmp) / "run"), task, device,
                  TrainOptions(log=log, max_steps=max_steps, max_epochs=epochs))
    starts = [t0, *marks[:-1]]
    return [b - a for a, b in zip(starts, marks, strict=True)]


def estimate(study, device, data_dir, *, epochs: int = 3, share_prefix: bool | None = None,
             speedup: float = 1.0, dry_run: bool = False) -> dict:
    """Per-epoch seconds of one run of ``study`` (already loaded with its budget) and the
    predicted wall time of the whole budget; see the module docstring for what it includes."""
    from annealbench.sharing import plan as prefix
    from annealbench.spec.grid import expand
    from annealbench.tasks import make_task

    if epochs < 2:
        raise AnnealbenchError(f"--epochs {epochs}: at least 2 (the first epoch is warm-up)")
    if speedup <= 0:
        raise AnnealbenchError(f"--speedup {speedup}: must be a positive factor")
    grid = expand(study, device.type)
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=data_dir, device=device,
                     batch_size=study.batch_size)
    plan = prefix.plan(grid, task.steps_per_epoch(), prefix.mode(device.type, share_prefix))
    longest = max(c["epochs"] for c in grid)
    cfg = next(c for c in grid if c["epochs"] == longest)
    timed = min(epochs, longest)
    per_epoch = time_epochs(cfg, task, device, timed, max_steps=2 if dry_run else None)
    steady = statistics.median(per_epoch[1:]) if len(per_epoch) > 1 else per_epoch[0]
    to_train = plan.epochs_total() - plan.epochs_shared()
    serial = to_train * steady
    return {"study": study.name, "budget": study.budget, "device": str(device),
            "precision": cfg["precision"], "runs": len(grid), "epochs_total": plan.epochs_total(),
            "epochs_shared": plan.epochs_shared(), "epochs_to_train": to_train,
            "timed_run": {"optimizer": cfg["optimizer"], "schedule": cfg["schedule"],
                          "base_lr": cfg["base_lr"], "seed": cfg["seed"], "epochs": cfg["epochs"]},
            "epoch_seconds": [round(s, 4) for s in per_epoch], "steady_epoch_s": round(steady, 4),
            "steps_per_epoch": task.steps_per_epoch(), "speedup": speedup,
            "serial_s": round(serial, 1), "predicted_s": round(serial / speedup, 1),
            "dry_run": dry_run}


def describe(e: dict) -> str:
    share = f", {e['epochs_shared']} shared" if e["epochs_shared"] else ""
    return (f"{e['study']} ({e['budget']} budget, {e['device']}, {e['precision']}): {e['runs']} runs, "
            f"{e['epochs_total']} epochs{share}; one epoch {e['steady_epoch_s']:.2f} s "
            f"(median after the first of {e['epoch_seconds']}); predicted "
            f"{e['predicted_s'] / 60:.1f} min" + (f" at {e['speedup']:g}x runs at once"
                                                  if e["speedup"] != 1 else " one run at a time")
            + " (start-up and curve-length test evaluations not included)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m annealbench.estimate", description=__doc__.split("\n")[0])
    p.add_argument("study", help="study name in --experiments, or a .toml path")
    p.add_argument("--budget", default="auto")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir")
    p.add_argument("--experiments", default="experiments")
    p.add_argument("--epochs", type=int, default=3, help="epochs to time (the first is warm-up)")
    p.add_argument("--speedup", type=float, default=1.0,
                   help="measured throughput factor of the runs the engine trains at once")
    p.add_argument("--json", help="also write the estimate here")
    p.add_argument("--dry-run", action="store_true", help="two steps per epoch: checks, no figures")
    a = p.parse_args(argv)
    import torch

    from annealbench.api import load
    from annealbench.execution.workers import choose
    from annealbench.tasks import default_data_dir
    from annealbench.training.runner import resolve_device

    try:
        device = resolve_device(a.device)
        torch.set_num_threads(choose(device.type, None, None).threads)  # as a worker computes
        data_dir = default_data_dir(a.data_dir)
        study = load(a.study, a.budget, data_dir=data_dir, experiments=a.experiments,
                     device_type=device.type)
        e = estimate(study, device, data_dir, epochs=a.epochs, speedup=a.speedup, dry_run=a.dry_run)
    except AnnealbenchError as err:
        print(f"annealbench estimate: {err}", file=sys.stderr)
        return 2
    print(describe(e))
    if a.json:
        Path(a.json).write_text(json.dumps(e, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
