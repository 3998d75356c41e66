"""The consistency rule's error rates, simulated at the real studies' sizes before any run uses it.

A device changes a run by per-run noise (cuDNN's summation order, amplified by training) and, if
something is wrong, by a systematic offset per arm. Only those reach the rule: the moves and the
per-run differences do not depend on the seeds' own luck, which cancels within a side. The null's
per-run device noise is the one measured on a GPU (docs/gpu.md, 2026-12-04: the LSTM's SD of
CUDA - CPU 0.0027 bpc, 0.135 of its min_effect); the positive control adds to each arm an offset
of one seed SD (the LSTM's 0.0137 bpc, 0.69 of min_effect; the CNN's 0.78) drawn per arm.
"""

from __future__ import annotations

import numpy as np
import pytest

from annealbench_report.analysis.consistency import rules

# (seeds, schedules with the fixed LR, optimizers): quick CNN, quick LSTM, reference LSTM,
# reference CNN, full LSTM, full CNN
SIZES = [(3, 7, 2), (3, 7, 1), (6, 3, 1), (12, 3, 1), (8, 4, 1), (10, 4, 1)]
NULL_NOISE = 0.135  # per-run SD of the device's difference, in units of min_effect (measured, LSTM)
SEED_SD = 0.69      # one seed SD, in units of min_effect (the LSTM's; the CNN's is 0.78)
DRAWS = 400


def fails(rng, seeds: int, schedules: int, optimizers: int, noise: float, offset: float) -> bool:
    arms, d = [], []
    for _ in range(optimizers):
        e = noise * rng.standard_normal((schedules, seeds)) + offset * rng.standard_normal((schedules, 1))
        d.append(e.ravel())
        arms += [e[k] - e[0] for k in range(1, schedules)]  # row 0 is the fixed LR
    return not all(rules(arms, np.concatenate(d), 1.0)["rules"].values())


def rate(sizes, noise, offset, seed=0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([fails(rng, *sizes, noise, offset) for _ in range(DRAWS)]))


@pytest.mark.parametrize("sizes", SIZES)
def test_at_most_5_percent_false_failures_under_the_null(sizes):
    # 400 draws (binomial SE 1.1 points at 5%); measured 0-0.5% at 2,000 draws
    assert rate(sizes, NULL_NOISE, 0.0) <= 0.05


@pytest.mark.parametrize("sizes", SIZES)
def test_a_device_that_offsets_each_arm_by_a_seed_sd_fails_most_of_the_time(sizes):
    # measured power 0.88-1.0 over these sizes at 2,000 draws (lowest with 3 schedules: 2 contrasts)
    assert rate(sizes, NULL_NOISE, SEED_SD, seed=1) >= 0.8


def test_the_rule_fails_where_the_device_scatters_runs_like_a_new_seed():
    """The first GPU run's CNN: SD of CUDA - CPU 1.13 x min_effect. A seed's contrast then moves by
    more than half min_effect, and the rule says so (it cannot tell that from a systematic move)."""
    assert rate((3, 7, 2), 1.13, 0.0) > 0.95
