"""The tuned protocol from study.json's ``tuning`` entry (issue 14, contract item 4): each arm is
judged at the LR the tuning seeds chose, on every judged seed; no selection in the judged data."""

from __future__ import annotations

import numpy as np
import pytest
from constructed import records, row, run, study_claims, tuning_entry
from scipy import stats as sps

from annealbench_report.analysis import protocol, selection_test
from annealbench_report.errors import ReportError

SEEDS = range(5)
# test accuracy per (schedule, LR, seed); validation favours the LR the tuning file did NOT
# choose, so in-study selection and the tuning file disagree
TEST = {("constant", 0.01): [0.50, 0.52, 0.51, 0.49, 0.53], ("constant", 0.1): [0.60, 0.61, 0.59, 0.62, 0.60],
        ("cosine", 0.01): [0.55, 0.54, 0.56, 0.57, 0.55], ("cosine", 0.1): [0.64, 0.66, 0.63, 0.65, 0.66]}
VAL = {("constant", 0.01): 0.7, ("constant", 0.1): 0.6, ("cosine", 0.01): 0.7, ("cosine", 0.1): 0.6}


def _df(extra_seeds=()):
    rows = []
    for (sched, lr), vals in TEST.items():
        for s in SEEDS:
            rows.append(run(sched, lr, s, 4, {4: (VAL[(sched, lr)], vals[s])}))
        for s in extra_seeds:  # runs of a tuning seed that ended up in the same records
            rows.append(run(sched, lr, s, 4, {4: (VAL[(sched, lr)], 0.99)}))
    return records(rows)


TUNING = tuning_entry({("constant", 4): 0.1, ("cosine", 4): 0.1})


def test_each_arm_is_judged_at_the_tuning_files_lr_on_every_judged_seed():
    sel, c = study_claims(_df(), {"epochs": 4, "tuning": TUNING})
    assert sel.tuning is not None and not sel.in_study
    j = sel.judged[sel.judged["protocol"] == "tuned"]
    assert set(j["base_lr"]) == {0.1} and sorted(set(j["seed"])) == list(SEEDS)
    d = np.subtract(TEST[("cosine", 0.1)], TEST[("constant", 0.1)])  # from the records' numbers
    r = row(c, "cosine")
    assert r["mean"] == pytest.approx(d.mean())
    assert r["test"] == "t" and r["p"] == pytest.approx(sps.ttest_1samp(d, 0).pvalue, rel=1e-12)
    ci = sps.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (r["lo"], r["hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    # in-study selection would have chosen 0.01 (better validation) and been tested otherwise
    sel2, c2 = study_claims(_df(), {"epochs": 4})
    assert sel2.in_study and set(sel2.judged["base_lr"]) == {0.01}
    assert row(c2, "cosine")["test"] == selection_test.LABEL


def test_tuning_seeds_are_never_judged():
    sel, c = study_claims(_df(extra_seeds=(100,)), {"epochs": 4, "tuning": TUNING})
    assert 100 not in set(sel.judged["seed"])
    assert any("not judged" in n and "100" in n for n in sel.notes)
    assert row(c, "cosine")["n_pairs"] == 5


def test_a_missing_choice_gives_no_tuned_row_and_says_so():
    t = tuning_entry({("constant", 4): 0.1})
    sel, c = study_claims(_df(), {"epochs": 4, "tuning": t})
    assert "cosine" not in set(sel.judged["schedule"])
    assert any("sgd · cosine at 4 epochs: no choice in t.quick.tuning.json" in n for n in sel.notes)


@pytest.mark.parametrize("bad, field", [
    ("yes", "tuning must be null or an object"),
    ({**TUNING, "seeds": []}, "tuning.seeds must be a non-empty list of integers"),
    ({**TUNING, "choices": [{**TUNING["choices"][0], "base_lr": -1}]},
     "tuning.choices[0].base_lr must be a positive number, not -1"),
    ({**TUNING, "choices": TUNING["choices"][:1] * 2}, "tuning.choices[1] repeats"),
])
def test_a_malformed_tuning_entry_is_one_clear_line(bad, field):
    pts = protocol.points(_df(), "accuracy", [4])
    with pytest.raises(ReportError) as e:
        protocol.select(pts, {"epochs": 4, "tuning": bad}, "accuracy", None, "out/t/study.json")
    assert str(e.value).startswith("out/t/study.json: ") and field in str(e.value)
    assert "\n" not in str(e.value)
