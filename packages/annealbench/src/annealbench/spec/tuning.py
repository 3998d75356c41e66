"""Tuning files: base LRs chosen on seeds that are never judged, declared before judging.

A judged budget that names a tuning budget (``tuned_by``) trains, per seed, only the base LR its
tuning budget chose for each (optimizer setting, schedule, curve length), plus the optimizer's
``article_lr`` row. The choice lives in ``<study name>.<judged budget>.tuning.json`` beside the
study file, written by ``annealbench tune`` (annealbench.api.tune) from the tuning budget's runs:
the selection value of a run at length B is its validation primary metric at epoch B (for the
fixed LR, or any arm whose LR does not depend on the run's length, at epoch B of its full-length
run), and the chosen LR has the best mean over the tuning seeds, ties to the smaller LR, LRs where
a run diverged passed over while another LR had none (as annealbench-report's in-study selection).
The file is checked against the study each time the judged budget is loaded: a file written for
other tuning runs (``tuning_runs_sha256``: the tuning budget's model, data, optimizers, schedules,
lengths, batch, precision and seeds, annealbench.spec.budgets.runs_sha256) or another grid is stale
and stops the run; an edit that leaves those runs as they were (a comment, a target, the judged
seeds) does not. ``spec_sha256`` records the study file as it was when tuned. See docs/tuning.md.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from annealbench.errors import TuningError
from annealbench.store import RunDir, atomic_write_json

FIELDS = {"study": str, "judged_budget": str, "tuning_budget": str, "seeds": list,
          "primary_metric": str, "direction": str, "commit": str, "date": str,
          "spec_sha256": str, "tuning_runs_sha256": str, "choices": list}


def path(study) -> Path:
    """Where a judged budget's tuning file lives: beside its study file."""
    return Path(study.file).parent / f"{study.name}.{study.budget}.tuning.json"


def command(study) -> str:
    return f"annealbench tune {study.file} --budget {study.budget} --data-dir DIR"


def read(study) -> dict:
    """The tuning file of a judged budget, with ``file`` (its name) added; TuningError, one line
    naming the file and the command that writes it, when it is missing, unreadable or stale."""
    p = path(study)
    again = f"`{command(study)}` writes it (tuning runs already in its --out are reused)"
    try:
        content = json.loads(p.read_text())
    except FileNotFoundError:
        raise TuningError(f"{p}: missing: budget {study.budget} of {study.file} trains the base LRs "
                          f"its tuning budget {study.tuned_by} chose; {again}") from None
    except (OSError, ValueError) as e:
        raise TuningError(f"{p}: not a readable tuning file ({e}); {again}") from None
    why = stale(study, content)
    if why:
        raise TuningError(f"{p}: stale: {why}; {again}")
    return {**content, "file": p.name}


def stale(study, content) -> str | None:
    """Why ``content`` is not the choice for ``study``'s grid as it is now (None: it is)."""
    if not isinstance(content, dict):
        return "not a JSON object"
    for key, kind in FIELDS.items():
        if not isinstance(content.get(key), kind):
            return f"'{key}' is missing or not a {kind.__name__}"
    said = (content["study"], content["judged_budget"], content["tuning_budget"])
    if said != (study.name, study.budget, study.tuned_by):
        return (f"written for study {said[0]}, budget {said[1]} tuned by {said[2]}; this is study "
                f"{study.name}, budget {study.budget} tuned by {study.tuned_by}")
    if content["primary_metric"] != study.primary_metric:
        return f"chosen on {content['primary_metric']}, the study's primary metric is {study.primary_metric}"
    want = {(o, s, b) for o in study.optimizers for s in study.schedules for b in study.curve_epochs}
    got = {}
    for c in content["choices"]:
        try:
            got[(c["optimizer"], c["schedule"], c["length"])] = (c["base_lr"],
                                                                 sorted(r["base_lr"] for r in c["by_lr"]))
        except (KeyError, TypeError):
            return f"a choice is not of the form {{optimizer, schedule, length, base_lr, by_lr}}: {c!r}"
    if set(got) != want:
        extra = sorted(set(got) - want)
        lacking = sorted(want - set(got))
        return ("its choices are for another grid: " + "; ".join(
            f"{what} {', '.join(f'{o}/{s} at {b} epochs' for o, s, b in keys[:3])}"
            for what, keys in (("no choice for", lacking), ("a choice for", extra)) if keys))
    for (o, s, b), (lr, grid) in sorted(got.items()):
        lrs = sorted(study.optimizer_of(o, study.schedules[s]).lrs)
        if grid != lrs or lr not in lrs:
            return f"{o}/{s} at {b} epochs was chosen from base LRs {grid}, the study's are {lrs}"
    if content["tuning_runs_sha256"] != study.tuning_runs_sha256:
        return (f"the runs of tuning budget {study.tuned_by} in {study.file} changed since it was "
                f"tuned (tuning_runs_sha256 {content['tuning_runs_sha256'][:12]}…, now "
                f"{str(study.tuning_runs_sha256)[:12]}…)")
    return None


AVERAGES_FILE = "averages.csv"  # a host run's evaluations of the averaging arms riding on it


def _val(run: RunDir, epoch: int, metric: str, arm: str | None = None) -> float | None:
    """The validation ``metric`` at ``epoch``: of the run's weights, or of averaging arm ``arm``'s."""
    try:
        with open(run.epoch_file(epoch) if arm is None else run.root / AVERAGES_FILE, newline="") as f:
            for row in csv.DictReader(f):
                if row["split"] == "val" and row["metric"] == metric and (
                        arm is None or (row["arm"] == arm and int(row["epoch"]) == epoch)):
                    return float(row["value"])
    except OSError:
        pass
    return None


def _point(cfg: dict, run: RunDir, length: int, metric: str, arm: str | None = None) -> tuple[float, bool]:
    """(selection value at ``length`` or NaN, diverged before reaching it) of one finished run."""
    status = (run.finished() or {}).get("status")
    if status not in ("completed", "diverged"):
        raise TuningError(f"{run.root}: tuning run {cfg['optimizer']}/{cfg['schedule']} "
                          f"lr={cfg['base_lr']:g} seed={cfg['seed']} is not finished "
                          f"({status or 'no status'}); rerun the same command to finish it")
    value = _val(run, length, metric, arm)
    if status == "completed" or (value is not None and cfg["epochs"] > length):
        # a longer run that diverged after epoch ``length`` had measured it by then
        return (math.nan if value is None or not math.isfinite(value) else value), False
    return math.nan, True


def _pick(by_lr: list[dict], maximize: bool) -> float:
    def rank(r):
        score = -r["val_mean"] if maximize else r["val_mean"]
        return (r["n"] == 0, r["n_diverged"] > 0, score if r["n"] else math.inf, r["base_lr"])

    return min(by_lr, key=rank)["base_lr"]


def choose(study, grid: list[dict], root: Path) -> list[dict]:
    """One choice per (optimizer setting, schedule, curve length) from the finished runs of the
    tuning budget's ``grid`` under ``root`` (annealbench.execution.study.run_study's folder)."""
    metric = study.primary_metric
    maximize = study.metric_directions.get(metric, "max") == "max"
    runs = {(c["optimizer"], c["schedule"], c["base_lr"], c["seed"], c["epochs"]): c for c in grid}
    choices = []
    for o in study.optimizers:
        for s, arm in study.schedules.items():
            host = study.host(arm)  # an averaging arm is measured on its host's runs
            for b in study.curve_epochs:
                by_lr = []
                for lr in sorted(study.optimizer_of(o, arm).lrs):
                    vals = []
                    diverged = 0
                    for seed in study.seeds:
                        cfg = runs[(o, host.name, lr, seed, study.epochs if arm.length_independent else b)]
                        v, div = _point(cfg, RunDir(Path(root) / "runs" / cfg["run_key"]), b, metric,
                                        None if arm is host else s)
                        diverged += div
                        if math.isfinite(v):
                            vals.append(v)
                    by_lr.append({"base_lr": lr, "val_mean": sum(vals) / len(vals) if vals else None,
                                  "n": len(vals), "n_diverged": diverged})
                lr = _pick(by_lr, maximize)
                edge = len(by_lr) >= 2 and lr in (by_lr[0]["base_lr"], by_lr[-1]["base_lr"])
                choices.append({"optimizer": o, "schedule": s, "length": b, "base_lr": lr,
                                "edge": edge, "by_lr": by_lr})
    return choices


def write(judged, tuner, choices: list[dict], commit: str | None) -> dict:
    """Write the judged budget's tuning file atomically; return its content."""
    content = {"study": judged.name, "judged_budget": judged.budget, "tuning_budget": tuner.budget,
               "seeds": list(tuner.seeds), "primary_metric": judged.primary_metric,
               "direction": judged.metric_directions.get(judged.primary_metric, "max"),
               "commit": commit or "unknown", "date": datetime.now(UTC).date().isoformat(),
               "spec_sha256": judged.spec_sha256, "tuning_runs_sha256": judged.tuning_runs_sha256,
               "choices": choices}
    atomic_write_json(path(judged), content)
    return content


def table(content: dict) -> list[str]:
    """The choices as lines for a terminal: arm, length, chosen LR, the mean at each LR."""
    lines = []
    for c in content["choices"]:
        means = ", ".join(f"{r['base_lr']:g}: " + ("-" if r["val_mean"] is None else f"{r['val_mean']:.4g}")
                          for r in c["by_lr"])
        lines.append(f"  {c['optimizer']}/{c['schedule']} at {c['length']} epochs: base LR "
                     f"{c['base_lr']:g}{' (edge of the grid)' if c['edge'] else ''}  [{means}]")
    return lines
