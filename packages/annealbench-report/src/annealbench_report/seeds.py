"""``annealbench-report seeds TUNING_FOLDER --tuning-file FILE [--target-mde X] [--max-seeds N]
[--json]``: how many judged seeds a tuned budget needs, from its tuning runs, before any judged run.

TUNING_FOLDER is the tuning budget's output folder (``OUT/<study>/tuning/<tuning budget>/`` as
``annealbench tune`` writes it: ``study.json`` and ``runs/``, or a kept ``records.parquet`` or
``records.csv``); FILE is the tuning file ``annealbench tune`` wrote from it. The statistics are
:mod:`annealbench_report.analysis.seeds_needed`'s. The target MDE is in the primary metric's
units, as the study's min_effect (default: min_effect × 0.75). A file that does not fit (another
study, tuning budget, seeds or metric) is one line naming it, exit 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from annealbench_report.analysis import inference, seeds_needed, tuning
from annealbench_report.analysis.seeds_needed import Plan
from annealbench_report.analysis.study import judged_on
from annealbench_report.analysis.units import Units, units_for
from annealbench_report.errors import ReportError
from annealbench_report.records import collect
from annealbench_report.records.contract import read_records
from annealbench_report.records.files import read_json
from annealbench_report.records.frames import baseline_arm, direction, sign


@dataclass(frozen=True)
class Context:
    """What the plan was made from, for its text."""

    study: str
    tuning_budget: str
    judged_budget: str
    seeds: list
    primary: str
    direction: str
    split: str
    baseline: str
    target_from: str  # where the target came from, in words
    units: Units


def records(folder: Path) -> pd.DataFrame:
    """The tuning folder's tidy records: collected from its runs/ (the current grid, as a build
    would), else its kept records.parquet or records.csv."""
    if collect.has_runs(folder):
        return collect.collect(folder)
    for name in ("records.parquet", "records.csv"):
        if (folder / name).is_file():
            return read_records(folder / name)
    raise ReportError(f"{folder}: no records.parquet, records.csv or runs/ (pass the folder "
                      "`annealbench tune` trains into: OUT/<study>/tuning/<tuning budget>)")


def _study(folder: Path) -> dict:
    path = folder / "study.json"
    if not path.is_file():
        raise ReportError(f"{path}: missing (pass the folder `annealbench tune` trains into: "
                          "OUT/<study>/tuning/<tuning budget>)")
    study = read_json(path, "study.json")
    if not isinstance(study, dict):
        raise ReportError(f"{path}: study.json must be a JSON object")
    return study


def _tuning_file(path: Path, study: dict, where: str) -> tuple[dict, dict]:
    """(raw content, :func:`tuning.read` of it), checked against the tuning folder's study.json."""
    raw = read_json(path, "tuning file")
    if not isinstance(raw, dict):
        raise ReportError(f"{path}: a tuning file must be a JSON object")
    tuned = tuning.read({"tuning": raw}, str(path))
    pairs = [("study", raw.get("study"), study.get("name")),
             ("tuning_budget", raw.get("tuning_budget"), study.get("budget")),
             ("primary_metric", raw.get("primary_metric"), study.get("primary_metric"))]
    for field, got, want in pairs:
        if want is not None and got != want:
            raise ReportError(f"{path}: {field} is {got!r}, but {where} has {want!r}; allowed: the "
                              "tuning file written from this tuning folder")
    if study.get("seeds") is not None and sorted(study["seeds"]) != tuned["seeds"]:
        raise ReportError(f"{path}: seeds are {tuned['seeds']}, but {where} trained seeds "
                          f"{sorted(study['seeds'])}; allowed: the tuning file written from this "
                          "tuning folder")
    return raw, tuned


def target_mde(study: dict, given: float | None, where: str) -> tuple[float, str]:
    """(target MDE, where it came from in words): ``given``, else the study's min_effect × 0.75."""
    if given is not None:
        if not (math.isfinite(given) and given > 0):
            raise ReportError(f"--target-mde: {given!r}; allowed: a positive number in the primary "
                              "metric's units")
        return float(given), "--target-mde"
    me = study.get("min_effect")
    if me is None:
        raise ReportError(f"{where}: min_effect is null, so there is no default target MDE; pass "
                          "--target-mde X (primary-metric units)")
    if isinstance(me, bool) or not isinstance(me, (int, float)) or not math.isfinite(me) or me <= 0:
        raise ReportError(f"{where}: min_effect must be a positive number, not {me!r}")
    return float(me) * seeds_needed.TARGET_SHARE, f"min_effect {me:g} × {seeds_needed.TARGET_SHARE:g}"


def run(folder, tuning_file, target: float | None = None,
        max_seeds: int = seeds_needed.MAX_SEEDS) -> tuple[Plan, Context]:
    """The seed plan of the judged budget of ``tuning_file``, from the tuning folder ``folder``."""
    folder, tuning_file = Path(folder), Path(tuning_file)
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such directory (pass the tuning budget's output folder)")
    if max_seeds < 2:
        raise ReportError(f"--max-seeds: {max_seeds}; allowed: an integer of at least 2")
    study = _study(folder)
    where = str(folder / "study.json")
    raw, tuned = _tuning_file(tuning_file, study, where)
    df = records(folder)
    primary = str(study.get("primary_metric") or raw.get("primary_metric") or "loss")
    directions = dict(study.get("metric_directions") or {})
    baseline = baseline_arm(df, study) if len(df) else study.get("baseline")
    if not baseline or not any(s == baseline for _, s, _ in tuned["choices"]):
        raise ReportError(f"{tuning_file}: no choice for the baseline arm {baseline!r} of {where}; "
                          "allowed: a tuning file whose choices include the fixed LR")
    goal, source = target_mde(study, target, where)
    split = judged_on(study, where)
    p = seeds_needed.plan(df, study, tuned, baseline, primary, sign(primary, directions), split,
                          goal, max_seeds)
    if not p.df:
        raise ReportError(f"{folder}: no arm has 2 tuning seeds paired with {baseline} (both runs "
                          "completed): no paired SD to plan from")
    vals = df.loc[(df["metric"] == primary) & (df["split"] != "train"), "value"] if len(df) else []
    ctx = Context(str(study.get("name") or raw.get("study")), tuned["tuning_budget"],
                  tuned["judged_budget"], tuned["seeds"], primary, direction(primary, directions),
                  split, baseline, source, units_for(primary, list(vals)))
    return p, ctx


def _n(n: int | None, cap: int) -> str:
    return str(n) if n is not None else f"more than {cap}"


def text(p: Plan, c: Context) -> str:
    """The plan as a short table and the lines under it."""
    u = c.units
    better = "higher" if c.direction == "max" else "lower"
    level = inference.ALPHA / p.m
    lines = [f"{c.study}: judged budget {c.judged_budget}, planned from tuning budget "
             f"{c.tuning_budget} (seeds {tuning.seeds_text(c.seeds)})",
             f"Δ = arm at its chosen base LR − {c.baseline} at its chosen base LR, same seed and "
             f"length, {c.split} {c.primary} ({better} is better, so Δ > 0: the arm is better); "
             f"in {u.unit}.", ""]
    head = f"{'optimizer':<12}{'arm':<18}{'length':>7}{'base LR':>10}{'pairs':>7}" \
           f"{'mean Δ':>10}{'paired SD':>11}"
    lines += [head, "-" * len(head)]
    for a in p.arms:
        lines.append(f"{a.optimizer:<12}{a.schedule:<18}{a.length:>7}{a.base_lr:>10g}{a.n:>7}"
                     f"{u.num(a.mean, signed=True):>10}{u.num(a.sd):>11}"
                     + (f"  ({a.left_out} seed(s) unpaired)" if a.left_out else ""))
    fams = ", ".join(f"{o}: {m}" for o, m in p.families.items())
    lines += ["",
              f"pooled paired SD: {u.effect(p.sd)} on {p.df} degrees of freedom; one-sided "
              f"{seeds_needed.CONFIDENCE:.0%} upper bound {u.effect(p.sd_upper)} (chi-square; "
              f"{seeds_needed.CONFIDENCE:.0%} if the arms' Δs were independent, less as they share "
              f"the {c.baseline} run of each seed)",
              f"\"better\" claim's Holm family: m = {p.m} ({fams}); first threshold "
              f"{inference.ALPHA:g}/{p.m} = {level:.3g}",
              f"exact sign-flip test: at least {p.exact_min} seeds to go below {level:.3g} "
              f"(2/2^{p.exact_min} = {inference.min_sign_flip_p(p.exact_min):.3g})",
              f"target MDE: {u.effect(p.target)} ({c.target_from})",
              f"seeds needed: {_n(p.needed, p.max_seeds)} at the pooled SD, "
              f"{_n(p.needed_upper, p.max_seeds)} at its upper bound",
              f"MDE at {inference.POWER:.0%} power (paired t at {level:.3g}), at the SD [at the "
              "bound]: " + ", ".join(f"{n} seeds {u.num(a)} [{u.num(b)}]"
                                     for n, (a, b) in p.mde_at.items())]
    return "\n".join(lines)


def _num(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def as_json(p: Plan, c: Context) -> dict:
    """The plan as plain JSON (primary-metric units; null where undefined)."""
    return {"study": c.study, "judged_budget": c.judged_budget, "tuning_budget": c.tuning_budget,
            "tuning_seeds": c.seeds, "primary_metric": c.primary, "direction": c.direction,
            "judged_on": c.split, "baseline": c.baseline,
            "arms": [{"optimizer": a.optimizer, "schedule": a.schedule, "length": a.length,
                      "base_lr": a.base_lr, "baseline_lr": a.ref_lr, "n": a.n,
                      "unpaired": a.left_out, "mean": _num(a.mean), "sd": _num(a.sd)}
                     for a in p.arms],
            "pooled_sd": _num(p.sd), "df": p.df, "sd_upper": _num(p.sd_upper),
            "confidence": seeds_needed.CONFIDENCE, "families": p.families, "m": p.m,
            "alpha": inference.ALPHA, "power": inference.POWER, "target_mde": p.target,
            "target_from": c.target_from, "exact_min_seeds": p.exact_min,
            "seeds_needed": p.needed, "seeds_needed_upper": p.needed_upper,
            "max_seeds": p.max_seeds,
            "mde": [{"seeds": n, "at_sd": _num(a), "at_upper": _num(b)}
                    for n, (a, b) in p.mde_at.items()]}
