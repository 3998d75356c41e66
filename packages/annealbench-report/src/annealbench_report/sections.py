"""The study page's content built from the analysis: the verdict matrix, the statistics tables
per optimizer setting, and each figure with the table of the numbers it draws."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from annealbench_report import claims, figures
from annealbench_report.cells import (
    cell,
    finite,
    fmt,
    fmt_ci,
    fmt_delta_epochs,
    fmt_epochs,
    fmt_lr,
    fmt_p,
    fmt_seconds,
    pm_cell,
    table,
)
from annealbench_report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED

VERDICT_CLASS = {REPRODUCED: "v-yes", NOT_REPRODUCED: "v-no", INCONCLUSIVE: "v-maybe"}
VERDICT_MARK = {REPRODUCED: "✔", NOT_REPRODUCED: "✘", INCONCLUSIVE: "?"}


def swatch(styles: dict, schedule: str) -> Markup:
    color = styles.get(str(schedule), {}).get("color", "#777777")
    return Markup('<span class="sw" style="background:{}"></span>').format(color)


def _name_cell(styles, schedule, extra="") -> dict:
    return cell(Markup("{}{}{}").format(swatch(styles, schedule), schedule, extra), cls="name")


def _diff(r, x) -> str:
    return fmt_delta_epochs(x) if r["claim"] == "faster" else fmt(x, True)


def _diff_ci(r) -> str:
    if not (finite(r["ci_lo"]) and finite(r["ci_hi"])):
        return "–"
    return f"[{_diff(r, r['ci_lo'])}, {_diff(r, r['ci_hi'])}]"


def verdict_cell(r) -> dict:
    v = r["verdict"]
    unit = " epochs" if r["claim"] == "faster" else ""
    text = Markup('<span class="verdict">{} {}</span><small>Δ {}{} {}</small><small>Holm p {}</small>'
                  ).format(VERDICT_MARK[v], v, _diff(r, r["mean_diff"]), unit, _diff_ci(r),
                           fmt_p(r["t_p_holm"]))
    div = [f"{int(n)} {who}" for n, who in ((r["own_diverged"], "schedule"),
                                             (r["ref_diverged"], "fixed-LR")) if n]
    if div:
        text += Markup('<small class="bad">diverged only: {}</small>').format(", ".join(div))
    return cell(text, r["mean_diff"], f"vcell {VERDICT_CLASS[v]}")


def verdict_matrix(results: list, order: list, styles: dict, primary: str) -> dict | None:
    """Schedules down, (optimizer setting, claim) across: the verdict and the effect behind it."""
    results = [r for r in results if len(r.comparisons)]
    if not results:
        return None
    cols, rows = ["schedule"], []
    for r in results:
        for claim, label in claims.CLAIMS.items():
            if (r.comparisons["claim"] == claim).any():
                cols.append(f"{r.optimizer}: {label}" + (f" ({primary})" if claim == "better" else ""))
    for sched in order:
        cells, any_row = [_name_cell(styles, sched)], False
        for r in results:
            for claim in claims.CLAIMS:
                c = r.comparisons
                if not (c["claim"] == claim).any():
                    continue
                m = c[(c["claim"] == claim) & (c["schedule"] == sched)]
                if m.empty:
                    cells.append(cell("–"))
                else:
                    cells.append(verdict_cell(m.iloc[0]))
                    any_row = True
        if any_row:
            rows.append({"cls": "", "cells": cells})
    cap = ("Verdict per claim, schedule vs the fixed LR: Δ = mean paired difference (schedule − fixed "
           "LR) with its 95% bootstrap CI and the Holm-corrected paired t-test p")
    return table(cols, rows, cap, "verdicts")


def verdict_lines(results: list) -> list[str]:
    """One sentence per optimizer setting and claim: which schedules reproduced it."""
    out = []
    for r in results:
        c = r.comparisons
        if c.empty:
            continue
        for claim, label in claims.CLAIMS.items():
            m = c[c["claim"] == claim]
            if m.empty:
                continue
            yes = m.loc[m["verdict"] == REPRODUCED, "schedule"].tolist()
            no = m.loc[m["verdict"] == NOT_REPRODUCED, "schedule"].tolist()
            n_inc = int((m["verdict"] == INCONCLUSIVE).sum())
            out.append(f"{r.optimizer}, {label}: reproduced for {len(yes)} of {len(m)} schedules"
                       + (f" ({', '.join(yes)})" if yes else "")
                       + f"; not reproduced for {len(no)}" + (f" ({', '.join(no)})" if no else "")
                       + f"; inconclusive for {n_inc}.")
    return out


def target_text(r: claims.OptimizerResult) -> str:
    t = r.target
    if t is None:
        return "no target: no fixed-LR arm with a completed run and none declared in study.json"
    sense = "≥" if t["direction"] == "max" else "≤"
    return f"validation {t['metric']} {sense} {t['value']:.4f} ({t['source']})"


# ---------------------------------------------------------------- statistics tables


def arms_table(r: claims.OptimizerResult, order, styles, primary, n_lrs: dict) -> dict:
    a = r.arms.set_index("schedule")
    rows = []
    for s in [s for s in order if s in a.index]:
        x = a.loc[s]
        not_done = [f"{int(x[f'n_{k}'])} {k}" for k in ("diverged", "failed", "running") if x[f"n_{k}"]]
        lr_note = Markup("{}{}").format(fmt_lr(x["base_lr"]), Markup(
            "<br><small>best of {}</small>").format(n_lrs.get(s, 1)) if n_lrs.get(s, 1) > 1 else "")
        cells = [_name_cell(styles, s, Markup(' <span class="badge">fixed LR</span>')
                            if s == r.baseline else ""),
                 cell(lr_note, x["base_lr"], "num"),
                 cell(f"{int(x['n_completed'])}/{int(x['n_runs'])}"
                      + (f" ({', '.join(not_done)})" if not_done else ""),
                      cls="bad" if x["n_diverged"] else "")]
        for col in ("final_val", "best_val", "final_test"):
            cells += [pm_cell(x[f"{col}_mean"], x[f"{col}_std"]),
                      cell(fmt_ci(x[f"{col}_ci_lo"], x[f"{col}_ci_hi"]), None, "num")]
        rows.append({"cls": "", "cells": cells})
    cols = ["schedule", "base LR", "seeds completed", f"final val {primary}", "final val 95% CI",
            f"best val {primary}", "best val 95% CI", f"final test {primary}", "final test 95% CI"]
    return table(cols, rows, f"{r.optimizer}: {primary} per schedule at its chosen base LR, mean ± "
                 "std over completed seeds, 95% bootstrap CI of the mean", "summary")


def comparisons_tables(r: claims.OptimizerResult, order, styles) -> list[dict]:
    """One table per claim: every schedule's paired comparison with the fixed LR."""
    c = r.comparisons
    out = []
    for claim, label in claims.CLAIMS.items():
        rows = []
        for s in order:
            m = c[(c["claim"] == claim) & (c["schedule"] == s)] if len(c) else c
            if m.empty:
                continue
            x = m.iloc[0]
            rows.append({"cls": "", "cells": [
                _name_cell(styles, s),
                cell(str(int(x["n_pairs"])), x["n_pairs"], "num"),
                cell(_diff(x, x["mean_diff"]), x["mean_diff"], "num"),
                cell(_diff_ci(x), None, "num"),
                cell(fmt_p(x["t_p"]), x["t_p"], "num"), cell(fmt_p(x["t_p_holm"]), x["t_p_holm"], "num"),
                cell(fmt_p(x["w_p"]), x["w_p"], "num"), cell(fmt_p(x["w_p_holm"]), x["w_p_holm"], "num"),
                cell(f"{x['poi']:.2f} ({int(x['wins'])}/{int(x['ties'])}/{int(x['losses'])})",
                     x["poi"], "num"),
                cell(f"{int(x['own_diverged'])} / {int(x['ref_diverged'])}",
                     cls="num bad" if x["own_diverged"] or x["ref_diverged"] else "num"),
                cell(Markup('<span class="verdict">{} {}</span><small class="reason">{}</small>').format(
                    VERDICT_MARK[x["verdict"]], x["verdict"], x["reason"]),
                     cls=f"vcell {VERDICT_CLASS[x['verdict']]}"),
            ]})
        if not rows:
            continue
        what = ("epochs to target, schedule − " if claim == "faster" else
                "final validation value, schedule − ")
        cols = ["schedule", "pairs", "Δ mean", "95% bootstrap CI", "t-test p", "Holm", "Wilcoxon p",
                "Holm", "P(impr.) (W/T/L)", "diverged only: sched. / fixed", "verdict and why"]
        out.append(table(cols, rows, f"{r.optimizer}, {label}: paired by seed; Δ = {what}"
                         f"{r.baseline}; Holm across the schedules of this claim", "comparisons"))
    return out


def _epoch_ci(lo, hi) -> str:
    return f"[{lo:g}, {hi:g}]" if finite(lo) and finite(hi) else "–"


def ttt_table(r: claims.OptimizerResult, order, styles) -> dict:
    a = r.arms.set_index("schedule")
    c = r.comparisons
    rows = []
    for s in [s for s in order if s in a.index]:
        x = a.loc[s]
        m = c[(c["claim"] == "faster") & (c["schedule"] == s)] if len(c) else c
        y = m.iloc[0] if len(m) else None
        rows.append({"cls": "", "cells": [
            _name_cell(styles, s),
            cell(f"{int(x['ttt_reached'])}/{int(x['ttt_runs'])}", x["ttt_reached"], "num"),
            cell(fmt_epochs(x["ttt_median_epochs"]), x["ttt_median_epochs"], "num"),
            cell(_epoch_ci(x["ttt_median_ci_lo"], x["ttt_median_ci_hi"]), None, "num"),
            cell("reference" if y is None else "[{}, {}]".format(
                fmt_delta_epochs(y["median_diff_ci_lo"]), fmt_delta_epochs(y["median_diff_ci_hi"]))
                 if finite(y["median_diff_ci_lo"]) else "–", None, "num"),
            cell(fmt_seconds(x["ttt_median_seconds"]), x["ttt_median_seconds"], "num"),
        ]})
    cols = ["schedule", "runs at target", "median epochs to target",
            f"95% CI of the median (not reached = {r.budget_epochs + 1})",
            f"95% CI of Δ median vs {r.baseline}", "median training seconds to target"]
    return table(cols, rows, f"{r.optimizer}: time to target ({target_text(r)})", "ttt")


# ---------------------------------------------------------------- figures and their numbers


def _conv_table(numbers: pd.DataFrame, primary: str) -> dict:
    rows = []
    for _, x in numbers.iterrows():
        def ci(m, h, n):
            return (f"{fmt(m)} ± {fmt(h)} ({int(n)})" if finite(h) else
                    f"{fmt(m)} ({int(n)})" if finite(n) else "–")
        rows.append({"cls": "", "cells": [
            cell(x["schedule"], cls="name"), cell(fmt_lr(x["base_lr"]), x["base_lr"], "num"),
            cell(str(int(x["epoch"])), x["epoch"], "num"),
            cell(ci(x["train_mean"], x["train_ci95"], x["train_n"]), x["train_mean"], "num"),
            cell(ci(x["val_mean"], x["val_ci95"], x["val_n"]), x["val_mean"], "num"),
            cell(fmt_lr(x["lr"]), x["lr"], "num")]})
    return table(["schedule", "base LR", "epoch", "train loss: mean ± 95% CI (n)",
                  f"val {primary}: mean ± 95% CI (n)", "LR at end of epoch"], rows,
                 "Numbers behind the figure", "numbers")


def _ttt_runs_table(numbers: pd.DataFrame) -> dict:
    rows = []
    for _, x in numbers.iterrows():
        st = str(x["status"])
        rows.append({"cls": "", "cells": [
            cell(x["schedule"], cls="name"), cell(str(int(x["seed"])), x["seed"], "num"),
            cell(st, cls="bad" if st == "diverged" else ""),
            cell("yes" if x["reached"] else "no (censored)"),
            cell(fmt_epochs(x["epochs"]), x["epochs"], "num"),
            cell(fmt_seconds(x["seconds"]), x["seconds"], "num"),
            cell(f"{int(x['end_epoch'])} / {fmt_seconds(x['end_seconds'])}", None, "num")]})
    return table(["schedule", "seed", "status", "reached target", "epoch reached", "seconds reached",
                  "trained until (epoch / s)"], rows, "Numbers behind the figure: every run", "numbers")


def _paired_table(numbers: pd.DataFrame, baseline: str, primary: str) -> dict:
    has_test = numbers["test"].notna().any()
    rows = []
    for _, x in numbers.iterrows():
        def val(v, st):
            return cell(fmt(v), v, "num") if finite(v) else cell(st, cls="bad" if st == "diverged"
                                                                  else "muted")
        cells = [cell(x["schedule"], cls="name"), cell(str(int(x["seed"])), x["seed"], "num"),
                 val(x["val_baseline"], x["baseline_status"]), val(x["val"], x["status"]),
                 cell(fmt(x["val"] - x["val_baseline"], True), x["val"] - x["val_baseline"], "num")]
        if has_test:
            cells += [val(x["test_baseline"], x["baseline_status"]), val(x["test"], x["status"]),
                      cell(fmt(x["test"] - x["test_baseline"], True), x["test"] - x["test_baseline"],
                           "num")]
        rows.append({"cls": "", "cells": cells})
    cols = ["schedule", "seed", f"{baseline} val", "schedule val", "Δ val"]
    if has_test:
        cols += [f"{baseline} test", "schedule test", "Δ test"]
    return table(cols, rows, f"Numbers behind the figure: final {primary} per seed", "numbers")


def _iso_table(numbers: pd.DataFrame, primary: str) -> dict:
    rows = []
    for _, x in numbers.sort_values(["schedule", "base_lr"]).iterrows():
        rows.append({"cls": "best" if x["chosen"] else "", "cells": [
            cell(x["schedule"], cls="name"), cell(fmt_lr(x["base_lr"]), x["base_lr"], "num"),
            cell(str(int(x["n"])), x["n"], "num"), pm_cell(x["mean"], x["std"]),
            cell(fmt_ci(x["ci_lo"], x["ci_hi"]), None, "num"),
            cell(str(int(x["n_diverged"])), x["n_diverged"], "num bad" if x["n_diverged"] else "num"),
            cell("chosen" if x["chosen"] else "")]})
    return table(["schedule", "base LR", "completed seeds", f"final val {primary} mean ± std",
                  "95% bootstrap CI", "diverged", "compared at"], rows,
                 "Numbers behind the figure", "numbers")


def optimizer_section(i: int, df: pd.DataFrame, finals: pd.DataFrame, r: claims.OptimizerResult,
                      order: list, styles: dict, primary: str, n_lrs: dict) -> dict:
    """Tables and figures of one optimizer setting."""
    arms = r.chosen
    sched_order = [s for s in order if s in set(arms["schedule"])]
    figs = []
    svg, num = figures.convergence_figure(df, r.optimizer, arms, primary, styles, f"f{i}a")
    figs.append({"id": f"conv-{i}", "svg": Markup(svg), "table": _conv_table(num, primary),
                 "title": f"Convergence: training loss and validation {primary}, with the applied LR",
                 "caption": ("Top two panels: mean over the seeds that reached each epoch with a 95% "
                             "t-interval band (diverged runs left out). Bottom, same epoch axis: the "
                             "learning rate applied in each optimizer step (log scale) by one run of "
                             "each schedule.")})
    if r.target is not None and len(r.times):
        svg, num = figures.time_to_target_figure(r.times, r.curves, r.target, r.optimizer,
                                                 sched_order, styles, f"f{i}b")
        figs.append({"id": f"ttt-{i}", "svg": Markup(svg), "table": _ttt_runs_table(num),
                     "title": "Time to target",
                     "caption": (f"Share of runs whose validation {r.target['metric']} has reached the "
                                 f"target ({target_text(r)}), against epochs (left) and training "
                                 "seconds (right). Runs that never reach it are censored at the end "
                                 "of training and keep the curve below 100%; diverged runs count as "
                                 "never reaching it.")})
    if r.baseline is not None and len(sched_order) > 1:
        svg, num = figures.paired_final_figure(finals, r.optimizer, arms, r.baseline, primary, styles,
                                               f"f{i}c")
        figs.append({"id": f"paired-{i}", "svg": Markup(svg),
                     "table": _paired_table(num, r.baseline, primary),
                     "title": f"Final {primary} per seed, paired with the fixed LR",
                     "caption": (f"Each line joins the {r.baseline} run of a seed (black, left) to the "
                                 "schedule's run of the same seed (right): lines that all slope the "
                                 "same way are what a paired test detects. Runs without a final value "
                                 "are counted under the schedule name.")})
    svg, num = figures.isolation_figure(r.by_lr, r.optimizer, arms, primary, styles, f"f{i}d")
    figs.append({"id": f"iso-{i}", "svg": Markup(svg), "table": _iso_table(num, primary),
                 "title": f"Isolation: final validation {primary} against the base LR",
                 "caption": ("Mean over completed seeds with the 95% bootstrap CI, per schedule and base "
                             "LR; the filled marker is the base LR each schedule is compared at (best "
                             "mean validation; LRs with a diverged seed passed over). With one base LR "
                             "per schedule this shows one point each.")})
    return {"optimizer": r.optimizer, "target": target_text(r), "warnings": r.warnings,
            "tables": [arms_table(r, order, styles, primary, n_lrs), *comparisons_tables(r, order, styles),
                       ttt_table(r, order, styles)],
            "figures": figs}
