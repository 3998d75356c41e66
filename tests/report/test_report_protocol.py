"""protocol: the base LR is chosen on validation of the other seeds, the verdict is judged on test
of the held-out seed; the article row uses the article's LR untouched."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import records, row, run, study_claims

from annealbench_report.analysis import protocol

A, B = 0.01, 0.1
# validation prefers LR A on average, test prefers LR B: the judged numbers must come from test at
# the LR validation chose. Cosine's seed 0 loves A, seeds 1 and 2 mildly prefer B: leaving one seed
# out, seed 0 is judged at B (seeds 1, 2 prefer it) and seeds 1, 2 at A (seed 0 outweighs).
VAL = {("constant", A): [0.60, 0.61, 0.62], ("constant", B): [0.50, 0.51, 0.52],
       ("cosine", A): [0.90, 0.50, 0.50], ("cosine", B): [0.50, 0.60, 0.60]}
TEST = {("constant", A): [0.40, 0.41, 0.42], ("constant", B): [0.70, 0.71, 0.72],
        ("cosine", A): [0.45, 0.47, 0.49], ("cosine", B): [0.80, 0.81, 0.82]}


def _df():
    return records([run(s, lr, seed, 4, {4: (VAL[(s, lr)][seed], TEST[(s, lr)][seed])})
                    for (s, lr) in VAL for seed in range(3)])


def test_leave_one_seed_out_chooses_on_other_seeds_and_judges_on_test():
    sel, c = study_claims(_df(), {"epochs": 4})
    j = sel.judged[sel.judged["protocol"] == "tuned"].set_index(["schedule", "seed"])
    assert [j.loc[("cosine", s), "base_lr"] for s in range(3)] == [B, A, A]  # per seed
    assert [j.loc[("constant", s), "base_lr"] for s in range(3)] == [A, A, A]
    for s in range(3):  # the judged value is test at the chosen LR, never validation
        assert j.loc[("cosine", s), "value"] == TEST[("cosine", j.loc[("cosine", s), "base_lr"])][s]
        assert j.loc[("constant", s), "value"] == TEST[("constant", A)][s]
    assert sel.held_out and j["held_out"].all()
    ch = sel.choices.set_index("schedule")
    assert ch.loc["cosine", "chosen_lr"] == A and ch.loc["constant", "chosen_lr"] == A  # all seeds
    better = row(c, "cosine")
    expected = [TEST[("cosine", B)][0] - TEST[("constant", A)][0],
                TEST[("cosine", A)][1] - TEST[("constant", A)][1],
                TEST[("cosine", A)][2] - TEST[("constant", A)][2]]
    assert better["mean"] == pytest.approx(np.mean(expected))
    assert better["lrs"] == f"{A:g}/{B:g}"


def test_one_seed_selects_on_its_own_validation_and_says_so():
    df = _df()
    df = df[df["seed"] == 1]
    sel, _ = study_claims(df, {"epochs": 4})
    j = sel.judged.set_index("schedule")
    assert not sel.held_out and not j["held_out"].any()
    assert j.loc["cosine", "base_lr"] == B  # seed 1's own validation: 0.60 at B > 0.50 at A


def test_choose_lr_passes_over_diverged_lrs_and_breaks_ties_low():
    lrs = np.array([0.1, 0.1, 0.3, 0.3, 1.0, 1.0])
    sel = np.array([0.5, 0.5, 0.7, 0.7, 0.9, np.nan])
    div = np.array([False, False, False, False, False, True])
    assert protocol.choose_lr(lrs, sel, div, maximize=True) == 0.3
    assert protocol.choose_lr(lrs, sel, div, maximize=False) == 0.1
    tie = np.array([0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    assert protocol.choose_lr(lrs, tie, np.zeros(6, bool), maximize=True) == 0.1
    none = np.full(6, np.nan)
    assert protocol.choose_lr(lrs, none, np.zeros(6, bool), maximize=True) == 0.1


def test_edge_of_grid_is_flagged():
    rows = [run(s, lr, seed, 4, {4: (v, v)}) for s in ("constant", "cosine")
            for lr, v in ((0.01, 0.7), (0.1, 0.6), (1.0, 0.5)) for seed in range(2)]
    sel, _ = study_claims(records(rows), {"epochs": 4})
    assert sel.choices["edge"].all() and (sel.choices["chosen_lr"] == 0.01).all()
    rows = [run(s, lr, seed, 4, {4: (v, v)}) for s in ("constant", "cosine")
            for lr, v in ((0.01, 0.6), (0.1, 0.7), (1.0, 0.5)) for seed in range(2)]
    sel, _ = study_claims(records(rows), {"epochs": 4})
    assert not sel.choices["edge"].any()
    one = [run(s, 0.1, seed, 4, {4: (0.6, 0.6)}) for s in ("constant", "cosine") for seed in range(2)]
    sel, _ = study_claims(records(one), {"epochs": 4})
    assert not sel.choices["edge"].any()  # a grid of one LR has no edge worth flagging


def test_article_protocol_uses_the_article_lr_without_selection():
    study = {"epochs": 4, "optimizers": {"sgd": {"lrs": [A, B], "article_lr": B}}}
    sel, c = study_claims(_df(), study)
    art = sel.judged[sel.judged["protocol"] == "article"]
    assert set(art["base_lr"]) == {B}
    assert art.set_index(["schedule", "seed"]).loc[("cosine", 0), "value"] == TEST[("cosine", B)][0]
    assert [p for p, _ in c.protocols["sgd"]] == ["tuned", "article"]
    a = row(c, "cosine", protocol_="article")
    assert a["mean"] == pytest.approx(np.mean(np.array(TEST[("cosine", B)])
                                              - np.array(TEST[("constant", B)])))


def test_article_lr_equal_to_the_only_lr_is_one_row():
    one = [run(s, 0.1, seed, 4, {4: (0.6 + seed / 100, 0.6)}) for s in ("constant", "cosine")
           for seed in range(3)]
    _, c = study_claims(records(one), {"epochs": 4, "optimizers": {"sgd": {"article_lr": 0.1}}})
    assert [p for p, _ in c.protocols["sgd"]] == ["tuned"]
    assert "single base LR 0.1" in c.protocols["sgd"][0][1]
    assert any("only one in the grid" in n for n in c.notes)


def test_fixed_lr_at_a_shorter_length_is_read_from_the_longer_run():
    """No fixed-LR run of length 2: its full-length run's epoch-2 evaluation stands for it."""
    rows = [run("constant", 0.1, seed, 4, {2: (0.5, 0.48 + seed / 100), 4: (0.6, 0.58)})
            for seed in range(3)]
    rows += [run("cosine", 0.1, seed, n, {n: (0.55, 0.5 + n / 100)}) for seed in range(3)
             for n in (2, 4)]
    pts = protocol.points(records(rows), "accuracy", [2, 4])
    c2 = pts[(pts["schedule"] == "constant") & (pts["length"] == 2)].sort_values("seed")
    assert c2["value"].tolist() == [0.48, 0.49, 0.50]
    assert (c2["run_key"] == [f"sgd-constant-0.1-4-{s}" for s in range(3)]).all()
    cos2 = pts[(pts["schedule"] == "cosine") & (pts["length"] == 2)]
    assert (cos2["value"] == 0.52).all()  # an annealed schedule uses its own run of length 2


def test_curve_lengths_from_study_or_records():
    df = records([run("constant", 0.1, 0, n, {n: (0.5, 0.5)}) for n in (2, 6)])
    assert protocol.curve_lengths({"epochs": 6, "curve_epochs": [3, 6]}, df) == [3, 6]
    assert protocol.curve_lengths({}, df) == [2, 6]  # records-only rebuild
    assert protocol.curve_lengths({"epochs": 6}, df) == [2, 6]  # a study from before the curve
