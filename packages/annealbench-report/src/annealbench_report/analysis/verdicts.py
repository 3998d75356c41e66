"""The verdict rules, declared before any run (min_effect comes from the study file), and the
sentences that state them on every page, so that a reader can apply them to the tables by hand."""

from __future__ import annotations

import math

from annealbench_report.analysis import inference
from annealbench_report.analysis.inference import ALPHA, POWER

UNSTABLE = "unstable"
NO_DIFFERENCE = "no meaningful difference"
REPRODUCED = "reproduced"
REVERSED = "reversed"
SMALL = ", below the effect of interest"
REPRODUCED_SMALL = REPRODUCED + SMALL
REVERSED_SMALL = REVERSED + SMALL
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, REPRODUCED_SMALL, REVERSED, REVERSED_SMALL, NO_DIFFERENCE, INCONCLUSIVE,
            UNSTABLE)
DECIDED = (REPRODUCED, REPRODUCED_SMALL, REVERSED, REVERSED_SMALL, NO_DIFFERENCE)
SIGNIFICANT_UP = (REPRODUCED, REPRODUCED_SMALL)
SIGNIFICANT_DOWN = (REVERSED, REVERSED_SMALL)

PROTOCOL_RULES = {
    "tuned": ("(the fair test): every arm (optimizer setting, schedule; the fixed LR included) at "
              "each length B is judged at a base LR chosen on validation data that never judges "
              "it. With a tuning file (the study names a tuning budget): the LR with the best mean "
              "validation value at epoch B over the tuning seeds, declared before the judged runs; "
              "every judged seed is judged at it, so the pairs are independent. Without one "
              "(in-study): for judged seed s, the best mean over the other seeds (leave-one-seed-"
              "out; LRs where some of those seeds diverged are passed over while another LR had "
              "none; ties go to the smaller LR), and seed s is judged by the test value of its own "
              "run at that LR; because each seed helps choose the others' LRs, its p-values, "
              "intervals and MDE come from a selection-aware permutation test."),
    "article": ("(what the article claims, untuned): every arm at the optimizer setting's own "
                "article LR, judged on test, no selection."),
}
RULES = [
    (UNSTABLE, "in some judged seed the schedule diverged and the fixed LR did not. Not a verdict "
               "on the claim: the counts are shown with an exact two-sided sign (binomial) test on "
               "the seeds where one arm diverged alone. Seeds where only the fixed LR diverged are "
               "listed and left out (they mark the fixed LR, not the schedule); seeds where both "
               "diverged are dropped and listed; the comparison proceeds on the pairs where both "
               "finished."),
    (NO_DIFFERENCE, f"min_effect is declared and the Holm-adjusted TOST p < {ALPHA:g} (the 90% "
                    "t-interval of the mean Δ lies inside ±min_effect), so a significant but "
                    "negligible effect is not called reproduced."),
    (REPRODUCED, f"the Holm-adjusted paired-test p < {ALPHA:g}, the mean Δ > 0 and, where "
                 "min_effect is declared, the mean Δ ≥ min_effect."),
    (REPRODUCED_SMALL, f"the Holm-adjusted paired-test p < {ALPHA:g} and 0 < mean Δ < min_effect: "
                       "a real but smaller effect than the study declared of interest."),
    (REVERSED, f"the Holm-adjusted paired-test p < {ALPHA:g}, the mean Δ < 0 and, where "
               "min_effect is declared, −mean Δ ≥ min_effect."),
    (REVERSED_SMALL, f"the Holm-adjusted paired-test p < {ALPHA:g} and −min_effect < mean Δ < 0."),
    (INCONCLUSIVE, "none of the above, including fewer than 2 paired seeds (no test can run)."),
]
TESTS_RULE = (
    "Paired test: two-sided paired t-test of the per-seed Δ; where every Δ is the same (the t "
    "statistic is undefined) the exact sign-flip permutation test over all 2^n sign "
    "patterns. Where the base LRs were chosen in-study, the selection-aware permutation test "
    "instead: the two arms' labels swapped within seeds in every pattern (or a stated number of "
    "seeded random ones), the whole leave-one-seed-out choice re-run for each, statistic |t|. "
    "Holm's correction covers one family = (optimizer setting, protocol, claim): the "
    "schedules compared with the fixed LR there; a test that could not run counts as p = 1 and "
    "stays in the family. TOST is Holm-adjusted in the same family. Every interval is a 95% "
    "t-interval unless its label says otherwise (the selection-aware one: mean Δ ± c·s/√n with c "
    "from the permutation distribution).")
SEEDS_RULE = (
    "Pairs are by seed: the same seed gives both arms the same initialisation and data order. A "
    "seed where a run failed or is unfinished is left out (listed per seed in the details); a "
    "diverged run is never averaged in: it makes its seed discordant (rule 1) or, when both "
    "arms diverged, drops it.")
MDE_RULE = (
    f"The MDE of a family is the smallest true mean Δ that a two-sided paired "
    f"t-test at Holm's first threshold {ALPHA:g}/m (m = the family's size) detects with "
    f"{POWER:.0%} power, for n pairs (the fewest any of its schedules has) and the pooled "
    "standard deviation of the paired differences (root of the mean variance across its "
    "schedules); noncentral t.")


def decide(n_pairs: int, mean: float, p_holm: float, tost_holm: float, own_diverged: int,
           ref_diverged: int, sign_p: float, min_effect: float | None) -> tuple[str, str]:
    """(verdict, reason) by :data:`RULES`, in order. ``mean``: the mean Δ (> 0: schedule better).
    A divergence marks the arm that diverged: only the schedule's own makes it unstable; seeds
    where the fixed LR alone diverged are left out of the pairs and named in the reason."""
    if own_diverged:
        return UNSTABLE, (f"diverged alone: schedule in {own_diverged} seed(s), fixed LR in "
                          f"{ref_diverged}; sign test p = {sign_p:.3g}")
    note = (f"; fixed LR diverged alone in {ref_diverged} seed(s), left out" if ref_diverged
            else "")
    if min_effect and math.isfinite(tost_holm) and tost_holm < ALPHA:
        return NO_DIFFERENCE, (f"TOST Holm p = {tost_holm:.3g} < {ALPHA:g}: inside ±min_effect"
                               + note)
    sig = math.isfinite(p_holm) and p_holm < ALPHA
    small = bool(min_effect) and abs(mean) < min_effect
    if sig and mean > 0:
        if small:
            return REPRODUCED_SMALL, (f"Holm p = {p_holm:.3g} < {ALPHA:g}, schedule ahead by less "
                                      f"than min_effect {min_effect:g}" + note)
        return REPRODUCED, f"Holm p = {p_holm:.3g} < {ALPHA:g}, schedule ahead" + note
    if sig and mean < 0:
        if small:
            return REVERSED_SMALL, (f"Holm p = {p_holm:.3g} < {ALPHA:g}, fixed LR ahead by less "
                                    f"than min_effect {min_effect:g}" + note)
        return REVERSED, f"Holm p = {p_holm:.3g} < {ALPHA:g}, fixed LR ahead" + note
    if n_pairs < 2:
        return INCONCLUSIVE, f"{n_pairs} paired seed{'s' if n_pairs != 1 else ''}: no test" + note
    tail = f"; TOST Holm p = {tost_holm:.3g}" if min_effect and math.isfinite(tost_holm) else ""
    return INCONCLUSIVE, f"Holm p = {p_holm:.3g} ≥ {ALPHA:g}{tail}" + note


def seed_warnings(n_pairs: int, m: int, n_seeds: int, selection_aware: bool = False,
                  crit: float = math.nan) -> list[str]:
    """What ``n_pairs`` paired seeds and a family of ``m`` schedules allow under these rules
    (``selection_aware``: in-study selection, tested by label swaps, whose critical |t| at Holm's
    first threshold is ``crit``)."""
    if n_pairs < 2:
        return [f"Only {n_pairs} paired seed(s): no test can run, so every verdict is inconclusive "
                "(or unstable)."]
    m = max(m, 1)
    level = ALPHA / m
    out = []
    t_c = inference.t_critical(n_pairs, level)
    out.append(f"With {n_pairs} paired seeds and {m} schedule(s) in a family, the strongest schedule "
               f"needs a paired t-test p < {level:.3g} (Holm's first threshold), i.e. |t| > "
               f"{t_c:.3g} with {n_pairs - 1} degrees of freedom: a mean Δ of at least "
               f"{t_c / math.sqrt(n_pairs):.2g} standard deviations of the paired differences.")
    if selection_aware and math.isfinite(crit):
        out[-1] = (f"With {n_pairs} paired seeds and {m} schedule(s) in a family, the strongest "
                   f"schedule needs a selection-aware permutation p < {level:.3g} (Holm's first "
                   f"threshold), i.e. |t| above about {crit:.3g} (the median permutation critical "
                   f"value of the family; Student's t would need {t_c:.3g}).")
    pmin = inference.min_sign_flip_p(n_pairs)
    if selection_aware and pmin >= level:
        out.append(f"The base LRs were chosen in-study, so the test swaps the two arms within "
                   f"seeds; with {n_pairs} paired seeds it cannot go below p = 2/2^{n_pairs} = "
                   f"{pmin:.3g}, above Holm's first threshold {level:.3g}: no schedule can be "
                   "decided here. A tuning file (base LRs chosen on other seeds) or more seeds "
                   "can.")
    if pmin >= level:
        out.append(f"With {n_pairs} paired seeds the exact sign-flip test (used when every Δ is the "
                   f"same) cannot go below p = 2/2^{n_pairs} = {pmin:.3g}, above Holm's first "
                   f"threshold {level:.3g}: Δs that are all equal can never be decided here.")
    k = 1
    while inference.sign_test(k, k) >= ALPHA:
        k += 1
    if n_seeds < k:
        out.append(f"The sign test on seeds where only one arm diverged needs at least {k} such "
                   f"seeds, all one way, to reach p < {ALPHA:g}; with {n_seeds} seeds an unstable "
                   "schedule's divergence can be shown but not established.")
    return out
