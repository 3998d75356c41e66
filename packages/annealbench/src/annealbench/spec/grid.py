"""Expand a Study into runs: optimizer setting × arm × base LR × seed × budget (for a
budget tuned on other seeds, the chosen base LR and the article's only).

The budget is the run's length: every schedule is annealed to each epoch count of the study's
budget curve (``curve_epochs``, the full ``epochs`` last), and every run evaluates the test split
at each curve epoch it passes, so a run of one length holds what a shorter run of a schedule that
does not depend on the length (the fixed LR) would have measured.

Seeds are the outer loop so that an interrupted study already holds complete paired
comparisons for its first seeds.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from annealbench import precision
from annealbench.spec.arms import Arm
from annealbench.spec.load import SPEC_VERSION, Study


def run_key(config: dict) -> str:
    """Stable id of a run: same resolved config, same key, same directory."""
    blob = json.dumps({k: v for k, v in config.items() if k != "run_key"},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Point:
    """Where a run sits in the grid besides its arm: seed, optimizer setting, base LR, length."""

    seed: int
    optimizer: str
    base_lr: float
    epochs: int


def expand(study: Study, device_type: str) -> list[dict]:
    """Every run of the study's grid. A budget tuned on other seeds (``study.tuning``, see
    annealbench.spec.tuning) keeps, per (optimizer, arm, length), only the chosen base LR and
    the optimizer's ``article_lr``: nothing is chosen from the judged seeds' own runs."""
    keep = _tuned(study)
    runs = []
    for seed in study.seeds:
        for opt_name, opt in study.optimizers.items():
            setting_arms = [a for a in study.training_arms() if a.optimizer is None]
            for base_lr in opt.lrs:
                runs += _runs(study, device_type, keep, Point(seed, opt_name, base_lr, 0), setting_arms)
            for arm in study.training_arms():  # arms with their own optimizer: its LR grid
                if arm.optimizer is not None:
                    for base_lr in study.optimizer_of(opt_name, arm).lrs:
                        runs += _runs(study, device_type, keep, Point(seed, opt_name, base_lr, 0), [arm])
    return runs


def _runs(study: Study, device_type: str, keep: dict | None, p: Point, arms: list[Arm]) -> list[dict]:
    """The runs of ``arms`` at ``p``'s seed, setting and base LR, at every length kept."""
    runs = []
    for arm in arms:
        for epochs in study.curve_epochs:
            at = replace(p, epochs=epochs)
            if keep is None or p.base_lr in _kept_lrs(study, keep, at, arm):
                runs.append(_config(study, device_type, at, arm))
    return runs


def _kept_lrs(study: Study, keep: dict, p: Point, arm: Arm) -> set:
    """The base LRs a tuned budget trains for ``arm`` at ``p``: those chosen for it and for every
    averaging arm riding on its runs, and the article's."""
    chosen = {keep[(p.optimizer, n, p.epochs)] for n in [arm.name, *study.riders(arm)]}
    return chosen | {study.optimizer_of(p.optimizer, arm).article_lr}


def _tuned(study: Study) -> dict | None:
    """{(optimizer, schedule, length): chosen base LR}, or None for in-study selection."""
    if study.tuned_by is None:
        return None
    if study.tuning is None:  # load_study(..., with_tuning=False): for ``tune``, not for a grid
        raise ValueError(f"budget {study.budget} is tuned by {study.tuned_by}: load it with its tuning file")
    return {(c["optimizer"], c["schedule"], c["length"]): c["base_lr"] for c in study.tuning["choices"]}


def _config(study: Study, device_type: str, p: Point, arm: Arm) -> dict:
    opt = study.optimizer_of(p.optimizer, arm)
    cfg = {
        "spec_version": SPEC_VERSION,
        "study": study.name,
        "model": study.model, "model_kwargs": study.model_kwargs,
        "dataset": study.dataset, "dataset_kwargs": study.dataset_kwargs,
        "optimizer": p.optimizer, "optimizer_type": opt.type,
        "optimizer_kwargs": opt.kwargs, "clip_grad_norm": opt.clip_grad_norm,
        "schedule": arm.name, "schedule_type": arm.type,
        "schedule_kwargs": arm.kwargs, "schedule_interval": arm.interval,
        "base_lr": p.base_lr, "seed": p.seed,
        "epochs": p.epochs, "batch_size": study.batch_size,
        "eval_test": study.eval_test,
        "test_epochs": [e for e in study.curve_epochs if e <= p.epochs],
        "primary_metric": study.primary_metric,
        "metric_directions": study.metric_directions,
        "device": device_type,
        # bf16 changes the numbers: a run's precision is part of its key
        "precision": precision.resolve(study.precision, device_type, study.model),
    }
    # fields of the arm keys only where set: a study without them keeps its run keys
    if arm.optimizer is not None:
        cfg["arm_optimizer"] = arm.optimizer
    if arm.bn_batches:
        cfg["bn_batches"] = arm.bn_batches
    riders = study.riders(arm)
    if riders:
        cfg["averages"] = riders
    cfg["run_key"] = run_key(cfg)
    return cfg
