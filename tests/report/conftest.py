"""Synthetic study output written exactly as docs/design.md lays it out.

``make_study`` writes run directories (config.json, epochs/NNNNN.csv, status.json), study.json and
meta.json for a small grid: optimizer settings × base LRs × schedule arms × seeds, with per-step
rows, per-epoch train/val rows, test rows after the last epoch, one diverged run, one failed run,
one still-running run, a run directory that is being created, and temp files a reader must skip.
It returns what it wrote, so tests compute expected counts from the fixture, not by hand.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from annealbench_report.records.contract import EPOCH_COLUMNS  # = annealbench.store's (parity test)

OPTIMIZERS = {"sgd": ("sgd", [0.05], {"momentum": 0.9}), "adam": ("adam", [0.001, 0.003], {})}
SCHEDULES = {
    "constant": ("constant", {}, "epoch"),
    "step": ("step", {"step_size": 2, "gamma": 0.1}, "epoch"),
    "cosine": ("cosine", {"T_max": 20}, "step"),
}
# (optimizer, base_lr, schedule, seed) -> special fate
DIVERGED = ("adam", 0.003, "cosine", 2)
FAILED = ("adam", 0.001, "step", 1)
RUNNING = ("sgd", 0.05, "step", 2)
QUALITY = {"constant": 0.0, "step": 0.03, "cosine": 0.05}  # annealing helps in this fake world
ARTICLE_LR = {"adam": 0.003}


@dataclass
class SynthStudy:
    dir: Path
    name: str
    epochs: int
    steps_per_epoch: int
    seeds: list
    runs: dict = field(default_factory=dict)  # run_key -> {"config", "status", "rows", ...}

    @property
    def n_rows(self) -> int:
        return sum(r["rows"] for r in self.runs.values())

    def key(self, optimizer, base_lr, schedule, seed) -> str:
        for k, r in self.runs.items():
            c = r["config"]
            if (c["optimizer"], c["base_lr"], c["schedule"], c["seed"]) == (
                    optimizer, base_lr, schedule, seed):
                return k
        raise KeyError((optimizer, base_lr, schedule, seed))


def _lr(schedule: str, base_lr: float, epoch: int, step: int, total_steps: int) -> float:
    """LR applied in global step ``step`` (1-based) of ``epoch`` (1-based)."""
    if schedule == "step":
        return base_lr * 0.1 ** ((epoch - 1) // 2)
    if schedule == "cosine":
        return base_lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / total_steps))
    return base_lr


def _write_epoch(path: Path, rows: list[tuple]) -> int:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EPOCH_COLUMNS)
    w.writerows([r[:4] + tuple(repr(float(x)) for x in r[4:]) for r in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue())
    return len(rows)


def make_study(out: Path, name: str = "synth", dir_name: str | None = None, epochs: int = 4,
               steps_per_epoch: int = 5, seeds=(0, 1, 2), description: str = "A synthetic study",
               special: bool = True, curve=(2,), min_effect: float | None = 0.005,
               tuning: dict | None = None) -> SynthStudy:
    """``curve``: the budget-curve lengths below ``epochs`` (every schedule also annealed to each).
    ``tuning``: study.json's ``tuning`` entry (a tuning file's content plus ``file``); None: the
    study selects its LRs in-study."""
    study_dir = Path(out) / (dir_name or name)
    (study_dir / "runs").mkdir(parents=True, exist_ok=True)
    directions = {"loss": "min", "accuracy": "max"}
    lengths = sorted({*[c for c in curve if c < epochs], epochs})
    synth = SynthStudy(study_dir, name, epochs, steps_per_epoch, list(seeds))
    grid = [(seed, opt, base_lr, sched, length) for seed in seeds for opt in OPTIMIZERS
            for base_lr in OPTIMIZERS[opt][1] for sched in SCHEDULES for length in lengths]
    for seed, opt, base_lr, sched, length in grid:
        opt_type, _, opt_kwargs = OPTIMIZERS[opt]
        stype, skw, interval = SCHEDULES[sched]
        cfg = {
            "spec_version": 1, "study": name, "model": "cnn_small", "model_kwargs": {},
            "dataset": "synthetic_images", "dataset_kwargs": {"n": 64},
            "optimizer": opt, "optimizer_type": opt_type, "optimizer_kwargs": opt_kwargs,
            "clip_grad_norm": None, "schedule": sched, "schedule_type": stype,
            "schedule_kwargs": skw, "schedule_interval": interval, "base_lr": base_lr,
            "seed": seed, "epochs": length, "batch_size": 8, "eval_test": "final",
            "test_epochs": [n for n in lengths if n <= length],
            "primary_metric": "accuracy", "metric_directions": directions,
            "device": "cpu",
        }
        blob = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
        cfg["run_key"] = hashlib.sha256(blob.encode()).hexdigest()[:16]
        fate = (opt, base_lr, sched, seed) if special and length == epochs else None
        synth.runs[cfg["run_key"]] = _write_run(
            study_dir / "runs" / cfg["run_key"], cfg, fate, length, steps_per_epoch,
            length * steps_per_epoch, lengths)
    # a run directory being created right now, and temp files a reader must skip
    (study_dir / "runs" / "00000000deadbeef").mkdir()
    (study_dir / "runs" / "00000000deadbeef" / ".lock").write_text("")
    (study_dir / "runs" / ".x.tmp").mkdir()
    some = next(iter(synth.runs))
    (study_dir / "runs" / some / "epochs" / ".00001.csv.abc123.tmp").write_text("epoch,st")
    (study_dir / "runs" / some / "status.json.tmp").write_text("{")
    study = {
        "file": f"experiments/{name}.toml", "spec_sha256": "0" * 64, "name": name,
        "description": description, "notes": "", "budget": "quick", "primary_metric": "accuracy",
        "metric_directions": directions, "target": 0.6, "epochs": epochs, "batch_size": 8,
        "min_effect": min_effect, "budget_curve": [n / epochs for n in lengths],
        "curve_epochs": lengths,
        "seeds": list(seeds), "eval_test": "final", "model": "cnn_small", "model_kwargs": {},
        "dataset": "synthetic_images", "dataset_kwargs": {"n": 64},
        "optimizers": {k: {"type": t, "lrs": lrs, "kwargs": kw, "clip_grad_norm": None,
                           "article_lr": ARTICLE_LR.get(k)} for k, (t, lrs, kw) in OPTIMIZERS.items()},
        "schedules": {k: {"type": t, "kwargs": kw, "interval": iv}
                      for k, (t, kw, iv) in SCHEDULES.items()},
        "tuning": tuning,
    }
    (study_dir / "study.json").write_text(json.dumps(study, indent=2))
    meta = {
        "study": name, "budget": "quick", "spec_file": f"experiments/{name}.toml",
        "spec_sha256": "0" * 64, "command": f"annealbench run {name} --budget quick --out reports",
        "started_at": "2025-01-02T03:04:05+00:00", "finished_at": "2025-01-02T03:14:05+00:00",
        "wall_time_s": 600.5, "git_commit": "abc1234", "device": "cpu", "device_name": "cpu",
        "torch": "2.5.0", "cuda": None, "python": "3.11.7", "platform": "Linux-x86_64",
        "packages": {"numpy": "2.0.0", "torch": "2.5.0"},
        "data_checksums": {"data/synthetic_images.npz": "ab" * 32},
    }
    (study_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return synth


def _write_run(run_dir: Path, cfg: dict, fate, epochs: int, spe: int, total: int,
               lengths: list) -> dict:
    rng = random.Random(f"{cfg['optimizer']}{cfg['base_lr']}{cfg['schedule']}{cfg['seed']}")
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True))
    q = QUALITY[cfg["schedule"]] + (0.02 if cfg["optimizer"] == "adam" else 0.0)
    last = epochs
    status = {"status": "completed", "epochs_done": epochs, "diverged_step": None, "error": None,
              "finished_at": "2025-01-02T03:10:00+00:00"}
    if fate == RUNNING:
        last, status = 2, None
    elif fate == FAILED:
        last = 1
        status = {**status, "status": "failed", "epochs_done": 1, "error": "RuntimeError: boom"}
    elif fate == DIVERGED:
        last = 2
        status = {**status, "status": "diverged", "epochs_done": 2, "diverged_step": 2 * spe + 2}
    rows_written, wall = 0, 0.0
    noise = rng.gauss(0, 0.01)

    def acc(e):
        return 0.3 + (0.4 + q) * (1 - math.exp(-e / 1.5)) + noise + rng.gauss(0, 0.002)

    rows_written += _write_epoch(run_dir / "epochs" / "00000.csv", [
        (0, 0, "val", "loss", 2.3 + noise, cfg["base_lr"], 0.0),
        (0, 0, "val", "accuracy", acc(0), cfg["base_lr"], 0.0)])
    for e in range(1, last + 1):
        rows, losses = [], []
        for s in range((e - 1) * spe + 1, e * spe + 1):
            lr = _lr(cfg["schedule"], cfg["base_lr"], e, s, total)
            wall += 0.01 + rng.random() * 0.001
            loss = 2.3 * math.exp(-s / (total * (0.8 - q))) + rng.gauss(0, 0.01)
            losses.append(loss)
            rows.append((e, s, "train", "step_loss", loss, lr, wall))
        rows += [(e, e * spe, "train", "loss", sum(losses) / len(losses), lr, wall),
                 (e, e * spe, "train", "throughput", 8 * spe / 0.05, lr, wall),
                 (e, e * spe, "val", "loss", 2.3 * math.exp(-e / 2) + noise, lr, wall),
                 (e, e * spe, "val", "accuracy", acc(e), lr, wall)]
        if e in lengths and e <= epochs:
            rows += [(e, e * spe, "test", "loss", 2.3 * math.exp(-e / 2) + noise + 0.01, lr, wall),
                     (e, e * spe, "test", "accuracy", acc(e) - 0.01, lr, wall)]
        rows_written += _write_epoch(run_dir / "epochs" / f"{e:05d}.csv", rows)
    if fate == DIVERGED:  # the epoch that blew up: its step rows up to the non-finite loss
        e, s0 = last + 1, last * spe
        lr1, lr2 = (_lr(cfg["schedule"], cfg["base_lr"], e, s, total) for s in (s0 + 1, s0 + 2))
        rows = [(e, s0 + 1, "train", "step_loss", 9.0, lr1, wall + 0.01),
                (e, s0 + 2, "train", "step_loss", float("nan"), lr2, wall + 0.02)]
        rows_written += _write_epoch(run_dir / "epochs" / f"{e:05d}.csv", rows)
    if status is not None:
        (run_dir / "status.json").write_text(json.dumps(status))
    return {"config": cfg, "status": status["status"] if status else "running",
            "rows": rows_written, "last_epoch": last}


@pytest.fixture
def make_synth():
    """The generator itself, for tests that need a variant study."""
    return make_study


@pytest.fixture(scope="session")
def synth_session(tmp_path_factory) -> SynthStudy:
    """A study written once per session; tests that change files use ``synth`` instead."""
    return make_study(tmp_path_factory.mktemp("out"))


@pytest.fixture
def synth(tmp_path) -> SynthStudy:
    return make_study(tmp_path / "out")


@pytest.fixture(scope="session")
def rendered(synth_session):
    """The session study with records written and its page and the index rendered (read-only)."""
    from annealbench_report.pages import index_page
    from annealbench_report.pages import study_page as render
    from annealbench_report.records import collect

    df = collect.write_records(synth_session.dir)
    page = render.render_study(synth_session.dir, records=df)
    index_page.render_index(synth_session.dir.parent)
    return synth_session, page
