"""The words and tables of the reproduction check (pages.reproduction): its headline, the rule it
was judged by, the runs that differ or are on one side only, and each claim beside the published
one. The study page shows all of it, the index its headline."""

from __future__ import annotations

import math

import pandas as pd

from annealbench_report.analysis.units import Units
from annealbench_report.pages.cells import cell, finite, table
from annealbench_report.pages.reproduction import COMPARED, NONE, SELF, Check

RULE = [
    "Runs are matched on model, data set, optimizer setting, schedule, base LR, length and seed "
    "(the run key also hashes the device and precision). Each published run is compared value for "
    "value on the published rows (those records are thinned: every per-epoch row, and the per-step "
    "rows of a few representative runs), on the value and the LR, bit for bit; the wall time and "
    "the throughput rows are measurements of the machine and are not compared.",
    "When every run is on both sides and equal, the answer is reproduced bit for bit. Otherwise, "
    "for a machine that computes differently, this run is consistent with the published answer "
    "when, on the claims both hold: (1) no claim is “reproduced” on one side and “reversed” on the "
    "other, and (2) each claim’s difference d = Δ(this run) − Δ(published) is at most "
    "t(1 − 0.025/m, ν)·√(SE_p² + SE_h²), m the number of claims compared, SE = (hi − lo)/(2·t(0.975, "
    "n − 1)) the standard error behind each side’s 95% t-interval and ν Welch’s degrees of freedom: "
    "the two intervals’ half-widths combined in quadrature, widened for m claims.",
    "Why: another machine’s last bits differ and training amplifies them, so its runs scatter like "
    "new seeds. If both sides estimate the same Δ, a consistent run fails rule 2 with probability "
    "at most 5% over all claims (Welch’s test at the Bonferroni level 0.05/m), less where this run "
    "reuses the published seeds. A verdict word that differs without being opposite is listed, not "
    "failed: near a decision threshold two replications differ in it often.",
]


FOLD_AFTER = 10  # runs a line names inline; more are folded into a list the reader opens


def run_label(r) -> str:
    return (f"{r['optimizer']} · {r['schedule']} · lr {float(r['base_lr']):g} · {int(r['epochs'])} "
            f"epochs · seed {int(r['seed'])}")


def _runs(k: int) -> str:
    return f"{k} run" if k == 1 else f"{k} runs"


def _published_runs(k: int) -> str:
    return _runs(k).replace(" ", " published ", 1)


def _names(runs: pd.DataFrame) -> list[str]:
    return [f"{run_label(r)} ({r['run_key']})" for _, r in runs.iterrows()]


def _item(text: str, names: list[str] | None = None) -> dict:
    """One line of the check: ``text``, then the runs it names, inline when a few, else folded
    (``folded``: the page shows them in a list the reader opens)."""
    names = names or []
    return {"text": text, "names": names, "folded": len(names) > FOLD_AFTER}


def _worst(runs: pd.DataFrame) -> str:
    bad = runs[~runs["equal"].astype(bool)]
    if bad.empty:
        return ""
    r = bad.loc[bad["max_abs"].fillna(-1).idxmax()]
    if r["unequal"] == 0:
        return (f" Run {run_label(r)} ({r['run_key']}) lacks {int(r['missing'])} of the published rows"
                + (f" and ends {r['status_here']}, not {r['status']}" if r["status"] != r["status_here"]
                   else "") + ".")
    return (f" The largest absolute difference: {r['max_abs']:.6g} in run {run_label(r)} "
            f"({r['run_key']}), {r['where']}.")


def runs_sentences(c: Check) -> list[dict]:
    """How many runs are equal, the largest difference and where, and every one-sided run
    (:func:`_item` each)."""
    r = c.runs
    n = len(r.runs)
    out = []
    rows = int(r.runs["rows"].sum()) if n else 0
    if r.all_equal:
        out.append(_item(f"{n} of {n} runs equal the published records, value for value ({rows:,} "
                         "published rows compared)."))
    else:
        out.append(_item(f"{r.n_equal} of {n} runs in common equal the published records "
                         f"({r.n_published} published runs, {r.n_here} in this run)."
                         + _worst(r.runs)))
    if len(r.only_published):
        out.append(_item(f"{_published_runs(len(r.only_published))} not in this run:",
                         _names(r.only_published)))
    if len(r.only_here):
        out.append(_item(f"{_runs(len(r.only_here))} of this run not published:",
                         _names(r.only_here)))
    rekeyed = int((r.runs["run_key"] != r.runs["run_key_here"]).sum()) if n else 0
    if rekeyed:
        out.append(_item(f"{rekeyed} of the runs in common have another run key here (another "
                         "device, precision or configuration)."))
    return out


def other_budget_sentence(c: Check) -> str:
    """Why the runs of a check across budgets are not compared, with the counts only: another
    budget trains other runs, so listing them one by one says nothing."""
    r = c.runs
    return (f"Runs are not compared across budgets: {_published_runs(r.n_published)}"
            f", {_runs(r.n_here)} in this run, {len(r.runs)} of them with the same optimizer "
            "setting, schedule, base LR, length and seed on both sides.")


def headline(c: Check) -> str:
    """One line: the verdict on the whole (also the index's)."""
    if c.kind == NONE:
        return ("No published answer for this study" + (f" (none at {c.where})." if c.where else
                " (this report is not built from a clone of the repository; --published DIR "
                "names one)."))
    if c.kind == SELF:
        return "This is the published answer itself: nothing to compare."
    if not c.same_budget:
        return (f"Not comparable with the published answer: it is of the {c.budget_published or '–'} "
                f"budget, this run of the {c.budget_here or '–'} budget.")
    n = len(c.runs.runs)
    if c.runs.all_equal:
        return f"Reproduced bit for bit: {n} of {n} runs equal the published records."
    ok = c.consistent
    if ok is None:
        return "Not comparable with the published answer: no claim judged on both sides."
    word = "Consistent" if ok else "Not consistent"
    return (f"{word} with the published answer by the rule below ({c.runs.n_equal} of {n} runs in "
            "common equal the published records).")


def claims_sentence(claims: pd.DataFrame, judged: bool = True) -> str:
    """The claims on both sides with the published verdict; ``judged``: and those within rule 2's
    bound (not across budgets, where the rule does not apply)."""
    both = claims[claims["on_both"]]
    same = int(both["same_verdict"].sum())
    tested = both["within"].dropna() if judged else pd.Series(dtype=object)
    out = [f"{same} of {len(both)} claims have the published verdict"]
    if len(tested):
        out.append(f"{int(tested.astype(bool).sum())} of {len(tested)} have their Δ within the bound")
    if both["opposite"].any():
        out.append(f"{int(both['opposite'].sum())} opposite (reproduced against reversed)")
    sides = [f"{int((~claims['on_both'] & claims['verdict_here'].isna()).sum())} published claims not "
             "in this run", f"{int((~claims['on_both'] & claims['verdict_pub'].isna()).sum())} claims "
             "of this run not published"]
    return "; ".join(out + [s for s in sides if not s.startswith("0 ")]) + "."


def _delta(units: Units, delta, lo, hi) -> str:
    if not finite(delta):
        return "–"
    return f"{units.num(float(delta), True)} {units.interval(float(lo), float(hi), True)}"


def _side_cells(r: dict, units: Units) -> list:
    """A claim's cells on both sides: what it is, then the published and this run's Δ and verdict."""
    return [cell(r["optimizer"]), cell(r["protocol"]), cell(r["claim"]), cell(r["schedule"], cls="name"),
            cell(_delta(units, r["delta_pub"], r["lo_pub"], r["hi_pub"]), r["delta_pub"], "num"),
            cell(r["verdict_pub"] if isinstance(r["verdict_pub"], str) else "–"),
            cell(_delta(units, r["delta_here"], r["lo_here"], r["hi_here"]), r["delta_here"], "num"),
            cell(r["verdict_here"] if isinstance(r["verdict_here"], str) else "–")]


def _side_cols(units: Units) -> list[str]:
    return ["optimizer", "protocol", "claim", "schedule", f"published Δ [95%] ({units.unit})",
            "published verdict", f"this run’s Δ [95%] ({units.unit})", "this run’s verdict"]


def claims_table(claims: pd.DataFrame, units: Units, judged: bool = True) -> dict:
    """Each claim beside the published one; ``judged``: with d, its bound and whether it is
    within, else (across budgets) the claims on both sides, verdicts and Δs only."""
    if not judged:
        rows = [{"cls": "", "cells": _side_cells(r, units)}
                for r in claims[claims["on_both"]].to_dict("records")]
        return table(_side_cols(units), rows, "Each claim on both sides, beside the published one "
                     "(another budget: listed, not judged)", "repro")
    rows = []
    for r in claims.to_dict("records"):
        within = r["within"]
        ok = "–" if within is None or (isinstance(within, float) and math.isnan(within)) else (
            "yes" if within else "no")
        bad = within is False or r["opposite"]
        rows.append({"cls": "bad" if bad else "", "cells": [
            *_side_cells(r, units),
            cell(units.num(r["d"], True), r["d"], "num"), cell(units.num(r["bound"]), r["bound"], "num"),
            cell(ok)]})
    cols = [*_side_cols(units), "d = this − published", "bound on |d|", "within"]
    return table(cols, rows, "Each claim beside the published one (d and its bound: rule 2)", "repro")


def runs_table(c: Check) -> dict | None:
    bad = c.runs.runs[~c.runs.runs["equal"].astype(bool)]
    if bad.empty:
        return None
    rows = [{"cls": "", "cells": [
        cell(run_label(r)), cell(r["run_key"], cls="mono"), cell(r["run_key_here"], cls="mono"),
        cell(f"{r['status']} / {r['status_here']}"), cell(int(r["rows"]), r["rows"], "num"),
        cell(int(r["missing"]), r["missing"], "num"), cell(int(r["unequal"]), r["unequal"], "num"),
        cell(f"{r['max_abs']:.6g}" if finite(r["max_abs"]) else str(r["max_abs"]), r["max_abs"], "num"),
        cell(r["where"] or "–")]} for _, r in bad.sort_values("max_abs", ascending=False).iterrows()]
    cols = ["run", "published key", "key here", "status (published / here)", "rows compared",
            "missing here", "unequal", "largest |difference|", "where"]
    return table(cols, rows, "Runs that differ from the published records, largest difference first",
                 "repro-runs")


def context(c: Check, units: Units) -> dict:
    """The ``reproduction`` variable of the study template."""
    out = {"kind": c.kind, "headline": headline(c), "where": c.where, "runs": [], "claims": "",
           "claims_table": None, "runs_table": None, "rule": RULE}
    if c.kind == COMPARED and not c.same_budget:
        both = c.claims["on_both"].any() if len(c.claims) else False
        out.update(runs=[_item(other_budget_sentence(c))], rule=[],
                   claims=claims_sentence(c.claims, judged=False),
                   claims_table=claims_table(c.claims, units, judged=False) if both else None)
    elif c.kind == COMPARED:
        out.update(runs=runs_sentences(c), claims=claims_sentence(c.claims),
                   claims_table=claims_table(c.claims, units) if len(c.claims) else None,
                   runs_table=runs_table(c))
    return out
