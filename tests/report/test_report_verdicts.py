"""Verdicts on constructed records whose answer is known: a clear win, a clear loss, pure noise,
divergence; and the rule itself on its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import CONSTANT, analyse, frame, verdict
from scipy import stats as sps

from annealbench_report import inference, sections, verdicts

# reaches the constant's mean final value (0.60125) at epochs 3, 2, 4, 3 and ends ~0.05 higher
WIN = [[0.10, 0.45, 0.55, 0.61, 0.63, 0.64, 0.651],
       [0.10, 0.50, 0.62, 0.63, 0.64, 0.65, 0.658],
       [0.10, 0.40, 0.50, 0.56, 0.61, 0.63, 0.6415],
       [0.10, 0.45, 0.58, 0.61, 0.63, 0.64, 0.655]]
# reaches 0.45 at epochs 5, 4, 6, 5 (the constant: epoch 3 in every seed) and ends ~0.05 lower
LOSS = [[0.10, 0.20, 0.30, 0.38, 0.44, 0.50, 0.551],
        [0.10, 0.22, 0.33, 0.41, 0.46, 0.52, 0.558],
        [0.10, 0.18, 0.27, 0.34, 0.40, 0.44, 0.5415],
        [0.10, 0.21, 0.31, 0.39, 0.44, 0.50, 0.555]]


def test_clear_win_is_reproduced_for_both_claims():
    r = analyse(frame({"constant": CONSTANT, "cosine": WIN}))
    assert r.target["value"] == pytest.approx(0.60125)  # default: the fixed LR's mean final value
    better = verdict(r, "cosine", "better")
    d = np.array([w[-1] - c[-1] for w, c in zip(WIN, CONSTANT)])
    assert better["mean_diff"] == pytest.approx(d.mean())
    assert better["t_p"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue)
    assert better["poi"] == 1.0 and better["verdict"] == verdicts.REPRODUCED
    faster = verdict(r, "cosine", "faster")
    # constant: seeds 1 and 3 reach 0.60125 at epoch 6, seeds 0 and 2 never (censored: 6 + 1)
    expected = np.array([3, 2, 4, 3]) - np.array([7, 6, 7, 6])
    assert faster["mean_diff"] == pytest.approx(expected.mean())
    assert faster["t_p"] == pytest.approx(sps.ttest_1samp(expected, 0).pvalue)
    assert faster["verdict"] == verdicts.REPRODUCED
    assert faster["reached_ref"] == 2 and faster["runs_ref"] == 4


def test_clear_loss_is_not_reproduced():
    r = analyse(frame({"constant": CONSTANT, "step": LOSS}), {"target": 0.45})
    assert r.target["source"] == "declared in study.json" and r.target["value"] == 0.45
    better = verdict(r, "step", "better")
    assert better["mean_diff"] < 0 and better["verdict"] == verdicts.NOT_REPRODUCED
    faster = verdict(r, "step", "faster")
    assert faster["mean_diff"] == pytest.approx(np.mean([5 - 3, 4 - 3, 6 - 3, 5 - 3]))
    assert faster["poi"] == 0.0 and faster["verdict"] == verdicts.NOT_REPRODUCED


def test_pure_noise_is_inconclusive():
    jitter = [0.004, -0.006, 0.002, -0.001]
    noise = [c[:-1] + [c[-1] + j] for c, j in zip(CONSTANT, jitter)]
    r = analyse(frame({"constant": CONSTANT, "linear": noise}))
    for claim in ("better", "faster"):
        v = verdict(r, "linear", claim)
        assert v["verdict"] == verdicts.INCONCLUSIVE, (claim, v["reason"])
    assert verdict(r, "linear", "better")["t_p"] > 0.05


def test_holm_is_applied_across_schedules_of_one_claim():
    r = analyse(frame({"constant": CONSTANT, "cosine": WIN, "step": LOSS}))
    c = r.comparisons[r.comparisons["claim"] == "better"]
    assert c["t_p_holm"].tolist() == pytest.approx(inference.holm(c["t_p"]).tolist())
    assert (c["t_p_holm"] >= c["t_p"]).all()
    assert any("Holm's correction over 2 schedules" in w for w in r.warnings)


def test_a_diverged_seed_blocks_a_win_and_counts_as_a_loss():
    r = analyse(frame({"constant": CONSTANT, "cosine": WIN}, diverged={("cosine", 1): 4}))
    better = verdict(r, "cosine", "better")
    assert better["n_pairs"] == 3 and better["own_diverged"] == 1
    assert (better["wins"], better["losses"]) == (3, 1) and better["poi"] == 0.75
    assert better["t_p_holm"] < 0.05 and better["gain_lo"] > 0  # would be a win without it
    assert better["verdict"] == verdicts.INCONCLUSIVE and "diverged" in better["reason"]
    # the diverged run never converged: 7 epochs for "faster", although it crossed 0.60125 at 2
    t = r.times.set_index("run_key")
    assert not t.loc["cosine-1", "reached"] and t.loc["cosine-1", "restricted_epochs"] == 7
    cell = sections.verdict_cell(better)  # the verdict table says so where the verdict is
    assert "inconclusive" in cell["text"] and "diverged only: 1 schedule" in cell["text"]
    assert float(cell["value"]) == better["mean_diff"]
    arm = r.arms.set_index("schedule").loc["cosine"]
    assert arm["final_val_n"] == 3 and arm["n_diverged"] == 1  # shown, not averaged in
    assert arm["final_val_mean"] == pytest.approx(np.mean([WIN[0][-1], WIN[2][-1], WIN[3][-1]]))


def test_diverging_in_most_seeds_is_not_reproduced():
    r = analyse(frame({"constant": CONSTANT, "cosine": WIN},
                      diverged={("cosine", 0): 2, ("cosine", 1): 2, ("cosine", 2): 3}))
    v = verdict(r, "cosine", "better")
    assert v["verdict"] == verdicts.NOT_REPRODUCED and "3 of 4" in v["reason"]


@pytest.mark.parametrize("args, expected", [
    ((0.01, 0.05, 0.01, 4, 4, 0, 0), verdicts.REPRODUCED),
    ((-0.05, -0.01, 0.01, 4, 4, 0, 0), verdicts.NOT_REPRODUCED),
    ((0.01, 0.05, 0.2, 4, 4, 0, 0), verdicts.INCONCLUSIVE),  # CI excludes 0, p does not
    ((-0.01, 0.05, 0.01, 4, 4, 0, 0), verdicts.INCONCLUSIVE),  # p does, CI does not
    ((0.01, 0.05, float("nan"), 4, 4, 0, 0), verdicts.INCONCLUSIVE),
    ((0.01, 0.05, 0.01, 1, 4, 0, 0), verdicts.INCONCLUSIVE),  # one pair: no test
    ((-0.05, -0.01, 0.01, 4, 4, 0, 1), verdicts.INCONCLUSIVE),  # loss, but the fixed LR diverged
    ((0.0, 0.0, float("nan"), 2, 4, 0, 3), verdicts.REPRODUCED),  # the fixed LR diverged in 3 of 4
])
def test_decide_rule(args, expected):
    assert verdicts.decide(*args)[0] == expected


def test_seed_warnings_are_computed_not_hard_coded():
    w3 = verdicts.seed_warnings(3, 6)
    assert any("cannot go below p = 0.25" in w and "corrected p 1:" in w for w in w3)
    assert any("cannot go below p = 0.0625" in w for w in verdicts.seed_warnings(5, 1))
    t_crit = sps.t.ppf(1 - 0.05 / 12, 2)
    assert any(f"|t| > {t_crit:.3g}" in w for w in w3)
    assert not any("Wilcoxon" in w for w in verdicts.seed_warnings(10, 1))
    assert "no test" in verdicts.seed_warnings(1, 3)[0]
