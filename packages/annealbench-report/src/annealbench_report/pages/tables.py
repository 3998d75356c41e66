"""Detail tables of one optimizer setting: the judged values per arm, every family's comparisons,
and time to target (a second reading, not a verdict)."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from annealbench_report.analysis import inference
from annealbench_report.analysis.claim_defs import CLAIMS
from annealbench_report.analysis.claims import family_rows
from annealbench_report.analysis.study import Analysis
from annealbench_report.analysis.targets import TargetResult
from annealbench_report.pages.cells import (
    cell,
    fmt_delta_epochs,
    fmt_epochs,
    fmt_p,
    fmt_seconds,
    name_cell,
    table,
)
from annealbench_report.pages.labels import PROTOCOL_SHORT, VERDICT_CLASS, VERDICT_MARK, family_label


def arms_table(a: Analysis, opt: str, styles: dict) -> dict:
    """Per protocol and schedule, at the full length: the base LRs used, seeds, and the judged
    (test) and selection (validation) values of the judged runs."""
    j = a.selection.judged
    j = j[(j["optimizer"] == opt) & (j["length"] == a.full)]
    rows = []
    for protocol, _ in a.claims.protocols.get(opt, []):
        for s in a.scheds:
            g = j[(j["protocol"] == protocol) & (j["schedule"] == s)]
            if g.empty:
                continue
            lrs = sorted(set(g["base_lr"]))
            edge = bool(g["edge"].any()) and protocol != "article"
            done = g[g["status"] == "completed"]
            t = inference.t_interval(done["value"])
            v = inference.t_interval(done["sel"])
            not_done = g["status"].value_counts().drop("completed", errors="ignore")
            u = a.units
            rows.append({"cls": "", "cells": [
                cell(PROTOCOL_SHORT[protocol]),
                name_cell(styles, s, Markup(' <span class="badge">fixed LR</span>')
                          if s == a.fixed else ""),
                cell("/".join(f"{x:g}" for x in lrs) + (" (edge of grid)" if edge else ""),
                     lrs[0] if len(lrs) == 1 else None, "num"),
                cell(f"{len(done)}/{len(g)}" + "".join(f", {n} {k}" for k, n in not_done.items()),
                     cls="bad" if (g["status"] == "diverged").any() else ""),
                cell(f"{u.num(t['mean'])} ± {u.num(t['std'])}", t["mean"], "num"),
                cell(u.interval(t["lo"], t["hi"]), None, "num"),
                cell(f"{u.num(v['mean'])} ± {u.num(v['std'])}", v["mean"], "num")]})
    cols = ["protocol", "schedule", "base LR (per judged seed)", "completed/seeds",
            f"test {a.primary} ({a.units.unit}) mean ± std", "95% t-interval",
            f"validation {a.primary} mean ± std"]
    return table(cols, rows, f"{opt}: judged runs at {a.full} epochs, per protocol and schedule",
                 "summary")


def comparison_tables(a: Analysis, opt: str, styles: dict) -> list[dict]:
    """One table per family: every schedule's paired comparison with the fixed LR."""
    out = []
    u = a.units
    for protocol, label in a.claims.protocols.get(opt, []):
        for claim in CLAIMS:
            rows_f = family_rows(a.claims, opt, protocol, claim)
            if rows_f.empty:
                continue
            rows = []
            for _, x in rows_f.iterrows():
                both = ", ".join(map(str, x["both_diverged"])) or "–"
                verdict = cell(Markup('<span class="verdict">{} {}</span><small class="reason">{}</small>'
                                      ).format(VERDICT_MARK[x["verdict"]], x["verdict"], x["reason"]),
                               cls=f"vcell {VERDICT_CLASS[x['verdict']]}")
                rows.append({"cls": "", "cells": [
                    name_cell(styles, x["schedule"]), verdict, cell(x["lrs"], None, "num"),
                    cell(str(int(x["n_pairs"])), x["n_pairs"], "num"),
                    cell(u.effect(x["mean"], True), x["mean"], "num"),
                    cell(u.interval(x["lo"], x["hi"], True), None, "num"),
                    cell(x["test"] or "–"), cell(fmt_p(x["p"]), x["p"], "num"),
                    cell(fmt_p(x["p_holm"]), x["p_holm"], "num"),
                    cell(fmt_p(x["tost_holm"]), x["tost_holm"], "num"),
                    cell(fmt_p(x["p_exact_holm"]) + (" ‡" if x["normality_only"] else ""),
                         x["p_exact_holm"], "num"),
                    cell(u.interval(x["lo_2way"], x["hi_2way"], True), x["delta_2way"], "num"),
                    cell(x["verdict_2way"] or "–"),
                    cell(f"{int(x['own_diverged'])} / {int(x['ref_diverged'])}",
                         cls="num bad" if x["own_diverged"] or x["ref_diverged"] else "num"),
                    cell(fmt_p(x["sign_p"]), x["sign_p"], "num"), cell(both, cls="num")]})
            what = CLAIMS[claim].measured.format(primary=a.primary, full=a.full)
            # the verdict second: a table this wide scrolls, and the verdict is what is read first
            cols = ["schedule", "verdict and why", "schedule's LR", "pairs", f"Δ ({u.unit})",
                    "95% interval (t-interval; selection-aware where the test is)",
                    "test", "p", "Holm p", "TOST Holm p", "exact sign-flip Holm p (‡: t only)",
                    "95% interval over seeds × held-out examples", "verdict over seeds × examples",
                    "diverged alone: sched. / fixed",
                    "sign test p", "both diverged (seeds)"]
            versus = CLAIMS[claim].versus
            out.append(table(cols, rows, f"{family_label(opt, protocol, claim)} ({label}): paired "
                             f"by seed, Δ = sign·(schedule − {versus}) of the {what}; Holm within "
                             "this family", "comparisons"))
    return out


def ttt_table(a: Analysis, r: TargetResult, styles: dict) -> dict:
    """One optimizer setting's time-to-target table: per schedule, runs at target, median
    epochs with its distribution-free interval, median seconds, and Δ epochs against the fixed LR."""
    arms = r.arms.set_index("schedule") if len(r.arms) else r.arms
    comps = r.comparisons.set_index("schedule")
    rows = []
    for s in [s for s in a.scheds if s in arms.index]:
        x = arms.loc[s]
        interval = (f"[{fmt_epochs(x['median_lo'])}, {fmt_epochs(x['median_hi'])}] "
                    f"({x['median_coverage']:.1%} coverage)")
        if s in comps.index:
            y = comps.loc[s]
            vs = [cell(f"{fmt_delta_epochs(y['mean'])} [{fmt_delta_epochs(y['lo'])}, "
                       f"{fmt_delta_epochs(y['hi'])}]", y["mean"], "num"),
                  cell(fmt_p(y["p"]), y["p"], "num"), cell(fmt_p(y["p_holm"]), y["p_holm"], "num")]
        else:
            vs = [cell("reference"), cell("–"), cell("–")]
        rows.append({"cls": "", "cells": [
            name_cell(styles, s), cell(f"{int(x['reached'])}/{int(x['runs'])}", x["reached"], "num"),
            cell(fmt_epochs(x["median_epochs"]), x["median_epochs"], "num"),
            cell(interval, None, "num"),
            cell(fmt_seconds(x["median_seconds"]), x["median_seconds"], "num"), *vs]})
    cols = ["schedule", "runs at target", "median epochs to target",
            "distribution-free interval of the median [x(k), x(n+1−k)]",
            "median training seconds", f"Δ epochs = {a.fixed} − schedule (> 0: schedule "
            f"sooner): mean, 95% t-interval (not reached = {r.budget + 1})", "sign-flip p", "Holm p"]
    return table(cols, rows, f"{r.optimizer}: time to target (second reading, not a verdict)",
                 "ttt")


def target_text(a: Analysis) -> str:
    """The sentence naming the study's time-to-target target, or saying none was declared."""
    t = a.target
    if t is None:
        return ("no target declared in study.json: time to target is not computed (a default "
                "such as the fixed LR's own final mean would re-test “better”)")
    sense = "≥" if t["direction"] == "max" else "≤"
    return f"validation {t['metric']} {sense} {t['value']:.4g} (declared in study.json)"


def per_seed_table(numbers: pd.DataFrame, a: Analysis) -> dict:
    """The table behind a per-seed figure: every judged seed's outcome, both LRs and values, Δ."""
    u = a.units
    rows = []
    for _, x in numbers.iterrows():
        rows.append({"cls": "", "cells": [
            cell(x["schedule"], cls="name"), cell(str(int(x["seed"])), x["seed"], "num"),
            cell(x["outcome"], cls="bad" if "diverged" in x["outcome"] else ""),
            cell(f"{x['ref_lr']:g}" if x["ref_lr"] == x["ref_lr"] else "–", x["ref_lr"], "num"),
            cell(u.num(x["ref"]), x["ref"], "num"),
            cell(f"{x['own_lr']:g}" if x["own_lr"] == x["own_lr"] else "–", x["own_lr"], "num"),
            cell(u.num(x["own"]), x["own"], "num"),
            cell(u.num(x["delta"], True), x["delta"], "num")]})
    return table(["schedule", "seed", "outcome", f"{a.fixed} LR", f"{a.fixed} test",
                  "schedule LR", "schedule test", f"Δ ({u.unit})"], rows,
                 "Numbers behind the figure: every judged seed", "numbers")
