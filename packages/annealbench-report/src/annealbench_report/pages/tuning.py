"""How the base LRs of the tuned protocol were chosen, on the page: with a tuning file, its table
(mean validation value per base LR on the tuning seeds, the choice, the edge flag) and which seeds
chose and which are judged; with in-study selection, what the selection-aware test is."""

from __future__ import annotations

from markupsafe import Markup

from annealbench_report.analysis import selection_test
from annealbench_report.analysis.tuning import seeds_text
from annealbench_report.pages.cells import cell, fmt_lr, table


def tuning_table(a) -> dict | None:
    """One row per (optimizer setting, schedule, length) of the tuning file; one column per base
    LR of the grid: the tuning seeds' mean validation value there (n), the chosen one marked."""
    sel = a.selection
    if sel is None or sel.tuning is None:
        return None
    t = sel.tuning
    grid = sorted({r["base_lr"] for c in t["choices"].values() for r in c["by_lr"]})
    rows = []
    for (opt, sched, b), c in sorted(t["choices"].items(), key=lambda kv: (
            kv[0][0], a.scheds.index(kv[0][1]) if kv[0][1] in a.scheds else 99, kv[0][2])):
        by = {r["base_lr"]: r for r in c["by_lr"]}
        cells = [cell(f"{opt} · {sched}", cls="name"), cell(str(b), b, "num")]
        for lr in grid:
            r = by.get(lr)
            if r is None:
                cells.append(cell("–"))
                continue
            chosen = abs(lr - c["base_lr"]) <= 1e-12 * lr
            text = f"{a.units.num(r['val_mean'])} (n={r['n']})"
            cells.append(cell(Markup("<strong>{} ◀</strong>").format(text) if chosen else text,
                              r["val_mean"], "num chosen" if chosen else "num"))
        cells += [cell(fmt_lr(c["base_lr"]), c["base_lr"], "num"),
                  cell("yes: the optimum may lie outside the grid" if c["edge"] else "no")]
        rows.append({"cls": "", "cells": cells})
    cols = ["optimizer · schedule", "epochs B", *[f"base LR {fmt_lr(x)}" for x in grid],
            "chosen base LR", "edge of the grid"]
    cap = (f"Tuning ({t['file']}): mean validation {a.primary} ({a.units.unit}) at epoch B over "
           f"the tuning seeds {seeds_text(t['seeds'])} per base LR, n runs with a value; ◀ = "
           "chosen (best mean, ties to the smaller LR)")
    return table(cols, rows, cap, "tuning")


def lines(a) -> list[str]:
    """Which seeds chose the LRs and which are judged, or how in-study selection is tested."""
    sel = a.selection
    if sel is None:
        return []
    judged = sorted(set(sel.judged["seed"].astype(int))) if len(sel.judged) else []
    if sel.tuning is not None:
        t = sel.tuning
        out = [f"Base LRs chosen before judging, on the tuning seeds {seeds_text(t['seeds'])} "
               f"(budget {t['tuning_budget']}, file {t['file']}, commit {t['commit']}, "
               f"{t['date']}): per optimizer setting, schedule and length the LR with the best mean "
               f"validation {a.primary} at epoch B. Judged seeds: {seeds_text(judged)}, each at "
               "those LRs on its test split; no judged seed chose anything, so the pairs are "
               "independent across seeds and the paired t-test and t-intervals hold (conditional "
               "on those declared choices)."]
        return out + list(sel.notes or [])
    if not sel.held_out:
        return ["Selection was not held out: with one seed, the base LR is chosen on that seed's "
                "own validation split (the test split still judges it)."]
    n = len(judged)
    z, exact = selection_test.patterns(n)
    how = (f"all {len(z)} = 2^{n} patterns (exact)" if exact else
           f"{selection_test.N_RANDOM} seeded random patterns (Monte-Carlo; p = (1 + hits)/"
           f"(1 + {selection_test.N_RANDOM}), its standard error at most "
           f"{0.5 / selection_test.N_RANDOM ** 0.5:.3f})")
    return [f"Selection held out, in-study: each judged seed's base LR was chosen on the "
            f"validation split of the other {n - 1} seeds and the seed was judged on its own test "
            "split. Each seed thus helps choose the others' LRs, so for the tuned rows with more "
            "than one base LR the p-value is a selection-aware permutation test (the two arms' "
            "labels swapped within seeds, the whole leave-one-seed-out choice re-run per swap, "
            f"statistic |t| of the mean Δ; {how}), the interval is mean Δ ± c·s/√n with c the "
            "95th percentile of |t| over the same swaps of the data shifted to mean Δ = 0 (a "
            "selection-aware interval, not a Student t-interval), and the MDE uses the "
            "permutation critical value. No tuning file: a study that names a tuning budget "
            "(tuned_by) chooses its LRs on seeds that are never judged instead."]
