"""Expand a Study into runs: optimizer setting × schedule arm × base LR × seed × budget (for a
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

from annealbench import precision
from annealbench.spec.load import SPEC_VERSION, Study


def run_key(config: dict) -> str:
    """Stable id of a run: same resolved config, same key, same directory."""
    blob = json.dumps({k: v for k, v in config.items() if k != "run_key"},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand(study: Study, device_type: str) -> list[dict]:
    """Every run of the study's grid. A budget tuned on other seeds (``study.tuning``, see
    annealbench.spec.tuning) keeps, per (optimizer, schedule, length), only the chosen base LR and
    the optimizer's ``article_lr``: nothing is chosen from the judged seeds' own runs."""
    keep = _tuned(study)
    runs = []
    for seed in study.seeds:
        for opt_name, opt in study.optimizers.items():
            for base_lr in opt.lrs:
                for arm_name, arm in study.schedules.items():
                    for epochs in study.curve_epochs:
                        if keep is not None and base_lr not in (keep[(opt_name, arm_name, epochs)],
                                                                opt.article_lr):
                            continue
                        runs.append(_config(study, device_type, seed, opt_name, opt, base_lr,
                                            arm_name, arm, epochs))
    return runs


def _tuned(study: Study) -> dict | None:
    """{(optimizer, schedule, length): chosen base LR}, or None for in-study selection."""
    if study.tuned_by is None:
        return None
    if study.tuning is None:  # load_study(..., with_tuning=False): for ``tune``, not for a grid
        raise ValueError(f"budget {study.budget} is tuned by {study.tuned_by}: load it with its tuning file")
    return {(c["optimizer"], c["schedule"], c["length"]): c["base_lr"] for c in study.tuning["choices"]}


def _config(study: Study, device_type: str, seed, opt_name, opt, base_lr, arm_name, arm,
            epochs: int) -> dict:
    cfg = {
        "spec_version": SPEC_VERSION,
        "study": study.name,
        "model": study.model, "model_kwargs": study.model_kwargs,
        "dataset": study.dataset, "dataset_kwargs": study.dataset_kwargs,
        "optimizer": opt_name, "optimizer_type": opt.type,
        "optimizer_kwargs": opt.kwargs, "clip_grad_norm": opt.clip_grad_norm,
        "schedule": arm_name, "schedule_type": arm.type,
        "schedule_kwargs": arm.kwargs, "schedule_interval": arm.interval,
        "base_lr": base_lr, "seed": seed,
        "epochs": epochs, "batch_size": study.batch_size,
        "eval_test": study.eval_test,
        "test_epochs": [e for e in study.curve_epochs if e <= epochs],
        "primary_metric": study.primary_metric,
        "metric_directions": study.metric_directions,
        "device": device_type,
        # bf16 changes the numbers: a run's precision is part of its key
        "precision": precision.resolve(study.precision, device_type, study.model),
    }
    cfg["run_key"] = run_key(cfg)
    return cfg
