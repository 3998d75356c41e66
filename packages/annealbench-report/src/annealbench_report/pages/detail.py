"""The detail section of one optimizer setting: its tables, then each figure with the table of
the numbers it draws."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.protocol import TUNED
from annealbench_report.analysis.study import Analysis
from annealbench_report.figures import detail as fig_detail
from annealbench_report.figures import training as fig_training
from annealbench_report.pages.cells import cell, fmt, fmt_epochs, fmt_lr, fmt_seconds, table
from annealbench_report.pages.tables import (
    arms_table,
    comparison_tables,
    per_seed_table,
    target_text,
    ttt_table,
)


def _conv_table(numbers: pd.DataFrame, primary: str) -> dict:
    rows = []
    for _, x in numbers.iterrows():
        def ci(m, h, n):
            return (f"{fmt(m)} ± {fmt(h)} ({int(n)})" if h == h else
                    f"{fmt(m)} ({int(n)})" if n == n else "–")
        rows.append({"cls": "", "cells": [
            cell(x["schedule"], cls="name"), cell(fmt_lr(x["base_lr"]), x["base_lr"], "num"),
            cell(str(int(x["epoch"])), x["epoch"], "num"),
            cell(ci(x["train_mean"], x["train_ci95"], x["train_n"]), x["train_mean"], "num"),
            cell(ci(x["val_mean"], x["val_ci95"], x["val_n"]), x["val_mean"], "num"),
            cell(fmt_lr(x["lr"]), x["lr"], "num")]})
    return table(["schedule", "base LR", "epoch", "train loss: mean ± 95% t-interval (n)",
                  f"val {primary}: mean ± 95% t-interval (n)", "LR at end of epoch"], rows,
                 "Numbers behind the figure", "numbers")


def _ttt_runs_table(numbers: pd.DataFrame) -> dict:
    rows = []
    for _, x in numbers.iterrows():
        st = str(x["status"])
        rows.append({"cls": "", "cells": [
            cell(x["schedule"], cls="name"), cell(str(int(x["seed"])), x["seed"], "num"),
            cell(fmt_lr(x["base_lr"]), x["base_lr"], "num"),
            cell(st, cls="bad" if st == "diverged" else ""),
            cell("yes" if x["reached"] else "no (censored)"),
            cell(fmt_epochs(x["epochs"]), x["epochs"], "num"),
            cell(fmt_seconds(x["seconds"]), x["seconds"], "num"),
            cell(f"{int(x['end_epoch'])} / {fmt_seconds(x['end_seconds'])}", None, "num")]})
    return table(["schedule", "seed", "base LR", "status", "reached target", "epoch reached",
                  "seconds reached", "trained until (epoch / s)"], rows,
                 "Numbers behind the figure: every run", "numbers")


def _lr_table(numbers: pd.DataFrame, a: Analysis) -> dict:
    u = a.units
    rows = []
    for _, x in numbers.sort_values(["schedule", "base_lr"]).iterrows():
        rows.append({"cls": "best" if x["chosen"] else "", "cells": [
            cell(x["schedule"], cls="name"), cell(fmt_lr(x["base_lr"]), x["base_lr"], "num"),
            cell(f"{int(x['n'])}/{int(x['n_runs'])}", x["n"], "num"),
            cell(f"{u.num(x['sel_mean'])} ± {u.num(x['half'])}", x["sel_mean"], "num"),
            cell(u.num(x["test_mean"]), x["test_mean"], "num"),
            cell(str(int(x["n_diverged"])), x["n_diverged"], "num bad" if x["n_diverged"] else "num"),
            cell(("chosen" + (", edge of grid" if x["edge"] else "")) if x["chosen"] else "")]})
    return table(["schedule", "base LR", "completed/runs", f"val {a.primary} ({u.unit}) mean ± "
                  "95% t-interval", f"test {a.primary} mean", "diverged", "all-seeds choice"],
                 rows, "Numbers behind the figure", "numbers")


def optimizer_section(i: int, df: pd.DataFrame, a: Analysis, opt: str, styles: dict) -> dict:
    """Tables and figures of optimizer setting ``opt``."""
    sel = a.selection
    filed = sel.tuning is not None
    chosen_on = "the tuning seeds (tuning file)" if filed else "all seeds"
    ch = sel.choices[(sel.choices["optimizer"] == opt) & (sel.choices["length"] == a.full)]
    arms = ch.rename(columns={"chosen_lr": "base_lr"})[["schedule", "base_lr"]]
    full_runs = df[(df["epochs"] == a.full) & (df["optimizer"] == opt)]
    figs = []
    svg, num = fig_training.convergence_figure(full_runs, opt, arms, a.primary, styles, f"f{i}a")
    figs.append({"id": f"conv-{i}", "svg": Markup(svg), "table": _conv_table(num, a.primary),
                 "title": f"Training curves at {a.full} epochs, with the applied LR",
                 "caption": (f"Full-length runs at each schedule's base LR chosen on {chosen_on}. Top "
                             "two panels: mean over the seeds that reached each epoch with a 95% "
                             "t-interval band (diverged runs left out). Bottom, same epoch axis: "
                             "the learning rate applied in each optimizer step (log scale) by one "
                             "run of each schedule.")})
    tt = next((r for r in a.targets if r.optimizer == opt), None)
    if tt is not None and len(tt.times):
        svg, num = fig_detail.time_to_target_figure(tt.times, tt.curves, tt.target, opt,
                                                    [s for s in a.scheds if s in set(tt.times[
                                                        "schedule"])], styles, f"f{i}b")
        figs.append({"id": f"ttt-{i}", "svg": Markup(svg), "table": _ttt_runs_table(num),
                     "title": "Time to target (second reading, not a verdict)",
                     "caption": (f"Share of the full-length runs at the tuned LR whose validation "
                                 f"{tt.target['metric']} has reached the target ({target_text(a)}), "
                                 "against epochs (left) and training seconds (right). Runs that "
                                 "never reach it are censored at the end of training and keep the "
                                 "curve below 100%; diverged runs count as never reaching it.")})
    seeds = {s: f for (o, p, c, s), f in a.claims.seeds.items()
             if o == opt and p == TUNED and claim_defs.get(c).at_full}
    if seeds:
        svg, num = fig_detail.paired_figure(seeds, opt, a.fixed, a.primary, a.units, styles,
                                            f"f{i}c")
        figs.append({"id": f"paired-{i}", "svg": Markup(svg), "table": per_seed_table(num, a),
                     "title": f"Test {a.primary} per seed at {a.full} epochs, paired with the fixed LR",
                     "caption": (f"Each line joins the {a.fixed} run of a seed (black, left) to the "
                                 "schedule's run of the same seed (right), each at the LR chosen "
                                 + ("on the tuning seeds" if filed else
                                    "for that seed on the other seeds")
                                 + ": lines that all slope the same way are what a paired test "
                                 "detects.")})
    b = sel.by_lr[(sel.by_lr["optimizer"] == opt) & (sel.by_lr["length"] == a.full)]
    svg, num = fig_detail.lr_figure(b, ch, opt, a.primary, a.units, styles, f"f{i}d")
    figs.append({"id": f"iso-{i}", "svg": Markup(svg), "table": _lr_table(num, a),
                 "title": f"Validation {a.primary} against the base LR at {a.full} epochs",
                 "caption": ("Mean over completed seeds with its 95% t-interval, per schedule and "
                             "base LR, on the judged seeds. " + (
                                 "Filled: the tuning file's choice, made on the tuning seeds (their "
                                 "values are in the tuning table); " if filed else
                                 "Filled: the LR chosen on all seeds (the verdicts use leave-one-"
                                 "seed-out choices, listed per seed above); ") +
                             "“edge”: the choice is at the end of a grid of two or more LRs, so the "
                             "best LR may lie outside it.")})
    tables = [arms_table(a, opt, styles), *comparison_tables(a, opt, styles)]
    if tt is not None:
        tables.append(ttt_table(a, tt, styles))
    return {"optimizer": opt, "tables": tables, "figures": figs}

