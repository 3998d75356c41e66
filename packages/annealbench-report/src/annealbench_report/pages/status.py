"""The bottom of a study page: every base LR, run status, and the environment to reproduce."""

from __future__ import annotations

import pandas as pd

from annealbench_report.analysis.descriptive import status_counts
from annealbench_report.analysis.protocol import Selection
from annealbench_report.analysis.units import Units
from annealbench_report.pages.cells import cell, finite, fmt_lr, table
from annealbench_report.records.contract import STATUSES as STATUS_ORDER
from annealbench_report.records.frames import diverged_step


def all_lrs_table(sel: Selection, opts: list, scheds: list, primary: str, units: Units) -> dict:
    """Every (optimizer, schedule, base LR, length) tried: the selection and test means over the
    runs with a value, so the effect of the base LR on every verdict stays visible."""
    t = sel.by_lr
    t = t.assign(_o=t["optimizer"].map({o: i for i, o in enumerate(opts)}),
                 _s=t["schedule"].map({s: i for i, s in enumerate(scheds)}))
    ch = {(r.optimizer, r.schedule, r.length): (r.chosen_lr, r.edge) for r in sel.choices.itertuples()}
    rows = []
    for _, r in t.sort_values(["_o", "length", "base_lr", "_s"]).iterrows():
        lr, edge = ch.get((r["optimizer"], r["schedule"], r["length"]), (None, False))
        chosen = lr == r["base_lr"]
        rows.append({"cls": "best" if chosen else "", "cells": [
            cell(r["optimizer"], cls="name"), cell(r["schedule"], cls="name"),
            cell(str(int(r["length"])), r["length"], "num"),
            cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
            cell(f"{int(r['n'])}/{int(r['n_runs'])}"),
            cell(str(int(r["n_diverged"])), r["n_diverged"], "num bad" if r["n_diverged"] else "num"),
            cell(f"{units.num(r['sel_mean'])} ± {units.num(r['sel_std'])}", r["sel_mean"], "num"),
            cell(units.num(r["test_mean"]), r["test_mean"], "num"),
            cell(("chosen on all seeds" + (", at the edge of the grid" if edge else ""))
                 if chosen else "")]})
    cols = ["optimizer", "schedule", "epochs", "base LR", "with a value/runs", "diverged",
            f"val {primary} ({units.unit}) mean ± std", f"test {primary} mean", "selection"]
    return table(cols, rows, "Every base LR at every length (highlighted: the all-seeds choice)",
                 "numbers")


def status_section(runs: pd.DataFrame, df: pd.DataFrame) -> dict:
    """The run-status part of the page: counts per status, a table per arm and status, and
    the lists of diverged, failed and unfinished runs (only those with rows)."""
    counts = {s: int((runs["status"].astype(str) == s).sum()) for s in STATUS_ORDER}
    per_arm = status_counts(runs.assign(model=runs["model"].astype(str)),
                                  ["optimizer", "base_lr", "schedule", "epochs"]) if len(runs) else None
    rows = []
    if per_arm is not None:
        for _, r in per_arm.iterrows():
            rows.append({"cls": "", "cells": [
                cell(r["optimizer"], cls="name"), cell(fmt_lr(r["base_lr"]), r["base_lr"], "num"),
                cell(r["schedule"], cls="name"), cell(str(r["epochs"]), r["epochs"], "num"),
                *[cell(str(r[f"n_{s}"]), r[f"n_{s}"], "num" + (" bad" if s in ("diverged", "failed")
                                                                 and r[f"n_{s}"] else ""))
                  for s in STATUS_ORDER]]})
    arm_table = table(["optimizer", "base LR", "schedule", "length", *STATUS_ORDER], rows,
                      "Runs per arm and status", "numbers")
    steps = diverged_step(df) if len(df) else pd.Series(dtype="Int64")

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
    """(label, value) rows of the environment a study ran in (torch, device, commit, packages)."""
    keys = [("torch", "torch"), ("cuda", "CUDA"), ("device", "device"),
            ("device_name", "device name"), ("git_commit", "git commit"), ("python", "python"),
            ("platform", "platform")]
    rows = [(label, "–" if meta.get(k) in (None, "") else str(meta.get(k))) for k, label in keys]
    for name, ver in sorted((meta.get("packages") or {}).items()):
        rows.append((f"package {name}", str(ver)))
    return rows


def train_seconds(df: pd.DataFrame) -> float:
    """The summed training time of every run in seconds (each run's last wall time); NaN
    without records."""
    if df.empty:
        return float("nan")
    return float(df.groupby("run_key", observed=True)["wall_time_s"].max().sum())


