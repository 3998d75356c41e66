"""annealbench_report.compare: two builds of one study (a CPU's and a GPU's) judged by its declared
rules, its numbers checked against scipy on constructed records."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annealbench_report import compare

SCHEDS = ["constant", "cosine", "step"]
SEEDS = [0, 1, 2, 3]


def _records(values: dict) -> pd.DataFrame:
    """Final test accuracy rows (plus rows compare must ignore) for runs keyed (schedule, seed)."""
    rows = []
    for (sched, seed), v in values.items():
        base = {"optimizer": "adam", "schedule": sched, "base_lr": 0.001, "seed": seed, "epochs": 6}
        rows.append({**base, "epoch": 6, "split": "test", "metric": "accuracy", "value": v})
        rows.append({**base, "epoch": 3, "split": "test", "metric": "accuracy", "value": v - 0.2})
        rows.append({**base, "epoch": 6, "split": "val", "metric": "accuracy", "value": v + 0.5})
        rows.append({**base, "epoch": 6, "split": "test", "metric": "loss", "value": 9.0})
    return pd.DataFrame(rows)


def _build(folder, values, verdicts, min_effect=0.01):
    d = folder / "cnn"
    d.mkdir(parents=True)
    _records(values).to_parquet(d / "records.parquet")
    (d / "study.json").write_text(json.dumps({"name": "cnn", "primary_metric": "accuracy",
                                              "min_effect": min_effect}))
    pd.DataFrame([{"optimizer": "adam", "protocol": "tuned", "claim": "better", "schedule": s,
                   "verdict": v, "delta": 0.0} for s, v in verdicts.items()]).to_csv(
        d / "verdicts.csv", index=False)
    return folder


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(7)
    a = {(s, k): 0.6 + 0.02 * rng.standard_normal() for s in SCHEDS for k in SEEDS}
    shift = {key: 0.001 * rng.standard_normal() for key in a}
    b = {key: a[key] + shift[key] for key in a}
    return tmp_path, a, b


def test_differences_and_seed_sd_match_scipy(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive", "step": "reproduced"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", b, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    d = np.array([b[k] - a[k] for k in a])
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    got = r["differences"]
    assert got["n"] == len(a) == 12 and got["unmatched_a"] == got["unmatched_b"] == 0
    assert math.isclose(got["mean"], d.mean(), rel_tol=1e-12)
    assert math.isclose(got["lo"], lo, rel_tol=1e-9) and math.isclose(got["hi"], hi, rel_tol=1e-9)
    assert math.isclose(got["sd"], d.std(ddof=1), rel_tol=1e-12)
    # pooled within-arm SD: one-way ANOVA's residual mean square
    groups = [[a[(s, k)] for k in SEEDS] for s in SCHEDS]
    ss = sum(((np.array(g) - np.mean(g)) ** 2).sum() for g in groups)
    assert math.isclose(r["seed_sd_a"], math.sqrt(ss / (len(a) - len(SCHEDS))), rel_tol=1e-12)
    dof = len(a) - len(SCHEDS)
    assert got["f_ratio"] == pytest.approx(d.var(ddof=1) / (2 * r["seed_sd_a"] ** 2), rel=1e-12)
    assert got["f_crit"] == pytest.approx(stats.f.ppf(0.95, len(d) - 1, dof), rel=1e-12)
    assert r["rules"] == {"mean_within_min_effect": True, "sd_within_seed_sd": True,
                          "no_opposite_verdicts": True}
    assert r["agree"] and r["verdicts_same"] == r["verdicts_total"] == 2


def test_device_bias_larger_than_min_effect_fails(pair, capsys):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x + 0.02 for k, x in b.items()}, v)
    assert compare.main([str(tmp / "A"), str(tmp / "B"), "--study", "cnn", "--out",
                         str(tmp / "o")]) == 1
    text = (tmp / "o" / "compare.txt").read_text()
    assert "mean_within_min_effect: NO" in text and "agree: NO" in text
    assert json.loads((tmp / "o" / "compare.json").read_text())[0]["agree"] is False


def test_scatter_beyond_a_new_seed_fails(pair):
    tmp, a, _ = pair
    rng = np.random.default_rng(1)
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v, min_effect=1.0)  # a generous band: only the scatter rule can fail
    _build(tmp / "B", {k: x + 0.2 * rng.standard_normal() for k, x in a.items()}, v,
           min_effect=1.0)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["rules"]["sd_within_seed_sd"] is False and not r["agree"]


def test_opposite_verdicts_fail_and_other_differences_are_listed(pair):
    tmp, a, b = pair
    _build(tmp / "A", a, {"cosine": "reproduced", "step": "inconclusive"})
    _build(tmp / "B", b, {"cosine": "reversed", "step": "no meaningful difference"})
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["rules"]["no_opposite_verdicts"] is False and not r["agree"]
    assert {(x["schedule"], x["verdict_a"], x["verdict_b"]) for x in r["verdict_differences"]} == {
        ("cosine", "reproduced", "reversed"), ("step", "inconclusive", "no meaningful difference")}
    lines = compare.describe(r)
    assert any("cosine: reproduced (A) vs reversed (B)" in x for x in lines)


def test_runs_only_on_one_side_are_counted_not_matched(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x for k, x in b.items() if k[1] != 3}, v)
    d = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")["differences"]
    assert (d["n"], d["unmatched_a"], d["unmatched_b"]) == (9, 3, 0)


def test_a_missing_build_is_one_line_and_exit_2(tmp_path, capsys):
    assert compare.main([str(tmp_path / "A"), str(tmp_path / "B"), "--study", "cnn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn" in err[0]


def test_scatter_rule_is_an_f_test_not_a_point_comparison():
    """The first GPU run's CNN: SD(d) 0.0113 over 42 pairs against a seed SD of 0.0078 on 28 df is
    above sqrt(2) x 0.0078 = 0.0110, yet not significantly more scatter than a new seed brings."""
    f_ratio, f_crit = compare.scatter_test(0.0113, 42, 0.0078, 28)
    assert 0.0113 > math.sqrt(2) * 0.0078 and f_ratio <= f_crit
    assert f_crit == pytest.approx(stats.f.ppf(0.95, 41, 28))
    f_big, _ = compare.scatter_test(0.03, 42, 0.0078, 28)
    assert f_big > f_crit
