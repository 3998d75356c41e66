"""The verdict rule for one claim, one schedule against the fixed LR, and the seed-count warnings.

The rule is fixed before any data is seen and is symmetric: the evidence needed to call a claim
reproduced is the evidence needed to call it refuted, mirrored. It is printed on every page
(:data:`RULE`) so that a reader can apply it to the numbers in the tables by hand.
"""

from __future__ import annotations

import math

from scipy import stats as sps

from annealbench_report.inference import ALPHA, min_wilcoxon_p

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE)

RULE = (
    f"Per optimizer setting, claim and schedule, against the fixed LR at the same optimizer setting, "
    f"paired by seed. Reproduced: the Holm-corrected paired t-test p < {ALPHA:g} (corrected across "
    "the schedules of that optimizer setting and claim) and the 95% bootstrap CI of the mean paired "
    "difference lies entirely on the claimed side of 0 (higher validation metric where higher is "
    "better; fewer epochs to the target). Not reproduced: the same with the CI entirely on the other "
    "side. An arm that diverged in more than half of the seeds in which the other did not loses "
    "the comparison outright. Otherwise inconclusive. An arm that diverged in a seed where the "
    "other did not cannot be declared the winner. The Wilcoxon signed-rank test and the "
    "probability of improvement are shown as checks; they do not enter the verdict."
)

DIVERGED_RULE = (
    "Diverged runs are shown, never averaged in. For “better final validation” a diverged run has "
    "no final value: it is left out of means, intervals and tests, which use the seeds where both "
    "arms completed. For “converges faster” it counts as never reaching the target, like any run "
    "that does not get there. In both, it counts as a loss for its arm in the probability of "
    "improvement (a tie when both arms diverged). Failed and unfinished runs leave their seed out "
    "of the comparison."
)


def decide(gain_lo: float, gain_hi: float, p_holm: float, n_pairs: int, n_seeds: int,
           own_diverged: int, ref_diverged: int, constant_diff: bool = False) -> tuple[str, str]:
    """(verdict, reason) from the CI of the gain (the paired difference oriented so that > 0
    means the claim holds), its Holm-corrected p, and the divergence counts: ``own_diverged``
    seeds where only the schedule diverged, ``ref_diverged`` where only the fixed LR did."""
    if n_seeds and own_diverged * 2 > n_seeds:
        return NOT_REPRODUCED, (f"the schedule diverged in {own_diverged} of {n_seeds} seeds where "
                                "the fixed LR did not")
    if n_seeds and ref_diverged * 2 > n_seeds:
        return REPRODUCED, (f"the fixed LR diverged in {ref_diverged} of {n_seeds} seeds where the "
                            "schedule did not")
    if n_pairs < 2:
        return INCONCLUSIVE, f"{n_pairs} paired seed{'s' if n_pairs != 1 else ''}: no test possible"
    if constant_diff:
        return INCONCLUSIVE, ("the paired differences are the same in every seed, so the t-test is "
                              "undefined" + (" (identical results)" if abs(gain_lo) < 1e-12 else ""))
    sig = math.isfinite(p_holm) and p_holm < ALPHA
    p_txt = f"Holm p = {p_holm:.3g}" if math.isfinite(p_holm) else "no p-value"
    if sig and gain_lo > 0:
        if own_diverged:
            return INCONCLUSIVE, (f"ahead ({p_txt}, CI excludes 0), but the schedule diverged in "
                                  f"{own_diverged} seed(s) where the fixed LR did not")
        return REPRODUCED, f"{p_txt} < {ALPHA:g} and the CI excludes 0 on the claimed side"
    if sig and gain_hi < 0:
        if ref_diverged:
            return INCONCLUSIVE, (f"behind ({p_txt}, CI excludes 0), but the fixed LR diverged in "
                                  f"{ref_diverged} seed(s) where the schedule did not")
        return NOT_REPRODUCED, f"{p_txt} < {ALPHA:g} and the CI excludes 0 on the other side"
    if not sig:
        return INCONCLUSIVE, f"{p_txt} ≥ {ALPHA:g}" if math.isfinite(p_holm) else p_txt
    return INCONCLUSIVE, f"{p_txt} < {ALPHA:g}, but the bootstrap CI includes 0"


def seed_warnings(n_pairs: int, m: int) -> list[str]:
    """What the number of paired seeds ``n_pairs`` and of compared schedules ``m`` allow."""
    out = []
    if n_pairs < 2:
        return [f"Only {n_pairs} paired seed(s): no test can be run, every verdict is inconclusive."]
    m = max(m, 1)
    t_crit = float(sps.t.ppf(1 - ALPHA / (2 * m), n_pairs - 1))
    out.append(
        f"With {n_pairs} paired seeds" + (f" and Holm's correction over {m} schedules" if m > 1 else "")
        + f", even the strongest schedule needs a raw paired t-test p < {ALPHA / m:.3g}, i.e. "
        f"|t| > {t_crit:.3g} ({n_pairs - 1} degrees of freedom): a mean paired difference of at least "
        f"{t_crit / math.sqrt(n_pairs):.2g} times the seed-to-seed standard deviation of the "
        "differences. Smaller effects read inconclusive, not absent.")
    pmin = min_wilcoxon_p(n_pairs)
    holm_min = min(1.0, pmin * m)
    if holm_min >= ALPHA:
        out.append(
            f"With {n_pairs} paired seeds the Wilcoxon signed-rank test cannot go below p = {pmin:.3g} "
            f"(two-sided, exact)" + (f", and Holm's correction over {m} schedules makes the smallest "
                                     f"reachable corrected p {holm_min:.3g}" if m > 1 else "")
            + f": it can never reach {ALPHA:g} here. It is shown as a check only; the verdicts rest "
              "on the paired t-test, which assumes roughly normal differences that so few seeds "
              f"cannot check. Run at least {_seeds_for_wilcoxon(m)} seeds for a rank test that can "
              "confirm them.")
    return out


def _seeds_for_wilcoxon(m: int) -> int:
    n = 2
    while min_wilcoxon_p(n) * max(m, 1) >= ALPHA:
        n += 1
    return n
