"""The answer sentences: generated from the verdicts and their numbers, in the metric's units,
and honest when nothing is decided."""

from __future__ import annotations

import numpy as np
from constructed import full_length_study, row

from annealbench_report.analysis.units import Units, units_for
from annealbench_report.pages import answer

POINTS = units_for("accuracy", [0.5, 0.7])


def _text(c, units=POINTS) -> str:
    return " ".join(s["text"] for s in answer.sentences(c, units))


def test_decided_schedules_carry_verdict_delta_interval_and_length():
    win, loss = [0.05, 0.03, 0.06, 0.04], [-0.05, -0.03, -0.06, -0.04]
    c = full_length_study({"cosine": win, "step": loss})
    text = _text(c)
    assert text.startswith("sgd, better final result (at 4 epochs): ")
    cos, step = row(c, "cosine"), row(c, "step")
    assert (f"cosine beats the fixed LR by {100 * np.mean(win):.1f} points "
            f"[{100 * cos['lo']:.1f}, {100 * cos['hi']:.1f}] (reproduced)") in text
    assert (f"step loses to the fixed LR by {-100 * np.mean(loss):.1f} points "
            f"[{-100 * step['hi']:.1f}, {-100 * step['lo']:.1f}] (reversed)") in text
    assert "With the base LR tuned per schedule" not in text  # one LR: nothing was tuned
    assert "At the single base LR 0.1 of the grid (nothing tuned)" in text


def test_nothing_decided_says_what_the_study_can_detect():
    c = full_length_study({"cosine": [0.02, -0.03, 0.01, 0.0], "step": [-0.01, 0.02, -0.02, 0.0]})
    fam = c.families.iloc[0]
    expected = (f"no schedule is told apart from the fixed LR: all are inconclusive "
                f"(MDE {100 * fam['mde']:.1f} points at 4 seeds)")
    assert expected in _text(c)
    assert "beats" not in _text(c) and "loses" not in _text(c)


def test_equivalence_and_instability_are_named():
    c = full_length_study({"linear": [0.001, -0.001, 0.0005, 0.0]}, min_effect=0.005)
    assert "linear (+0.0 points [" in _text(c) and "within ±0.5 points of the fixed LR" in _text(c)
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]}, diverged=[("cosine", 0)])
    assert "cosine is unstable (diverged alone in 1 seed(s), the fixed LR in 0)" in _text(c)


def test_no_shorter_length_says_there_is_no_faster_verdict():
    c = full_length_study({"cosine": [0.05, 0.03, 0.06, 0.04]})
    assert ("sgd, ahead at shorter budgets (“converges faster”): No verdict: the study trains no "
            "budget-curve length") in _text(c)


def test_units():
    assert POINTS.effect(0.018) == "1.8 points" and POINTS.interval(-0.001, 0.02, True) == "[−0.1, +2.0]"
    bpc = units_for("bpc", [1.5, 2.0])
    assert bpc == Units("bpc", 1.0, "bpc", 3) and bpc.effect(0.0312) == "0.031 bpc"
    assert units_for("accuracy", [0.5, 75.0]).unit == "accuracy"  # not a fraction: as is
    assert POINTS.num(-0.0001, True) == "+0.0"  # no "−0.0"
    assert POINTS.num(float("nan")) == "–"


def test_one_seed_says_no_test_is_possible():
    c = full_length_study({"cosine": [0.05]}, fixed=[0.6])
    assert "no test is possible yet: 1 paired seed, a test needs 2" in _text(c)


def _runs(rows):
    import pandas as pd

    return pd.DataFrame(rows, columns=["run_key", "seed", "status"])


def test_an_unfinished_study_says_how_many_seeds_the_answer_uses():
    c = full_length_study({"cosine": [0.05, 0.03]})  # 2 paired seeds behind the answer
    keys = [f"{s}{arm}" for s in range(4) for arm in "ab"]
    runs = _runs([("0a", 0, "completed"), ("0b", 0, "diverged"), ("1a", 1, "completed"),
                  ("1b", 1, "completed"), ("2a", 2, "completed"), ("2b", 2, "running"),
                  ("zz", 3, "completed")])  # zz: a run of an earlier grid, not planned now
    assert answer.seeds_note([0, 1, 2, 3], keys, runs, c) == (
        "2 of 4 seeds finished; the answer below uses those 2.")
    # pairs of a seed still training count where both of their runs are done: said, not hidden
    c3 = full_length_study({"cosine": [0.05, 0.03, 0.04]})
    assert answer.seeds_note([0, 1, 2, 3], keys, runs, c3) == (
        "2 of 4 seeds finished; the answer below uses every pair finished so far, up to 3 seeds in a "
        "comparison (n in its tables).")
    everything = _runs([(k, int(k[0]), "completed") for k in keys])
    assert answer.seeds_note([0, 1, 2, 3], keys, everything, c) is None  # finished: nothing to say
    assert answer.seeds_note([0, 1, 2, 3], None, runs, c) is None  # no plan recorded: no claim


def test_the_page_of_an_interrupted_study_opens_its_answer_with_the_seeds_finished(make_synth, tmp_path):
    import json
    import shutil

    from annealbench_report.cli import build

    synth = make_synth(tmp_path, seeds=(0, 1, 2), special=False)
    meta = json.loads((synth.dir / "meta.json").read_text())
    meta["run_keys"] = sorted(synth.runs)  # the plan: every seed
    (synth.dir / "meta.json").write_text(json.dumps(meta))
    for key, run in synth.runs.items():  # seed 2 never started
        if run["config"]["seed"] == 2:
            shutil.rmtree(synth.dir / "runs" / key)
    build(tmp_path, [synth.name])
    html = (synth.dir / "index.html").read_text()
    assert "<strong>2 of 3 seeds finished; the answer below uses those 2.</strong>" in html
