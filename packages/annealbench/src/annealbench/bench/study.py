"""Whole-study measures for ``annealbench bench`` (see annealbench.bench.engine for what each means):
``study_speedup`` and ``bf16_accuracy`` from one smoke-sized study run both ways, and
``prefix_saved`` from the prefix planner."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from annealbench.data.cifar10 import FOLDER as CIFAR_FOLDER
from annealbench.execution import workers as engine
from annealbench.sharing import plan as prefix
from annealbench.store import read_epoch

SHARE_ENV = prefix.ENV
STUDY = "bench-study"
# Smoke-sized: the quick budget's network and batch on a CIFAR-10 subset, the article's fixed LR,
# step and multistep (which repeat the fixed LR for their first epochs) and cosine, two lengths
# of the budget curve; 4 seeds, the pairs of the bf16 t-interval.
CIFAR = """
[study]
epochs = 4
batch_size = 128
seeds = [0, 1, 2, 3]
budget_curve = [0.5, 1.0]
[model]
name = "airbench-cnn"
widths = [16, 32, 64]
[dataset]
name = "cifar10"
download = false
train_subset = 1024
val_size = 500
test_subset = 500
"""
SYNTHETIC = """
[study]
epochs = 4
batch_size = 64
seeds = [0, 1, 2]
budget_curve = [0.5, 1.0]
[model]
name = "airbench-cnn"
widths = [8, 16]
[dataset]
name = "synthetic-images"
n_train = 128
n_val = 64
n_test = 64
image_size = 16
"""
COMMON = """
[optimizers.sgd]
type = "sgd"
lrs = [0.01]
momentum = 0.9
[schedules.constant]
[schedules.step]
step_size = { frac = 0.3 }
gamma = 0.1
[schedules.multistep]
milestones = { frac = [0.5, 0.75] }
gamma = 0.1
[schedules.cosine]
"""


def study_toml(cifar: bool) -> str:
    body = CIFAR if cifar else SYNTHETIC
    head, rest = body.split("[study]\n", 1)
    return (f'spec_version = 1\n{head}[study]\nname = "{STUDY}"\nprimary_metric = "accuracy"\n'
            + rest + COMMON)


def _run(spec: Path, out: Path, device_type: str, data_dir: Path | None, today: bool) -> float:
    """Wall seconds of ``annealbench run`` on the study, start-up included."""
    env = {k: v for k, v in os.environ.items()
           if k not in (engine.ENV_WORKERS, engine.ENV_THREADS, SHARE_ENV)}
    cmd = [sys.executable, "-m", "annealbench", "run", str(spec), "--out", str(out), "--device",
           device_type, "--no-progress"]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if today:  # one run at a time on every CPU, fp32, every epoch trained
        cmd += ["--workers", "1", "--threads", str(engine.usable_cpus()), "--precision", "fp32"]
        env[SHARE_ENV] = "0"
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       timeout=7200)
    if p.returncode:
        raise RuntimeError(f"bench study exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return time.perf_counter() - t0


def final_accuracy(root: Path) -> dict[tuple, float]:
    """(optimizer, schedule, base_lr, seed, epochs) -> the run's last validation accuracy."""
    out = {}
    for rd in sorted((root / STUDY / "runs").iterdir()):
        cfg = json.loads((rd / "config.json").read_text())
        last = sorted((rd / "epochs").glob("*.csv"))[-1]
        acc = [r.value for r in read_epoch(last) if (r.split, r.metric) == ("val", "accuracy")]
        out[(cfg["optimizer"], cfg["schedule"], cfg["base_lr"], cfg["seed"], cfg["epochs"])] = acc[0]
    return out


def paired_interval(diffs_by_seed: dict[int, list[float]]) -> dict:
    """Mean of the per-seed mean differences and its 95% t-interval over the seeds (``lo``, ``hi``),
    computed by the report's ``t_interval``, the interval its pages show. Imported here, in the
    bench's own process only: its child processes, whose memory and speed are measured, never
    load scipy."""
    from annealbench_report.analysis.inference import t_interval

    ci = t_interval([statistics.mean(v) for _, v in sorted(diffs_by_seed.items())])
    return {"mean": ci["mean"], "lo": ci["lo"], "hi": ci["hi"], "seeds": ci["n"]}


def study_measures(device, data_dir: Path | None, dry_run: bool, repeats: int) -> dict:
    """study_speedup (wall seconds, medians of interleaved repeats) and bf16_accuracy."""
    cifar = data_dir is not None and (data_dir / CIFAR_FOLDER).is_dir() and not dry_run
    base = []
    cand = []
    with tempfile.TemporaryDirectory(prefix="annealbench-bench-study-") as tmp:
        spec = Path(tmp) / f"{STUDY}.toml"
        spec.write_text(study_toml(cifar))
        for i in range(repeats):
            base.append(_run(spec, Path(tmp) / f"today-{i}", device.type, data_dir, today=True))
            cand.append(_run(spec, Path(tmp) / f"engine-{i}", device.type, data_dir, today=False))
        today = final_accuracy(Path(tmp) / "today-0")
        now = final_accuracy(Path(tmp) / "engine-0")
    if today.keys() != now.keys():
        raise RuntimeError("the bench study trained different grids with the two engines")
    by_seed: dict[int, list[float]] = {}
    for k in today:
        by_seed.setdefault(k[3], []).append(now[k] - today[k])
    spread = statistics.stdev(statistics.mean(v for k, v in today.items() if k[3] == s)
                              for s in by_seed)
    return {"dataset": "cifar10" if cifar else "synthetic-images", "runs": len(today),
            "today_s": base, "engine_s": cand,
            "accuracy": {**paired_interval(by_seed), "fp32_mean": statistics.mean(today.values()),
                         "engine_mean": statistics.mean(now.values())},
            "seed_sd_fp32": spread}


def prefix_saved(device, experiments: Path) -> dict:
    """Share of the default CIFAR-10 study's training epochs that shared prefixes skip on this
    device, as ``annealbench run`` plans them."""
    from annealbench.spec.load import load_study

    study = load_study(experiments / "cifar10-cnn.toml", "auto", device_type=device.type)
    kw = study.dataset_kwargs
    # CIFAR-10 has 50,000 training images; the study trains on those left after validation
    n = min(kw.get("train_subset") or 50_000, 50_000 - kw.get("val_size", 5000))
    return {"study": study.name, "budget": study.budget,
            "share": prefix.saved_share(study, device, max(1, n // study.batch_size))}
