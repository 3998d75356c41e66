"""annealbench_report.compare: two builds of one study (a CPU's and a GPU's) judged by its declared
rules (annealbench_report.analysis.consistency), each statistic checked against scipy on
constructed records, and the comparison void unless both sides share spec, precision and commit."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from annealbench_report import compare
from annealbench_report.analysis import consistency

SCHEDS = ["constant", "cosine", "step"]
SEEDS = [0, 1, 2, 3]
MIN_EFFECT = 0.01
SAME = {"spec_sha256": "ab12", "budget": "quick", "precision": ["bf16"], "git_commit": "c0ffee"}


def _records(values: dict) -> pd.DataFrame:
    """Final test accuracy rows (plus rows compare must ignore) for runs keyed (schedule, seed)."""
    rows = []
    for (sched, seed), v in values.items():
        base = {"optimizer": "adam", "schedule": sched, "schedule_type": sched, "base_lr": 0.001,
                "seed": seed, "epochs": 6}
        rows.append({**base, "epoch": 6, "split": "test", "metric": "accuracy", "value": v})
        rows.append({**base, "epoch": 3, "split": "test", "metric": "accuracy", "value": v - 0.2})
        rows.append({**base, "epoch": 6, "split": "val", "metric": "accuracy", "value": v + 0.5})
        rows.append({**base, "epoch": 6, "split": "test", "metric": "loss", "value": 9.0})
    return pd.DataFrame(rows)


def _build(folder, values, verdicts, min_effect=MIN_EFFECT, **identity):
    ident = {**SAME, **identity}
    d = folder / "cnn"
    d.mkdir(parents=True)
    _records(values).to_parquet(d / "records.parquet")
    (d / "study.json").write_text(json.dumps({
        "name": "cnn", "primary_metric": "accuracy", "min_effect": min_effect,
        "budget": ident["budget"], "spec_sha256": ident["spec_sha256"]}))
    meta = {"git_commit": ident["git_commit"]}
    if ident["precision"] is not None:
        meta["precision"] = {"requested": "auto", "resolved": ident["precision"]}
    (d / "meta.json").write_text(json.dumps(meta))
    pd.DataFrame([{"optimizer": "adam", "protocol": "tuned", "claim": "better", "schedule": s,
                   "verdict": v, "delta": 0.0} for s, v in verdicts.items()]).to_csv(
        d / "verdicts.csv", index=False)
    return folder


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(7)
    a = {(s, k): 0.6 + 0.02 * rng.standard_normal() for s in SCHEDS for k in SEEDS}
    shift = {key: 0.0005 * rng.standard_normal() for key in a}
    b = {key: a[key] + shift[key] for key in a}
    return tmp_path, a, b


# --- the statistics against scipy -------------------------------------------------------------


@pytest.mark.parametrize("mean", [-0.004, 0.0, 0.0015, 0.006])
def test_tost_is_two_one_sided_t_tests(mean):
    d = mean + 0.003 * np.random.default_rng(3).standard_normal(15)
    margin = 0.005
    got = consistency.tost(d, margin)
    lower = stats.ttest_1samp(d, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, margin, alternative="less").pvalue
    assert got["p"] == pytest.approx(max(lower, upper), rel=1e-9)
    lo, hi = stats.t.interval(0.90, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (got["lo"], got["hi"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    # TOST at 5% is the 90% interval inside the margin
    assert got["equivalent"] == (-margin < lo and hi < margin)


def test_sd_upper_bound_is_the_chi_square_bound_and_covers_90_percent():
    assert consistency.sd_upper_bound(2.0, 7) == pytest.approx(2.0 * math.sqrt(7 / stats.chi2.ppf(0.10, 7)))
    # coverage of the true SD, by simulation: 90% (binomial SE 0.3 points at 10,000 draws)
    x = np.random.default_rng(5).standard_normal((10_000, 6))
    sd = x.std(axis=1, ddof=1)
    covered = np.mean([consistency.sd_upper_bound(s, 5) >= 1.0 for s in sd])
    assert abs(covered - 0.90) < 0.01


@pytest.mark.parametrize("mean", [0.0, 0.002, -0.01])
def test_bias_test_is_scipys_one_sample_t_test_and_its_interval(mean):
    d = mean + 0.004 * np.random.default_rng(4).standard_normal(11)
    got = consistency.bias_test(d, level=0.05 / 3)
    assert got["p"] == pytest.approx(stats.ttest_1samp(d, 0.0).pvalue, rel=1e-9)
    lo, hi = stats.t.interval(1 - 0.05 / 3, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert (got["lo"], got["hi"]) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert (got["p"] < 0.05 / 3) == (lo > 0 or hi < 0)


def test_arm_anova_is_scipys_one_way_anova():
    rng = np.random.default_rng(6)
    arms = [rng.standard_normal(n) + shift for n, shift in [(4, 0.0), (4, 0.3), (5, 1.5), (3, 0.0)]]
    got = consistency.arm_anova(arms)
    want = stats.f_oneway(*arms)
    assert got["f"] == pytest.approx(want.statistic, rel=1e-9)
    assert got["p"] == pytest.approx(want.pvalue, rel=1e-9) and got["dof"] == (3, 12)


def test_scatter_test_is_the_f_ratio_against_two_seed_variances():
    rng = np.random.default_rng(8)
    d = [rng.standard_normal(5) * 3 + k for k in range(3)]
    a = [rng.standard_normal(5) + 10 * k for k in range(3)]
    got = consistency.scatter_test(d, a)
    ratio = np.mean([x.var(ddof=1) for x in d]) / (2 * np.mean([x.var(ddof=1) for x in a]))
    assert got["ratio"] == pytest.approx(ratio, rel=1e-12)
    assert (got["device_dof"], got["seed_dof"]) == (12, 12)
    assert got["p"] == pytest.approx(stats.f.sf(ratio, 12, 12), rel=1e-9)


def test_moves_and_rules_on_constructed_records(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive", "step": "reproduced"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", b, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    moves = {s: np.array([(b[(s, k)] - b[("constant", k)]) - (a[(s, k)] - a[("constant", k)])
                          for k in SEEDS]) for s in ("cosine", "step")}
    assert r["moves"] == 8 and r["arms"] == 3 and r["runs_matched"] == 12
    assert r["worst_mean_move"] == pytest.approx(max(abs(m.mean()) for m in moves.values()), rel=1e-12)
    d = {s: np.array([b[(s, k)] - a[(s, k)] for k in SEEDS]) for s in SCHEDS}
    assert r["systematic_move"]["p"] == pytest.approx(stats.f_oneway(*d.values()).pvalue, rel=1e-9)
    all_d = np.concatenate(list(d.values()))
    assert r["bias"]["mean"] == pytest.approx(all_d.mean(), rel=1e-12) and r["bias"]["n"] == 12
    assert r["bias"]["p"] == pytest.approx(stats.ttest_1samp(all_d, 0.0).pvalue, rel=1e-9)
    seed_var = sum(np.var([a[(s, k)] for k in SEEDS], ddof=1) for s in SCHEDS) / 3
    device_var = sum(np.var(x, ddof=1) for x in d.values()) / 3
    assert r["scatter"]["ratio"] == pytest.approx(device_var / (2 * seed_var), rel=1e-9)
    upper = math.sqrt(2 * device_var * 9 / stats.chi2.ppf(0.10, 9))
    assert r["seed_paired"]["move_sd_upper"] == pytest.approx(upper, rel=1e-9)
    assert r["seed_paired"]["holds"] is True and r["margin"] == MIN_EFFECT / 2
    assert r["rules"] == {"no_systematic_move": True, "no_device_bias": True,
                          "no_more_scatter_than_a_new_seed": True, "no_opposite_verdicts": True}
    assert r["agree"] and r["verdicts_same"] == r["verdicts_total"] == 2


def test_a_device_that_redraws_each_run_like_a_new_seed_agrees_but_is_not_seed_paired(pair):
    tmp, a, _ = pair
    rng = np.random.default_rng(11)
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: 0.6 + 0.02 * rng.standard_normal() for k in a}, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["agree"] and r["seed_paired"]["holds"] is False
    assert any("seed-paired no" in x for x in compare.describe(r))


# --- each rule can fail -------------------------------------------------------------------------


def test_a_device_bias_fails_the_bias_rule(pair, capsys):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x + 0.006 for k, x in b.items()}, v)  # every run, so contrasts do not move
    assert compare.main([str(tmp / "A"), str(tmp / "B"), "--study", "cnn", "--out", str(tmp / "o")]) == 1
    text = (tmp / "o" / "compare.txt").read_text()
    assert "no_device_bias: NO" in text and "no_systematic_move: yes" in text
    assert "agree: NO" in text
    assert json.loads((tmp / "o" / "compare.json").read_text())[0]["agree"] is False


def test_a_schedule_moved_by_the_device_fails_the_systematic_move(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x + (0.008 if k[0] == "cosine" else 0.0) for k, x in b.items()}, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["rules"]["no_systematic_move"] is False and not r["agree"]
    assert r["mean_moves"]["adam/cosine/0.001/6"] == pytest.approx(0.008, abs=0.002)


def test_scatter_beyond_a_new_seed_fails_the_scatter_rule(pair):
    tmp, a, _ = pair
    rng = np.random.default_rng(1)
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x + 0.1 * rng.standard_normal() for k, x in a.items()}, v)  # 3.5 x sqrt(2) SDs
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["rules"]["no_more_scatter_than_a_new_seed"] is False and not r["agree"]


def test_opposite_verdicts_fail_and_other_differences_are_listed(pair):
    tmp, a, b = pair
    _build(tmp / "A", a, {"cosine": "reproduced", "step": "inconclusive"})
    _build(tmp / "B", b, {"cosine": "reversed", "step": "no meaningful difference"})
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["rules"]["no_opposite_verdicts"] is False and not r["agree"]
    assert {(x["schedule"], x["verdict_a"], x["verdict_b"]) for x in r["verdict_differences"]} == {
        ("cosine", "reproduced", "reversed"), ("step", "inconclusive", "no meaningful difference")}
    assert any("cosine: reproduced (A) vs reversed (B)" in x for x in compare.describe(r))


def test_runs_only_on_one_side_are_counted_not_matched(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {k: x for k, x in b.items() if k[1] != 3}, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert (r["runs_matched"], r["unmatched_a"], r["unmatched_b"], r["moves"]) == (9, 3, 0, 6)


def test_a_run_without_a_finite_value_on_a_side_is_counted_and_left_out(pair):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", {**b, ("step", 2): math.nan}, v)
    r = compare.compare_study(tmp / "A" / "cnn", tmp / "B" / "cnn")
    assert r["runs_not_finite"] == 1 and r["bias"]["n"] == 11
    assert all(ok is not None for ok in r["rules"].values()) and r["agree"]


# --- void or bad input: one line, exit 2 --------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "says"), [
    ("spec_sha256", "ffff", "spec differs"), ("budget", "full", "spec differs"),
    ("precision", ["fp32"], "precision differs"), ("git_commit", "deadbeef", "commit differs"),
    ("precision", None, "B does not record its precision")])
def test_different_spec_precision_or_commit_voids_the_comparison(pair, capsys, field, value, says):
    tmp, a, b = pair
    v = {"cosine": "inconclusive"}
    _build(tmp / "A", a, v)
    _build(tmp / "B", b, v, **{field: value})
    assert compare.main([str(tmp / "A"), str(tmp / "B"), "--study", "cnn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn: void" in err[0] and says in err[0]


def test_a_missing_build_is_one_line_and_exit_2(tmp_path, capsys):
    assert compare.main([str(tmp_path / "A"), str(tmp_path / "B"), "--study", "cnn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cnn" in err[0]


def test_the_fixed_arm_is_the_declared_baseline_else_the_constant_type():
    records = pd.DataFrame({"schedule": ["flat", "cosine", "constant"],
                            "schedule_type": ["constant", "cosine", "constant"]})
    assert compare.fixed_arm(records, {}) == "constant"
    assert compare.fixed_arm(records[records["schedule"] != "constant"], {}) == "flat"
    assert compare.fixed_arm(records, {"baseline": "flat"}) == "flat"
    assert compare.fixed_arm(records[records["schedule"] == "cosine"], {}) is None
