"""The training regime: the fixed LR's gain per epoch over the last quarter at its judged base LR,
known answers against scipy, the plateau rule (a metric turning worse is at a plateau), and the
sentence on the page, in the index and in the columns verdicts.csv joins."""

from __future__ import annotations

import html as htmlmod
import json
import re

import numpy as np
import pandas as pd
import pytest
from constructed import DIRS, records, run, study_claims
from scipy import stats as sps

from annealbench_report.analysis import protocol, regime
from annealbench_report.analysis.study import analyse
from annealbench_report.analysis.units import units_for
from annealbench_report.errors import ReportError
from annealbench_report.pages import answer, index_page
from annealbench_report.pages import study_page as render
from annealbench_report.records import collect

POINTS = units_for("accuracy", [0.5])
REF = {"level": 0.94, "text": "CNNs trained to convergence on CIFAR-10 reach 94% and more",
       "source": "arXiv:2404.00498"}
E = 8  # last quarter: the evaluations after epochs 6, 7 and 8


def curve(start: float, rise: float, slope: float, noise=(0.0, 0.0, 0.0)) -> dict:
    """{epoch: (val, test or None)}: rising by ``rise`` per epoch to epoch 6, then ``slope`` per
    epoch, with ``noise`` added at epochs 6-8 (so the least-squares slope is not the plain one)."""
    v = {e: start + rise * e for e in range(1, 7)}
    v[7], v[8] = v[6] + slope, v[6] + 2 * slope
    for e, n in zip((6, 7, 8), noise):
        v[e] += n
    return {e: (x, x - 0.01 if e == E else None) for e, x in v.items()}


NOISE = [(0.0, 0.001, -0.0005), (0.0005, 0.0, 0.001), (-0.001, 0.0005, 0.0)]


def study_of(slopes, other_lr_slope=None, plateau=0.003, metric="accuracy"):
    """Records of sgd with a fixed LR (base LR 0.1, one slope per seed) and a cosine arm, and the
    study.json fields: 3 seeds, E epochs. ``other_lr_slope``: a second, worse base LR (0.01) of
    the fixed LR with that slope: never judged, so never in the regime."""
    rows = []
    for s, b in enumerate(slopes):
        rows.append(run("constant", 0.1, s, E, curve(0.3, 0.05, b, NOISE[s])))
        rows.append(run("cosine", 0.1, s, E, curve(0.3, 0.05, 0.0, NOISE[s])))
        if other_lr_slope is not None:
            rows.append(run("constant", 0.01, s, E, curve(0.1, 0.01, other_lr_slope, NOISE[s])))
    df = records(rows)
    if metric != "accuracy":
        df = collect.apply_dtypes(df.assign(metric=df["metric"].astype(str).replace("accuracy", metric)))
    return df, {"epochs": E, "plateau": plateau, "reference": REF}


def frame_of(df, study, metric="accuracy", units=POINTS):
    sel = protocol.select(protocol.points(df, metric, [E]), study, metric, DIRS)
    return regime.analyse(df, sel, "constant", ["sgd"], E, regime.Metric(metric, DIRS, units),
                          regime.declared(study, "study.json"))


def expected(slopes, sgn=1.0):
    """Per seed gain from scipy's linregress over epochs 6-8, and scipy's 95% t-interval."""
    gains = []
    for s, b in enumerate(slopes):
        c = curve(0.3, 0.05, b, NOISE[s])
        gains.append(sgn * sps.linregress([6, 7, 8], [c[e][0] for e in (6, 7, 8)]).slope)
    g = np.array(gains)
    lo, hi = sps.t.interval(0.95, len(g) - 1, loc=g.mean(), scale=sps.sem(g))
    return g.mean(), lo, hi


def test_last_quarter_and_least_squares_slope_against_scipy():
    assert [regime.last_quarter(n) for n in (2, 4, 5, 8, 12, 30)] == [
        (1, 2), (3, 4), (3, 5), (6, 8), (9, 12), (22, 30)]
    rng = np.random.default_rng(3)
    x, y = np.arange(22, 31), rng.normal(size=9)
    assert regime.ls_slope(x, y) == pytest.approx(sps.linregress(x, y).slope, rel=1e-12)
    assert np.isnan(regime.ls_slope([8], [0.5]))  # one point: no slope
    assert regime.ls_slope([6, 7, 8], [0.5, np.nan, 0.6]) == pytest.approx(0.05)


@pytest.mark.parametrize("slopes,at", [
    ([0.001, 0.0015, 0.0005], True),     # a plateau: at most 0.3 points per epoch
    ([0.015, 0.02, 0.012], False),       # still climbing 1.5 points per epoch
    ([-0.004, -0.006, -0.005], True),    # turning worse (overfitting): a plateau
])
def test_slope_interval_and_plateau_rule_known_answers(slopes, at):
    df, study = study_of(slopes)
    f = frame_of(df, study)
    assert list(f.columns) == regime.COLUMNS
    r = f.iloc[0]
    mean, lo, hi = expected(slopes)
    assert (r["slope"], r["slope_lo"], r["slope_hi"]) == pytest.approx((mean, lo, hi), rel=1e-9)
    assert r["n"] == 3 and r["plateau"] == 0.003 and bool(r["at_plateau"]) is at
    test_e = [curve(0.3, 0.05, b, NOISE[s])[E][1] for s, b in enumerate(slopes)]
    assert r["level"] == pytest.approx(np.mean(test_e))


def test_sentences_say_plateau_or_short_budget_with_the_level_and_reference():
    plateau = frame_of(*study_of([0.001, 0.0015, 0.0005])).iloc[0]["sentence"]
    assert plateau.startswith("At a plateau (fixed LR gaining +0.12 points [−0.01, +0.25] per epoch")
    assert "per epoch over the last quarter; plateau: at most 0.30 points per epoch)" in plateau
    climbing = frame_of(*study_of([0.015, 0.02, 0.012])).iloc[0]
    mean, lo, hi = expected([0.015, 0.02, 0.012])
    assert climbing["sentence"].startswith(
        f"Still improving by {100 * mean:.2f} points per epoch ([{100 * lo:.2f}, {100 * hi:.2f}] "
        "over the last quarter; plateau: at most 0.30 points per epoch): a short-budget comparison. ")
    assert climbing["sentence"].endswith(
        f"The fixed LR ends at {100 * climbing['level']:.1f}% test accuracy; CNNs trained to "
        "convergence on CIFAR-10 reach 94% and more (arXiv:2404.00498).")
    worse = frame_of(*study_of([-0.004, -0.006, -0.005])).iloc[0]["sentence"]
    w_mean = expected([-0.004, -0.006, -0.005])[0]
    assert worse.startswith(f"At a plateau (fixed LR gaining −{-100 * w_mean:.2f} points [")
    assert ", turning worse;" in worse


def test_an_interval_across_the_threshold_is_not_a_plateau():
    df, study = study_of([0.0, 0.006, -0.001])  # mean 0.2 points, upper end above 0.3
    r = frame_of(df, study).iloc[0]
    assert r["slope"] * 100 < 0.3 < r["slope_hi"] * 100 and not r["at_plateau"]
    assert r["sentence"].startswith(
        f"Not shown to be at a plateau (fixed LR gaining +{100 * r['slope']:.2f} points [")
    assert "): a short-budget comparison." in r["sentence"]


def test_lower_is_better_a_falling_metric_gains():
    df, study = study_of([-0.02, -0.025, -0.015], plateau=0.005, metric="bpc")
    bpc = units_for("bpc", [2.0])
    r = frame_of(df, study, "bpc", bpc).iloc[0]
    mean, lo, hi = expected([-0.02, -0.025, -0.015], sgn=-1.0)
    assert r["slope"] == pytest.approx(mean) and r["slope"] > 0.01
    assert (r["slope_lo"], r["slope_hi"]) == pytest.approx((lo, hi))
    assert not r["at_plateau"] and r["sentence"].startswith(f"Still improving by {mean:.4f} bpc per epoch")
    assert f"ends at {r['level']:.3f} test bpc;" in r["sentence"]


def test_only_the_judged_base_lr_counts():
    """The fixed LR at 0.01 is worse on validation (never judged) and flat; at 0.1, climbing."""
    df, study = study_of([0.015, 0.02, 0.012], other_lr_slope=0.0)
    r = frame_of(df, study).iloc[0]
    assert r["slope"] == pytest.approx(expected([0.015, 0.02, 0.012])[0]) and not r["at_plateau"]


def test_no_threshold_no_reference_one_seed():
    df, study = study_of([0.001, 0.0015, 0.0005], plateau=None)
    r = frame_of(df, {**study, "reference": None}).iloc[0]
    assert pd.isna(r["at_plateau"]) and np.isnan(r["plateau"])
    assert "the study declares no plateau threshold" in r["sentence"]
    assert "(the study declares no reference level)" in r["sentence"]
    one = df[df["seed"] == 0]
    r = frame_of(collect.apply_dtypes(one), {**study, "plateau": 0.003}).iloc[0]
    assert r["n"] == 1 and not r["at_plateau"]  # no interval: not shown to be at a plateau
    assert "(one seed: no interval)" in r["sentence"]


def test_verdict_columns_are_exactly_the_joined_ones():
    f = frame_of(*study_of([0.015, 0.02, 0.012]))
    v = regime.verdict_columns(f)
    assert list(v.columns) == ["optimizer", "slope", "slope_lo", "slope_hi", "plateau", "at_plateau"]
    assert v["optimizer"].tolist() == ["sgd"] and v["at_plateau"].tolist() == [False]
    assert list(regime.verdict_columns(None).columns) == list(v.columns)


@pytest.mark.parametrize("bad", [{"plateau": -1}, {"plateau": "flat"},
                                 {"reference": {"level": 0.9, "text": "t"}},
                                 {"reference": 0.94}])
def test_a_broken_study_json_is_one_clear_error(bad):
    with pytest.raises(ReportError, match=r"study\.json: (plateau|reference) must be"):
        regime.declared(bad, "study.json")


def _answer_text(html: str) -> list[str]:
    section = html.split('id="answer"')[1].split("</section>")[0]
    return [t for t in htmlmod.unescape(re.sub(r"<[^>]+>", "", section)).split("\n") if t.strip()]


def test_page_and_index_open_each_setting_with_its_regime(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1, 2), epochs=4, curve=(2,), special=False)
    study = json.loads((s.dir / "study.json").read_text())
    study.update(plateau=0.003, reference=REF)
    (s.dir / "study.json").write_text(json.dumps(study))
    df = collect.write_records(s.dir)
    html = render.render_study(s.dir, records=df).read_text()
    lines = _answer_text(html)
    a = analyse(s.dir, df)
    for opt in ("sgd", "adam"):
        mine = [t for t in lines if t.startswith(f"{opt}, ")]
        # the synthetic curves still climb ~2.6 points per epoch at epochs 3-4
        assert mine[0].startswith(f"{opt}, training regime (fixed LR at 4 epochs). Still improving by ")
        assert mine[0].endswith(f"{REF['text']} ({REF['source']}).")
        assert mine[0].split(". ", 1)[1] == a.regime[opt]
    assert any(t.startswith("Training regime. For each optimizer setting") for t in lines)
    index = htmlmod.unescape(index_page.render_index(tmp_path / "out").read_text())
    assert f"sgd, training regime (fixed LR at 4 epochs): {a.regime['sgd']}" in index


def test_without_a_declared_regime_the_page_still_states_the_gain(rendered):
    _, page = rendered
    lines = _answer_text(page.read_text())
    first = next(t for t in lines if t.startswith("sgd, "))
    assert first.startswith("sgd, training regime (fixed LR at 4 epochs). Fixed LR gaining +")
    assert "the study declares no plateau threshold" in first


def test_no_comparison_no_regime_sentence():
    """Only the fixed LR ran: the page says why there is no answer, with no regime line that
    would hide that message."""
    df = records([run("constant", 0.1, s, E, curve(0.3, 0.05, 0.01, NOISE[s])) for s in range(3)])
    _, c = study_claims(df, {"epochs": E})
    assert answer.sentences(c, POINTS, {"sgd": "At a plateau (...)"}) == []
    df, study = study_of([0.015, 0.02, 0.012])
    _, c = study_claims(df, study)
    s = answer.sentences(c, POINTS, {"sgd": "Still improving (...)"})
    assert [x["claim"] for x in s] == ["regime", "better", "faster"]
