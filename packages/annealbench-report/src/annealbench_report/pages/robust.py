"""What the page says about the held-out data and the exact test beside each verdict: the split
the verdicts are judged on, the interval over seeds and held-out examples and its verdict, where
that verdict or the validation split disagrees, and which verdicts hold only under the t-test's
normality assumption (analysis.robust)."""

from __future__ import annotations

from markupsafe import Markup

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.inference import ALPHA
from annealbench_report.analysis.study import Analysis
from annealbench_report.pages.cells import finite, fmt_p
from annealbench_report.pages.labels import family_label

NORMALITY_MARK = "‡"
SPLIT_WORD = {"test": "test", "val": "validation"}
RULE = (
    f"Beside the paired t-test, every row shows the exact sign-flip permutation p of the same "
    f"per-seed Δ (all 2^n sign patterns for n ≤ 16, Monte Carlo beyond), Holm-adjusted in the "
    f"same family; a t-test verdict (reproduced or reversed) whose exact Holm p is ≥ {ALPHA:g} "
    f"holds only under the t-test's assumption that the Δ are normal, and is marked "
    f"{NORMALITY_MARK}. (With n seeds the exact test cannot go below 2/2^n: 0.031 for 6.) The "
    "seed-only interval treats the held-out examples as fixed. Where the runs kept their "
    "per-example outcomes, a second 95% interval covers seeds and held-out examples: the variance "
    "of the mean Δ when seeds and examples are both redrawn with replacement, independently, the "
    "same examples for both arms (computed exactly, no random draws), with Student's t at the "
    "Welch–Satterthwaite degrees of freedom (S − 1 below 3 seeds); on "
    "simulated studies with a known null it covered 94.4% (seed noise dominant), 94.6% (held-out "
    "noise dominant, where the seed-only interval covered 60.8%) and 98.4% (seed × example "
    "interaction dominant) at 95% nominal, 2,000 studies each. Its verdict applies the same rules "
    "to its p and TOST, Holm-adjusted in the same family. For a text the examples are blocks of "
    "1,024 characters. The same Δ on the other held-out split is compared with the judged one by "
    "the two-way interval of their difference (the seeds shared).")


def cell_lines(r, units) -> Markup:
    """The small lines a verdict cell adds: exact Holm p, and the two-way interval and verdict."""
    out = Markup("<small>exact sign-flip Holm p {}{}</small>").format(
        fmt_p(r["p_exact_holm"]), f" {NORMALITY_MARK} only under normality"
        if r["normality_only"] else "")
    if finite(r.get("lo_2way")):
        out += Markup("<small>seeds × examples {}{}</small>").format(
            units.interval(r["lo_2way"], r["hi_2way"], True),
            f": {r['verdict_2way']}" if r["verdict_2way"] else "")
    return out


def lines(a: Analysis) -> list[str]:
    """The page's sentences on the judged split, the two-way verdicts and the marks."""
    rows = a.claims.rows
    split = SPLIT_WORD[a.judged_on]
    other = SPLIT_WORD["val" if a.judged_on == "test" else "test"]
    out = [f"Verdicts are judged on the {split} split (study file: judged_on = "
           f"\"{a.judged_on}\")."]
    if not len(rows):
        return out
    if not (rows["n_examples"] > 0).any():
        out.append("These runs kept no per-example outcomes (their task has no evaluate_examples, "
                   "or they ran before it existed), so there is no interval over held-out examples: "
                   "every interval here covers seeds only.")
    for r in rows.itertuples():
        where = f"{family_label(r.optimizer, r.protocol, r.claim)} · {r.schedule}"
        if r.normality_only:
            out.append(f"{NORMALITY_MARK} {where}: “{r.verdict}” holds only under normality: the "
                       f"t-test's Holm p is {r.p_holm:.3g}, the exact sign-flip test's "
                       f"{r.p_exact_holm:.3g} ≥ {ALPHA:g}.")
        if r.verdicts_differ:
            out.append(f"{where}: over seeds alone “{r.verdict}”, over seeds and held-out examples "
                       f"“{r.verdict_2way}”.")
        if r.val_test_disagree:
            out.append(f"{where}: the {split} and {other} splits disagree beyond their interval "
                       f"(Δ {r.delta_2way:.4g} on {split}, {r.delta_other:.4g} on {other}; "
                       f"p = {r.val_test_p:.3g} for their difference)"
                       + ("; the base LR was chosen on validation, which favours it there"
                          if r.protocol == "tuned" else "") + ".")
    if any(claim_defs.get(c).judge is not None for c in set(rows["claim"])):
        out.append("Claims with their own verdict words show the interval over seeds and held-out "
                   "examples without a second verdict.")
    return out

