"""Static HTML: one self-contained page per study and an index of studies with their history.

Pages carry their CSS inline and their figures as inline SVG; they load nothing (no script, no
font, no image, no stylesheet from anywhere), so they open offline, archive as one file and print.
Jinja2 autoescaping is on: every string from a spec, a config or the records is escaped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from annealbench_report import __version__, claims, collect, figures, history, sections, stats, verdicts
from annealbench_report.cells import cell, finite, fmt, fmt_date, fmt_duration, fmt_lr, pm_cell, table

STATUS_ORDER = collect.STATUSES
SELECTION_NOTE = ("Each arm's base LR was chosen on the same validation metric that the “better final "
                  "validation” claim is judged on, which flatters every arm a little; the final test "
                  "numbers in the tables below, at the same LRs, are the unbiased check.")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("annealbench_report", "templates"),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = fmt
    env.filters["lr"] = fmt_lr
    env.filters["duration"] = fmt_duration
    return env


# ---------------------------------------------------------------- analysis of one study


@dataclass
class Analysis:
    study: dict
    meta: dict
    name: str
    primary: str
    directions: dict
    const: str | None
    scheds: list
    opts: list
    finals: pd.DataFrame
    chosen: pd.DataFrame  # per (optimizer, schedule): the row of table at its chosen base LR
    table: pd.DataFrame
    results: list


def _study_meta(study_dir: Path) -> tuple[dict, dict, dict]:
    info = collect.study_info(study_dir)
    cfg = collect.first_config(study_dir)
    return info["study"], info["meta"], cfg


def _orders(study: dict, df: pd.DataFrame, const: str | None) -> tuple[list, list]:
    scheds = [str(s) for s in (study.get("schedules") or {})]
    opts = [str(o) for o in (study.get("optimizers") or {})]
    present_s = sorted(set(df["schedule"].astype(str)), key=lambda s: (s != const, s))
    present_o = sorted(set(df["optimizer"].astype(str)))
    scheds = [s for s in scheds if s in present_s] + [s for s in present_s if s not in scheds]
    opts = [o for o in opts if o in present_o] + [o for o in present_o if o not in opts]
    if const in scheds:  # the reference first
        scheds.remove(const)
        scheds.insert(0, const)
    return scheds, opts


def analyse(study_dir: Path, df: pd.DataFrame) -> Analysis:
    """Everything both pages need from one study's files and records."""
    study, meta, cfg = _study_meta(study_dir)
    primary = str(study.get("primary_metric") or cfg.get("primary_metric") or "loss")
    directions = dict(study.get("metric_directions") or cfg.get("metric_directions") or {})
    name = str(study.get("name") or meta.get("study") or cfg.get("study") or study_dir.name)
    const = stats.constant_arm(df) if len(df) else None
    scheds, opts = _orders(study, df, const)
    if not len(df):
        empty = pd.DataFrame()
        return Analysis(study, meta, name, primary, directions, const, scheds, opts,
                        pd.DataFrame(columns=[*stats.RUN, "status", "diverged_step"]), empty, empty, [])
    finals = stats.run_finals(df, primary, directions)
    table = stats.final_table(finals)
    chosen = stats.select_lr(table, directions, primary)
    results = claims.analyse(df, finals, chosen, opts, scheds, const, study, primary, directions,
                             str(study_dir / "study.json"))
    return Analysis(study, meta, name, primary, directions, const, scheds, opts, finals, chosen,
                    table, results)


def all_lrs_table(table_: pd.DataFrame, opts, scheds, primary) -> dict:
    """Final results at every base LR tried (the summary picks one LR per arm from these)."""
    t = table_.assign(_o=table_["optimizer"].astype(str).map({o: i for i, o in enumerate(opts)}),
                      _s=table_["schedule"].astype(str).map({s: i for i, s in enumerate(scheds)}))
    rows = []
    for _, r in t.sort_values(["_o", "base_lr", "_s"]).iterrows():
        rows.append({"cls": "", "cells": [
            cell(r["optimizer"], cls="name"), cell(r["schedule"], cls="name"),
            cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
            cell(f"{r['n_completed']}/{r['n_runs']}"), cell(str(r["n_diverged"]), r["n_diverged"],
                                                            "num bad" if r["n_diverged"] else "num"),
            pm_cell(r["val_mean"], r["val_std"], r["val_n"]),
            cell(fmt(r["val_ci95"]), r["val_ci95"], "num"),
            pm_cell(r["test_mean"], r["test_std"], r["test_n"]),
            pm_cell(r["train_loss_mean"], r["train_loss_std"], r["train_loss_n"]),
            cell(fmt(r["best_val_epoch_mean"]).rstrip("0").rstrip("."), r["best_val_epoch_mean"],
                 "num"),
        ]})
    cols = ["optimizer", "schedule", "base LR", "completed/runs", "diverged",
            f"final val {primary} mean ± std (n)", "95% t-CI ±", f"final test {primary}",
            "final train loss", "best val epoch (mean)"]
    return table(cols, rows, "Final results at every base LR (completed runs only)", "numbers")


def status_section(runs: pd.DataFrame, finals: pd.DataFrame) -> dict:
    counts = {s: int((runs["status"].astype(str) == s).sum()) for s in STATUS_ORDER}
    per_arm = stats.status_counts(runs.assign(model=runs["model"].astype(str)),
                                  ["optimizer", "base_lr", "schedule"]) if len(runs) else None
    rows = []
    if per_arm is not None:
        for _, r in per_arm.iterrows():
            rows.append({"cls": "", "cells": [
                cell(r["optimizer"], cls="name"), cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
                cell(r["schedule"], cls="name"),
                *[cell(str(r[f"n_{s}"]), r[f"n_{s}"], "num" + (" bad" if s in ("diverged", "failed")
                                                                 and r[f"n_{s}"] else ""))
                  for s in STATUS_ORDER]]})
    arm_table = table(["optimizer", "base LR", "schedule", *STATUS_ORDER], rows,
                      "Runs per arm and status", "numbers")
    steps = finals.set_index("run_key")["diverged_step"] if len(finals) else pd.Series(dtype="Int64")

    def listing(status):
        sel = runs[runs["status"].astype(str) == status]
        out = []
        for _, r in sel.iterrows():
            step = r["diverged_step"]
            if not finite(step) and r["run_key"] in steps.index:
                step = steps.loc[r["run_key"]]
            out.append({"cls": "", "cells": [
                cell(r["run_key"], cls="mono"), cell(r["optimizer"]), cell(fmt_lr(r["base_lr"]),
                                                                           r["base_lr"], "num"),
                cell(r["schedule"]), cell(str(r["seed"]), r["seed"], "num"),
                cell(f"{r['epochs_done']}/{r['epochs']}" if finite(r["epochs"])
                     else str(r["epochs_done"])),
                cell(str(int(step)) if finite(step) else "–", step, "num") if status == "diverged"
                else cell(r["error"] if isinstance(r["error"], str) else (
                    "running or interrupted" if status == "running" else "–")),
            ]})
        return out

    base = ["run", "optimizer", "base LR", "schedule", "seed", "epochs done"]
    lists = [table([*base, "diverged at step"], listing("diverged"), "Diverged runs", "numbers"),
             table([*base, "error"], listing("failed"), "Failed runs", "numbers"),
             table([*base, "note"], listing("running"), "Unfinished runs (no status.json yet)",
                   "numbers")]
    return {"counts": counts, "total": int(len(runs)), "arm_table": arm_table,
            "lists": [t for t in lists if t["rows"]]}


def environment_rows(meta: dict) -> list[tuple[str, str]]:
    keys = [("torch", "torch"), ("cuda", "CUDA"), ("device", "device"),
            ("device_name", "device name"), ("git_commit", "git commit"), ("python", "python"),
            ("platform", "platform")]
    rows = [(label, "–" if meta.get(k) in (None, "") else str(meta.get(k))) for k, label in keys]
    for name, ver in sorted((meta.get("packages") or {}).items()):
        rows.append((f"package {name}", str(ver)))
    return rows


def _train_seconds(df: pd.DataFrame) -> float:
    if df.empty:
        return float("nan")
    return float(df.groupby("run_key", observed=True)["wall_time_s"].max().sum())


def study_context(study_dir: Path, df: pd.DataFrame, a: Analysis, runs: pd.DataFrame) -> dict:
    study, meta = a.study, a.meta
    styles = figures.schedule_styles(a.scheds, a.const)
    n_lrs = (a.table.groupby(["optimizer", "schedule"], observed=True)["base_lr"].nunique()
             if len(a.table) else pd.Series(dtype=int))
    secs = []
    for i, r in enumerate(a.results):
        lrs = {str(s): int(n) for (o, s), n in n_lrs.items() if str(o) == r.optimizer}
        secs.append(sections.optimizer_section(i, df, a.finals, r, a.scheds, styles, a.primary, lrs))
    return {
        "name": a.name,
        "dir_name": study_dir.name,
        "description": str(study.get("description") or ""),
        "notes": str(study.get("notes") or ""),
        "budget": str(study.get("budget") or meta.get("budget") or "–"),
        "date": fmt_date(meta.get("finished_at") or meta.get("started_at")),
        "model": str(study.get("model") or "–"),
        "dataset": str(study.get("dataset") or "–"),
        "epochs": study.get("epochs", "–"),
        "seeds": ", ".join(str(s) for s in study.get("seeds", [])) or "–",
        "primary": a.primary,
        "direction": stats.direction(a.primary, a.directions),
        "constant": a.const,
        "has_records": bool(len(df)),
        "verdict_table": sections.verdict_matrix(a.results, a.scheds, styles, a.primary),
        "verdict_lines": sections.verdict_lines(a.results),
        "targets": [(r.optimizer, sections.target_text(r)) for r in a.results],
        "warnings": sorted({w for r in a.results for w in r.warnings}) + (
            [SELECTION_NOTE] if len(n_lrs) and n_lrs.max() > 1 else []),
        "rule": verdicts.RULE,
        "diverged_rule": verdicts.DIVERGED_RULE,
        "sections": secs,
        "all_lrs": all_lrs_table(a.table, a.opts, a.scheds, a.primary) if len(a.table) else None,
        "status": status_section(runs, a.finals),
        "command": str(meta.get("command") or "–"),
        "study_json": json.dumps(study, indent=2, ensure_ascii=False) if study else "(no study.json)",
        "environment": environment_rows(meta),
        "checksums": sorted((str(k), str(v)) for k, v in (meta.get("data_checksums") or {}).items()),
        "wall_time_s": meta.get("wall_time_s"),
        "train_seconds": _train_seconds(df),
        "spec": {"file": meta.get("spec_file") or study.get("file"),
                 "sha256": meta.get("spec_sha256") or study.get("spec_sha256")},
        "version": __version__,
        "n_records": int(len(df)),
    }


def _records_for(study_dir: Path) -> pd.DataFrame:
    p = study_dir / "records.parquet"
    return collect.read_records(p) if p.exists() else collect.collect(study_dir)


def _runs_for(study_dir: Path, df: pd.DataFrame) -> pd.DataFrame:
    """Run statuses from runs/ (also sees runs with no epoch yet), else from the records."""
    if collect.has_runs(study_dir):
        return collect.runs(study_dir)
    r = collect.runs_from_records(df)
    r["status"] = r["status"].astype(pd.CategoricalDtype(list(STATUS_ORDER)))
    return r


def render_study(study_dir, records: pd.DataFrame | None = None, analysed: dict | None = None) -> Path:
    """Write ``<study_dir>/index.html`` (atomically) and return its path.

    ``records``: the tidy frame; by default ``records.parquet`` when present, else collected.
    ``analysed``: if given, the study's (analysis, run table) is left in it under the folder name,
    so that :func:`render_index` in the same build does not recompute every statistic."""
    study_dir = Path(study_dir)
    df = _records_for(study_dir) if records is None else records
    a, runs = analyse(study_dir, df), _runs_for(study_dir, df)
    if analysed is not None:
        analysed[study_dir.name] = (a, runs)
    ctx = study_context(study_dir, df, a, runs)
    html = _env().get_template("study.html.j2").render(**ctx)
    out = study_dir / "index.html"
    collect.write_text_atomic(out, html, fault="render-write")
    return out


# ---------------------------------------------------------------- index of studies and history


def study_dirs(out_dir) -> list[Path]:
    """Study output directories under ``out_dir``, sorted by name: those holding ``runs/``, or
    only ``records.parquet`` (a study kept without its run directories)."""
    out_dir = Path(out_dir)
    return sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / "runs").is_dir() or (p / "records.parquet").is_file()))


def _json_num(x):
    return float(x) if x is not None and not pd.isna(x) and math.isfinite(float(x)) else None


def history_entry(study_dir: Path, a: Analysis, runs: pd.DataFrame) -> dict:
    """The line this build adds to ``history.jsonl`` for one study."""
    v = claims.verdict_frame(a.results)
    return {
        "dir": study_dir.name, "study": a.name,
        "budget": str(a.study.get("budget") or a.meta.get("budget") or ""),
        "started_at": a.meta.get("first_started_at") or a.meta.get("started_at"),
        "finished_at": a.meta.get("finished_at"),
        "git_commit": a.meta.get("git_commit"), "epochs": a.study.get("epochs"),
        "seeds": len(a.study.get("seeds") or []), "primary_metric": a.primary,
        "runs": {s: int((runs["status"].astype(str) == s).sum()) for s in STATUS_ORDER},
        "targets": {r.optimizer: _json_num(r.target["value"]) if r.target else None
                    for r in a.results},
        "verdicts": [{"optimizer": r["optimizer"], "schedule": r["schedule"], "claim": r["claim"],
                      "base_lr": _json_num(r["base_lr"]), "verdict": r["verdict"],
                      "mean_diff": _json_num(r["mean_diff"]), "ci_lo": _json_num(r["ci_lo"]),
                      "ci_hi": _json_num(r["ci_hi"]), "p_holm": _json_num(r["t_p_holm"]),
                      "n_pairs": int(r["n_pairs"])} for _, r in v.iterrows()],
        "report_version": __version__,
    }


def _claim_counts(entry: dict) -> dict:
    """{(optimizer, claim): {verdict: [schedules]}} of a history entry."""
    out = {}
    for v in entry.get("verdicts", []):
        d = out.setdefault((v["optimizer"], v["claim"]), {k: [] for k in verdicts.VERDICTS})
        d.setdefault(v["verdict"], []).append(v["schedule"])
    return out


def _count_text(d: dict) -> str:
    yes = d.get(verdicts.REPRODUCED, [])
    return (f"{len(yes)} reproduced" + (f" ({', '.join(yes)})" if yes else "")
            + f", {len(d.get(verdicts.NOT_REPRODUCED, []))} not, "
            f"{len(d.get(verdicts.INCONCLUSIVE, []))} inconclusive")


def history_table(entries: list[dict], current: tuple) -> dict:
    pairs = []
    for e in entries:
        for k in _claim_counts(e):
            if k not in pairs:
                pairs.append(k)
    rows = []
    for e in reversed(entries):  # newest first
        counts = _claim_counts(e)
        rows.append({"cls": "best" if history.key(e) == current else "", "cells": [
            cell(fmt_date(e.get("started_at"))), cell(fmt_date(e.get("finished_at"))),
            cell(str(e.get("git_commit") or "–")[:12], cls="mono"), cell(str(e.get("budget") or "–")),
            cell(f"{e.get('seeds', '–')} × {e.get('epochs', '–')}"),
            *[cell(_count_text(counts[k]) if k in counts else "–") for k in pairs]]})
    cols = ["run started", "finished", "git commit", "budget", "seeds × epochs",
            *[f"{o}: {claims.CLAIMS.get(c, c)}" for o, c in pairs]]
    return table(cols, rows, "Every build of this study, newest first (highlighted: the current one)",
                 "history")


def index_entry(study_dir: Path, analysed: tuple | None = None) -> tuple[dict, dict]:
    """The index row of a study, and its history line; ``analysed``: its (analysis, run table)
    when this build has already made them (:func:`render_study`)."""
    if analysed is None:
        df = _records_for(study_dir)
        analysed = analyse(study_dir, df), _runs_for(study_dir, df)
    a, runs = analysed
    entry = history_entry(study_dir, a, runs)
    row = {
        "name": a.name,
        "dir": study_dir.name,
        "href": f"{quote(study_dir.name)}/index.html",
        "description": str(a.study.get("description") or ""),
        "date": fmt_date(a.meta.get("finished_at") or a.meta.get("started_at")),
        "budget": entry["budget"] or "–",
        "counts": entry["runs"],
        "headlines": sections.verdict_lines(a.results),
        "key": history.key(entry),
    }
    return row, entry


def render_index(out_dir, analysed: dict | None = None) -> Path:
    """Write ``<out_dir>/index.html`` listing every study directory with relative links and the
    history of each, after adding this build's line per study to ``<out_dir>/history.jsonl``.
    ``analysed``: what :func:`render_study` left for the studies it rendered in this build."""
    out_dir = Path(out_dir)
    analysed = analysed or {}
    pairs = [index_entry(d, analysed.get(d.name)) for d in study_dirs(out_dir)]
    hist = history.record(out_dir, [e for _, e in pairs])
    entries = []
    for row, _ in pairs:
        h = history.for_study(hist, row["dir"])
        entries.append({**row, "history": history_table(h, row["key"]) if len(h) > 1 else None,
                        "n_history": len(h)})
    html = _env().get_template("index.html.j2").render(studies=entries, version=__version__,
                                                       statuses=STATUS_ORDER)
    out = out_dir / "index.html"
    collect.write_text_atomic(out, html, fault="render-write")
    return out
