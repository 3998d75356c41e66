"""How many judged seeds a tuned budget needs, planned from its tuning runs before any judged run.

The tuning budget trains the judged budget's runs on other seeds, so its records already hold
what the judged verdicts will pair: per tuning seed and length B, the arm at its chosen base LR
minus the baseline (the fixed LR) at its own chosen base LR, on the split the verdicts are judged
on, signed so that Δ > 0 means the arm is better. From those:

- the paired SD of each arm and length (n − 1 degrees of freedom over its n paired tuning seeds);
- the SD pooled over every arm and length (sum of squares about each group's mean over the total
  degrees of freedom), and its one-sided 80% upper confidence bound sd·√(df / χ²₀.₂₀(df)). The
  80% holds for independent groups; the arms share the baseline's run of each seed, so their Δs
  are correlated, the degrees of freedom overstate the information and the coverage is lower;
- the "better" claim's Holm family per optimizer setting (:mod:`claims`): every non-baseline arm
  judged at the full length, so m = their number;
- the fewest seeds n whose :func:`inference.mde` at Holm's first threshold α/m is at most the
  target MDE and over which an exact two-sided sign-flip test (the one used where every Δ is the
  same) can go below α/m: 2/2^n < α/m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from annealbench_report.analysis import inference, protocol
from annealbench_report.records.frames import length_free_arms

CONFIDENCE = 0.80  # of the pooled SD's upper bound
PLAN_AT = (8, 10, 12, 16)  # the seed counts whose MDE the plan shows
TARGET_SHARE = 0.75  # default target MDE = this share of the study's min_effect
MAX_SEEDS = 64


@dataclass(frozen=True)
class ArmSpread:
    """The paired differences of one arm at one length over the tuning seeds."""

    optimizer: str
    schedule: str
    length: int
    base_lr: float  # the arm's chosen base LR
    ref_lr: float  # the baseline's chosen base LR at this length
    deltas: tuple  # per paired seed, in seed order
    left_out: int  # tuning seeds without a pair (a run diverged, failed or is missing)

    @property
    def n(self) -> int:
        return len(self.deltas)

    @property
    def mean(self) -> float:
        return float(np.mean(self.deltas)) if self.deltas else math.nan

    @property
    def sd(self) -> float:
        return float(np.std(self.deltas, ddof=1)) if self.n > 1 else math.nan


@dataclass(frozen=True)
class Plan:
    """Everything the seed plan shows."""

    arms: list  # ArmSpread per (optimizer, arm, length)
    sd: float  # pooled paired SD
    df: int  # its degrees of freedom
    sd_upper: float  # its one-sided CONFIDENCE upper bound
    families: dict  # optimizer setting -> m, the "better" claim's family size
    target: float  # target MDE, primary-metric units
    exact_min: int  # fewest seeds whose exact sign-flip test can go below alpha/m
    needed: int | None  # seeds needed at the pooled SD (None: more than max_seeds)
    needed_upper: int | None  # at its upper bound
    max_seeds: int
    mde_at: dict = field(default_factory=dict)  # n -> (MDE at the SD, MDE at the bound)

    @property
    def m(self) -> int:
        return max(self.families.values(), default=1)


def pooled_sd(groups) -> tuple[float, int]:
    """SD pooled over groups (each about its own mean) and its degrees of freedom Σ(n_g − 1);
    groups of fewer than 2 values add nothing. (NaN, 0) without any degree of freedom."""
    gs = [np.asarray(g, dtype=float) for g in groups if len(g) > 1]
    dof = sum(len(g) - 1 for g in gs)
    if not dof:
        return math.nan, 0
    return math.sqrt(sum(float(((g - g.mean()) ** 2).sum()) for g in gs) / dof), dof


def sd_upper_bound(sd: float, dof: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper confidence bound of a normal SD: sd·√(dof / χ²_{1−confidence}(dof))."""
    if dof < 1 or not math.isfinite(sd):
        return math.nan
    return sd * math.sqrt(dof / float(stats.chi2.ppf(1 - confidence, dof)))


def exact_min_seeds(m: int, alpha: float = inference.ALPHA) -> int:
    """The fewest seeds n over which an exact two-sided sign-flip test can reach Holm's first
    threshold of a family of m: 2/2^n < alpha/m."""
    n = 2
    while inference.min_sign_flip_p(n) >= alpha / max(int(m), 1):
        n += 1
    return n


def seeds_needed(sd: float, m: int, target: float, max_seeds: int = MAX_SEEDS,
                 alpha: float = inference.ALPHA) -> int | None:
    """The fewest seeds n (from :func:`exact_min_seeds` up) with ``inference.mde(n, sd, m)`` at
    most ``target``; None when even ``max_seeds`` is not enough. An SD of 0 needs only the
    exact test's minimum (no spread: any effect shows). The MDE falls as n grows, so bisection."""
    lo = exact_min_seeds(m, alpha)
    if lo > max_seeds:
        return None
    if sd == 0:
        return lo

    def enough(n: int) -> bool:
        return inference.mde(n, sd, m, alpha) <= target

    if not enough(max_seeds):
        return None
    hi = max_seeds  # enough(hi) holds; find the first n in [lo, hi] where it does
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    return lo


def family_sizes(choices: dict, baseline: str) -> dict:
    """Optimizer setting -> m, the size of the "better" claim's Holm family under the tuning
    file's ``choices`` ((optimizer, schedule, length) -> choice): its non-baseline arms at the
    full length, which is its longest."""
    full: dict = {}
    for opt, _, b in choices:
        full[opt] = max(full.get(opt, 0), b)
    return {opt: sum(1 for o, s, b in choices if o == opt and b == e and s != baseline)
            for opt, e in sorted(full.items())}


def arm_spreads(pts: pd.DataFrame, choices: dict, baseline: str, sgn: float,
                seeds) -> list[ArmSpread]:
    """The paired Δs of every non-baseline arm of ``choices`` at its length, from
    :func:`protocol.points` of the tuning records: the arm at its chosen LR minus the baseline at
    its chosen LR, seed by seed, on ``seeds``; a seed counts where both runs completed with a
    finite judged value."""
    values: dict = {}  # (optimizer, schedule, length, seed) -> {base LR: judged value}
    for r in pts.itertuples(index=False):
        ok = r.status == "completed" and math.isfinite(r.value)
        values.setdefault((str(r.optimizer), str(r.schedule), int(r.length), int(r.seed)), {})[
            float(r.base_lr)] = float(r.value) if ok else math.nan
    out = []
    for (opt, sched, b), c in sorted(choices.items()):
        ref = choices.get((opt, baseline, b))
        if sched == baseline or ref is None:
            continue
        ds = []
        for s in sorted(seeds):
            own = _at(values, opt, sched, b, c["base_lr"], s)
            base = _at(values, opt, baseline, b, ref["base_lr"], s)
            ds.append(sgn * (own - base))
        paired = tuple(float(d) for d in ds if math.isfinite(d))
        out.append(ArmSpread(opt, sched, b, c["base_lr"], ref["base_lr"], paired,
                             len(ds) - len(paired)))
    return out


def _at(values: dict, opt: str, sched: str, b: int, lr: float, seed: int) -> float:
    """The judged value of one run, matching the chosen LR as the protocol does (relative 1e-9;
    NaN where there is no such run)."""
    by_lr = values.get((opt, sched, b, seed), {})
    return next((v for x, v in by_lr.items() if math.isclose(x, lr, rel_tol=1e-9)), math.nan)


def plan(df: pd.DataFrame, study: dict, tuned: dict, baseline: str, primary: str, sgn: float,
         split: str, target: float, max_seeds: int = MAX_SEEDS) -> Plan:
    """The seed plan of the judged budget whose tuning file ``tuned`` (:func:`tuning.read`) was
    chosen on the tuning records ``df`` (study.json ``study``), judged on ``split``."""
    lengths = sorted({b for _, _, b in tuned["choices"]})
    pts = protocol.points(df, primary, lengths, length_free_arms(df, study), split)
    order = {name: i for i, name in enumerate(study.get("schedules") or {})}
    arms = sorted(arm_spreads(pts, tuned["choices"], baseline, sgn, tuned["seeds"]),
                  key=lambda a: (a.optimizer, order.get(a.schedule, len(order)), a.schedule, a.length))
    sd, dof = pooled_sd([a.deltas for a in arms])
    upper = sd_upper_bound(sd, dof)
    fams = family_sizes(tuned["choices"], baseline)
    m = max(fams.values(), default=1)
    at = {n: (inference.mde(n, sd, m), inference.mde(n, upper, m)) for n in PLAN_AT}
    return Plan(arms, sd, dof, upper, fams, target, exact_min_seeds(m),
                seeds_needed(sd, m, target, max_seeds) if dof else None,
                seeds_needed(upper, m, target, max_seeds) if dof else None, max_seeds, at)
