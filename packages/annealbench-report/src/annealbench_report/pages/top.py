"""The top of a study page, in reading order: the answer sentences, the forest plot, the budget
curves, the verdict table, and the rules, Holm families, selection and MDE behind them."""

from __future__ import annotations

import pandas as pd
from markupsafe import Markup

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.claims import family_rows
from annealbench_report.analysis.inference import ALPHA
from annealbench_report.analysis.regime import rule as regime_rule
from annealbench_report.analysis.study import Analysis
from annealbench_report.figures import budget as fig_budget
from annealbench_report.figures import forest as fig_forest
from annealbench_report.pages import answer
from annealbench_report.pages import robust as page_robust
from annealbench_report.pages import tuning as page_tuning
from annealbench_report.pages.cells import cell, swatch, table
from annealbench_report.pages.labels import (
    PROTOCOL_SHORT,
    VERDICT_CLASS,
    VERDICT_MARK,
    family_label,
    verdict_families,
)


def verdict_cell(r, units) -> dict:
    """A verdict-table cell: the verdict's mark and word, Δ with its interval, and the reason."""
    v = r["verdict"]
    text = Markup('<span class="verdict">{} {}</span><small>Δ {} {}</small>'
                  '{}<small class="reason">{}</small>').format(
        VERDICT_MARK[v], v, units.effect(r["mean"], True), units.interval(r["lo"], r["hi"], True),
        page_robust.cell_lines(r, units), r["reason"])
    return cell(text, r["mean"], f"vcell {VERDICT_CLASS[v]}")


def verdict_table(a: Analysis, styles: dict) -> dict | None:
    """The verdict table (one row per schedule, one column per family); None without verdicts."""
    fams = verdict_families(a)
    if not fams:
        return None
    rows = []
    for s in [s for s in a.scheds if s != a.fixed]:
        cells = [cell(Markup("{}{}").format(swatch(styles, s), s), cls="name")]
        any_row = False
        for key in fams:
            m = family_rows(a.claims, *key)
            m = m[m["schedule"] == s]
            cells.append(verdict_cell(m.iloc[0], a.units) if len(m) else cell("–"))
            any_row = any_row or len(m) > 0
        if any_row:
            rows.append({"cls": "", "cells": cells})
    which = ("; the tuned rows' interval is the selection-aware permutation interval (in-study "
             "selection, see below)" if a.selection is not None and a.selection.in_study else "")
    cap = (f"Verdict per schedule against the fixed LR ({a.fixed}) in each family (optimizer "
           f"setting · protocol · claim): Δ = mean paired difference in {a.units.unit}, > 0 = "
           f"schedule better, with its 95% t-interval{which}, the Holm-adjusted p, the exact "
           "sign-flip Holm p and, where the runs kept per-example outcomes, the 95% interval over "
           "seeds and held-out examples with its verdict")
    return table(["schedule", *[family_label(*k) for k in fams]], rows, cap, "verdicts")


def families_table(a: Analysis) -> dict | None:
    """The table of Holm families with their thresholds, seeds, pooled SD and MDE; None
    without families."""
    f = a.claims.families
    if f.empty:
        return None
    rows = []
    for _, r in f.iterrows():
        rows.append({"cls": "", "cells": [
            cell(family_label(r["optimizer"], r["protocol"], r["claim"])),
            cell(str(int(r["m"])), r["m"], "num"), cell(f"{ALPHA / r['m']:.3g}", None, "num"),
            cell(str(int(r["n"])), r["n"], "num"),
            cell(a.units.effect(r["sd"]), r["sd"], "num"),
            cell(a.units.effect(r["mde"]) if r["mde"] == r["mde"] and r["mde"] != float("inf")
                 else "none: the test cannot reach α/m with these seeds"
                 if r["mde"] == float("inf") else "not estimable", r["mde"], "num")]})
    cols = ["family (Holm's correction runs within it)", "schedules m", "first Holm threshold α/m",
            "paired seeds n", "pooled SD of Δ", "MDE (80% power)"]
    return table(cols, rows, "Minimum detectable effect per family", "families")


def forest(a: Analysis) -> dict | None:
    """The forest plot's figure block (id, inline SVG, numbers table, title, caption); None
    without verdict rows."""
    if a.claims.rows.empty:
        return None
    svg, num = fig_forest.forest_figure(a.claims, a.scheds, a.opts, a.units, "forest")
    rows = [{"cls": "", "cells": [
        cell(claim_defs.get(r["claim"]).label), cell(r["optimizer"], cls="name"),
        cell(r["schedule"], cls="name"),
        cell(PROTOCOL_SHORT[r["protocol"]]), cell(str(int(r["n_pairs"])), r["n_pairs"], "num"),
        cell(a.units.effect(r["mean"], True), r["mean"], "num"),
        cell(a.units.interval(r["lo"], r["hi"], True), None, "num"), cell(r["verdict"])]}
        for _, r in num.iterrows()]
    t = table(["claim", "optimizer", "schedule", "protocol", "pairs", "Δ", "95% t-interval",
               "verdict"], rows, "Numbers behind the figure", "numbers")
    return {"id": "forest", "svg": Markup(svg), "table": t,
            "title": "Forest plot: every schedule against the fixed LR",
            "caption": ("Mean paired Δ (> 0: the schedule is better) with its 95% interval (a "
                        "t-interval; for in-study selection the selection-aware permutation "
                        "interval); solid: base LR tuned per schedule, dashed: the article's LR "
                        "untuned. Marker and colour give the verdict; the grey band is ±min_effect "
                        "(equivalence margin); the black line is no difference.")}


def budget_curves(a: Analysis, styles: dict) -> list[dict]:
    """One figure block per optimizer setting and protocol with budget curves; empty with
    fewer than two lengths."""
    c = a.claims
    if c.arm_curves is None or len(a.lengths) < 2:
        return []
    out = []
    for i, (opt, protos) in enumerate(c.protocols.items()):
        for protocol, label in protos:
            num = fig_budget.budget_numbers(c.arm_curves, c.curves, opt, protocol, a.scheds)
            if num.empty:
                continue
            title = f"{opt}, {label}: test {a.primary} against the training budget"
            svg = fig_budget.budget_figure(num, a.fixed, a.primary, a.units, a.min_effect, styles,
                                           title, f"budget{i}{protocol[0]}")
            out.append({"id": f"budget-{i}-{protocol}", "svg": Markup(svg), "title": title,
                        "table": _budget_table(num, a), "caption": _budget_caption(a, opt, protocol)})
    return out


def _budget_caption(a: Analysis, opt: str, protocol: str) -> str:
    parts = []
    for s in [s for s in a.scheds if s != a.fixed]:
        m = a.claims.matches.get((opt, protocol, s))
        if m is None:
            continue
        if m["b_star"] is None:
            parts.append(f"{s}: does not match the fixed LR's {a.full}-epoch result within the budget")
            continue
        est = f"established at {m['established']}" if m["established"] else \
            "not established within the budget"
        plaus = f"plausible from {m['plausible']}" if m["plausible"] else "never plausible"
        parts.append(f"{s}: matches it at B* = {m['b_star']} epochs ({plaus}, {est})")
    tol = f"within min_effect {a.units.effect(a.min_effect)}" if a.min_effect else "at least equal"
    return (f"Each point is a run trained and annealed to that length, at the base LR of the "
            f"protocol. “Matches the fixed LR's full-length result” means the paired gap "
            f"schedule(B) − fixed LR({a.full}) is {tol}; the range is read from per-length 95% "
            f"t-intervals, not a simultaneous interval. " + "; ".join(parts) + ".")


def _budget_table(num: pd.DataFrame, a: Analysis) -> dict:
    u = a.units
    rows = [{"cls": "", "cells": [
        cell(r["schedule"], cls="name"), cell(str(int(r["length"])), r["length"], "num"),
        cell(f"{u.num(r['mean'])} {u.interval(r['lo'], r['hi'])} (n={int(r['n'])})", r["mean"],
             "num"),
        cell(f"{u.num(r['delta'], True)} {u.interval(r['delta_lo'], r['delta_hi'], True)}"
             if r["schedule"] != a.fixed else "reference", r["delta"], "num"),
        cell(f"{u.num(r['gap'], True)} {u.interval(r['gap_lo'], r['gap_hi'], True)}"
             if r["schedule"] != a.fixed else "reference", r["gap"], "num")]}
        for _, r in num.iterrows()]
    return table(["schedule", "epochs", f"test {a.primary} ({u.unit}), 95% t-interval",
                  "Δ vs fixed LR at the same length", f"gap vs fixed LR at {a.full} epochs"],
                 rows, "Numbers behind the figure", "numbers")


def selection_lines(a: Analysis) -> list[str]:
    """The lines under “Selection”: how base LRs were chosen, choices at the grid's edge, and
    the claims' notes; empty where nothing was selected."""
    if a.selection is None:
        return []
    out = page_tuning.lines(a)
    ch = a.selection.choices
    edge = ch[(ch["length"] == a.full) & ch["edge"].astype(bool)]
    for _, r in edge.iterrows():
        end = "largest" if r["chosen_lr"] == r["lr_max"] else "smallest"
        out.append(f"{r['optimizer']} · {r['schedule']}: best LR at the edge of the grid ("
                   f"{r['chosen_lr']:g}, the {end} of {int(r['n_lrs'])} from {r['lr_min']:g} to "
                   f"{r['lr_max']:g}); the optimum may lie outside it.")
    short = ch[(ch["length"] < a.full) & ch["edge"].astype(bool)]
    if len(short):
        out.append(f"{len(short)} more choices at shorter lengths are at the edge of their "
                   "grid (marked in “Every base LR”).")
    return out + list(a.claims.notes)


def top_context(a: Analysis, styles: dict, has_records: bool) -> dict:
    """The template variables of the page's top: answer, figures, verdict and family tables,
    rules and notes."""
    sentences = answer.sentences(a.claims, a.units, a.regime)
    return {
        "answer": sentences,
        "no_answer": None if sentences else answer.no_answer(a.claims, has_records),
        "forest": forest(a),
        "budget_figs": budget_curves(a, styles),
        "verdict_table": verdict_table(a, styles),
        "families_table": families_table(a),
        "tuning_table": page_tuning.tuning_table(a),
        "warnings": sorted({w for ws in a.claims.families.get("warnings", []) for w in ws}),
        "selection": selection_lines(a),
        "robust": page_robust.lines(a), "robust_rule": page_robust.RULE,
        "judged_split": page_robust.SPLIT_WORD[a.judged_on],
        "rules": [(name, text) for name, text in V.RULES],
        "claim_rules": [(cl.label, cl.rule) for cl in claim_defs.CLAIMS.values()
                        if cl.applies(a.study, a.scheds)],
        "protocol_rules": [(k, t) for k, t in V.PROTOCOL_RULES.items()],
        "tests_rule": V.TESTS_RULE, "mde_rule": V.MDE_RULE, "seeds_rule": V.SEEDS_RULE,
        "min_effect": a.units.effect(a.min_effect) if a.min_effect else None,
        "regime_rule": regime_rule(a.regime_frame, a.primary, a.units),
    }
