"""One night's line of ``nights.jsonl``, read from the published site after the report was built,
and the failures that make the night fail.

A night holds: its id, start, commit and status (``passed`` or ``failed``, with ``failures``, one
sentence each); the versions it ran with (torch, CUDA, cuDNN, driver, GPU: what ci/nightly.sh's
check wrote); per study its run counts, its verdict rows (Δ, interval, verdict per optimizer,
protocol, claim and schedule, from ``verdicts.csv``) and its throughput samples (each run's median
epoch throughput, the first epoch left out as warm-up); the bench's measures (ratio, target, met,
and the candidate's repetitions as throughput samples).

A night fails on any of: a command that exited non-zero; a run that did not finish (failed or
still running) or a planned run with no record; a measure that missed its target; a comparison the
study declares (each optimizer against each schedule, for each of its claims) with no verdict; a
study or bench result on the site that this night did not produce (stale).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pandas as pd

from annealbench_report.errors import ReportError
from annealbench_report.records.contract import read_records
from annealbench_report.records.frames import declared_baselines

FINISHED = ("completed", "diverged")  # a diverged run is a result, not a failure
VERDICT_KEYS = ("optimizer", "protocol", "claim", "schedule")


def _time(s) -> datetime | None:
    try:
        return datetime.fromisoformat(str(s))
    except ValueError:
        return None


def _num(x):
    return round(float(x), 6) if x is not None and not pd.isna(x) and math.isfinite(float(x)) else None


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: cannot read ({e})") from None


def verdict_rows(study_dir: Path) -> list[dict]:
    p = study_dir / "verdicts.csv"
    if not p.exists():
        return []
    v = pd.read_csv(p)
    return [{**{k: str(r[k]) for k in VERDICT_KEYS}, "n": int(r["n"]), "delta": _num(r["delta"]),
             "lo": _num(r["lo"]), "hi": _num(r["hi"]), "verdict": str(r["verdict"])}
            for _, r in v.iterrows()]


def throughput_samples(records: pd.DataFrame) -> list[float]:
    """Each finished run's median epoch throughput (items/s), epoch 1 left out where a run has
    later epochs (it pays for start-up and compilation). Epochs a run took over from another run's
    identical prefix carry that run's rows: they are counted once."""
    t = records[(records["metric"].astype(str) == "throughput")
                & records["status"].astype(str).isin(FINISHED)]
    t = t.drop_duplicates(subset=["epoch", "value"])
    out = []
    for _, g in t.groupby(t["run_key"].astype(str)):
        later = g[g["epoch"] > 1]
        out.append(round(float((later if len(later) else g)["value"].median()), 3))
    return sorted(out)


def expected_comparisons(study: dict) -> set[tuple[str, str, str]]:
    """(optimizer, claim, schedule) the study declares: every optimizer setting against every
    schedule but the fixed LR, on 'better', and on 'faster' where the budget curve has a length
    shorter than the full one."""
    fixed = declared_baselines(study)
    scheds = [n for n in (study.get("schedules") or {}) if n not in fixed]
    full = study.get("epochs")
    claims = ["better"] + (["faster"] if any(e < full for e in study.get("curve_epochs") or []) else [])
    return {(o, c, s) for o in study.get("optimizers") or {} for c in claims for s in scheds}


def study_night(study_dir: Path, started: datetime | None) -> tuple[dict, list[str]]:
    """A study's part of the night, and its failures."""
    name = study_dir.name
    if not (study_dir / "records.parquet").exists():
        return {}, [f"{name}: no records on the site (the study did not run)"]
    meta, study = _json(study_dir / "meta.json"), _json(study_dir / "study.json")
    records = read_records(study_dir / "records.parquet")
    runs = records.drop_duplicates("run_key")["status"].astype(str).value_counts()
    counts = {s: int(n) for s, n in runs.items()}
    failures = []
    began = _time(meta.get("first_started_at") or meta.get("started_at"))
    if started and (began is None or began < started):
        failures.append(f"{name}: stale: its records began {meta.get('first_started_at')}, before "
                        "this night")
    bad = {s: n for s, n in counts.items() if s not in FINISHED}
    if bad:
        failures.append(f"{name}: " + ", ".join(f"{n} run{'s' * (n > 1)} {s}" for s, n in bad.items()))
    missing = int(meta.get("runs_planned") or 0) - sum(counts.values())
    if missing > 0:
        failures.append(f"{name}: {missing} planned runs have no record")
    verdicts = verdict_rows(study_dir)
    judged = {(v["optimizer"], v["claim"], v["schedule"]) for v in verdicts}
    skipped = sorted(expected_comparisons(study) - judged)
    if skipped:
        failures.append(f"{name}: {len(skipped)} comparisons skipped (no verdict): "
                        + "; ".join(" ".join(k) for k in skipped))
    return {"budget": str(study.get("budget") or ""), "started_at": meta.get("first_started_at"),
            "git_commit": meta.get("git_commit"), "runs": counts, "verdicts": verdicts,
            "throughput": throughput_samples(records)}, failures


def bench_night(bench_dir: Path, started: datetime | None) -> tuple[dict, list[str]]:
    """The newest bench result under ``bench_dir``, and its failures."""
    runs = sorted(bench_dir.glob("bench-*.json"))
    if not runs:
        return {}, ["bench: no result (bench-*.json) on the site"]
    r = _json(runs[-1])
    failures = []
    t = _time(r.get("time"))
    if started and (t is None or t < started):
        failures.append(f"bench: stale: its newest result is from {r.get('time')}, before this night")
    measures = {}
    for name, m in (r.get("measures") or {}).items():
        if "ratio" not in m:
            continue
        measures[name] = {"ratio": _num(m["ratio"]), "baseline": _num(m.get("baseline")),
                          "candidate": _num(m.get("candidate")), "unit": m.get("unit"),
                          "target": m.get("target"), "met": m.get("met"),
                          "samples": [_num(x) for x in (m.get("samples") or {}).get("candidate", [])]}
        if m.get("met") is False:
            failures.append(f"bench: {name} missed its target {m.get('target')} (ratio "
                            f"{m['ratio']:.3f})")
    return {"time": r.get("time"), "dataset": r.get("dataset"), "device_name": r.get("device_name"),
            "measures": measures}, failures


def close_night(site: Path, night: str, started: str, commit: str, studies: list[str],
                exits: dict[str, int], versions: dict) -> dict:
    """The night's line: every study named (expected tonight), the bench, the exit statuses."""
    t0 = _time(started)
    failures = [f"{cmd} exited {rc}" for cmd, rc in exits.items() if rc]
    out = {}
    for name in studies:
        part, bad = study_night(Path(site) / name, t0)
        out[name] = part
        failures += bad
    bench, bad = bench_night(Path(site) / "bench", t0)
    failures += bad
    return {"night": night, "started_at": started, "finished_at": datetime.now().astimezone()
            .isoformat(timespec="seconds"), "git_commit": commit,
            "status": "failed" if failures else "passed", "failures": failures,
            "versions": versions, "studies": out, "bench": bench}
