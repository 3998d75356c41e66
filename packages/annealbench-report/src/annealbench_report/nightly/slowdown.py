"""The throughput rule: is tonight slower than the nights before it?

asv's rule (airspeed velocity, ``asv compare``), applied to a rolling window: tonight's samples
(one per run of a study, or one per bench repetition) against the pooled samples of the same
series on the last ``WINDOW`` earlier nights on the same GPU. Tonight is a slowdown when both

- the window's median is more than ``FACTOR`` times tonight's median (a drop of over 9.1%), and
- the one-sided Mann-Whitney U test (tonight's samples stochastically smaller) gives p < ``ALPHA``.

Why this rule and not a z-score of tonight's mean against earlier nights' means (Conbench): a night
has many samples (hundreds of runs, five bench repetitions) whose distribution is skewed (first
epochs, several processes sharing a GPU), which a rank test uses as they are; a z-score needs a
long history of nightly means before their SD means anything (Conbench uses 100 commits) and one
bad night in the window inflates it. The factor keeps a drift that is significant but small (with
hundreds of runs a 2% change gets a tiny p) from alerting; the p-value keeps noise from alerting.
The samples of different nights are pooled as if exchangeable, which they are not quite (nights
differ as a whole), so p is a screening figure, not a calibrated error rate; the factor is what
bounds the alarms in practice. With few samples the test cannot reach ``ALPHA`` at all: five bench
repetitions need at least two earlier nights (the smallest exact p for 5 against 10 is 1/3003).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

from scipy import stats

FACTOR = 1.1
ALPHA = 0.002
WINDOW = 14  # earlier nights pooled (two weeks of nights)


@dataclass(frozen=True)
class Judgement:
    """Tonight's series against its window."""
    ratio: float      # window median / tonight's median (> 1: tonight is slower)
    p: float          # one-sided Mann-Whitney U p (tonight smaller)
    u: float          # the U statistic of tonight's samples
    n_tonight: int
    n_window: int
    nights: int       # earlier nights in the window

    @property
    def slower(self) -> bool:
        return self.ratio > FACTOR and self.p < ALPHA


def mann_whitney_less(tonight: list[float], window: list[float]) -> tuple[float, float]:
    """(U of ``tonight``, one-sided p that ``tonight`` is stochastically smaller): scipy's
    ``mannwhitneyu``, exact for small samples without ties, else the normal approximation with
    tie and continuity corrections."""
    r = stats.mannwhitneyu(tonight, window, alternative="less", method="auto")
    return float(r.statistic), float(r.pvalue)


def judge(tonight: list[float], earlier: list[list[float]]) -> Judgement | None:
    """Tonight's samples against the last ``WINDOW`` of ``earlier`` (each an earlier night's
    samples, oldest first); None without samples on either side."""
    window_nights = [s for s in earlier if s][-WINDOW:]
    window = [x for s in window_nights for x in s]
    if not tonight or not window:
        return None
    u, p = mann_whitney_less(tonight, window)
    mid = median(tonight)
    ratio = median(window) / mid if mid > 0 else float("inf")
    return Judgement(ratio=ratio, p=p, u=u, n_tonight=len(tonight), n_window=len(window),
                     nights=len(window_nights))
