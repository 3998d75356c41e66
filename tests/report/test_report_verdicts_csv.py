"""verdicts.csv beside every study page (issue 14): its numbers are the page's, and both are what
the records give when recomputed here from the raw test values at the tuning file's LRs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import OPTIMIZERS, SCHEDULES
from html_tables import read_tables

from annealbench_report.pages import study_page as render
from annealbench_report.pages import verdicts_csv
from annealbench_report.pages.labels import PROTOCOL_SHORT, family_label
from annealbench_report.records import collect

CHOSEN = {"sgd": 0.05, "adam": 0.001}


def _tuning():
    choices = []
    for opt, (_, lrs, _) in OPTIMIZERS.items():
        for sched in SCHEDULES:
            for length in (2, 4):
                choices.append({"optimizer": opt, "schedule": sched, "length": length,
                                "base_lr": CHOSEN[opt], "edge": len(lrs) > 1,
                                "by_lr": [{"base_lr": x, "val_mean": 0.7 if x == CHOSEN[opt]
                                           else 0.6, "n": 3} for x in lrs]})
    return {"study": "synth", "judged_budget": "quick", "tuning_budget": "quick-tune",
            "seeds": [100, 101, 102], "primary_metric": "accuracy", "direction": "max",
            "commit": "feed123", "date": "2026-12-04", "spec_sha256": "0" * 64,
            "choices": choices, "file": "synth.quick.tuning.json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import make_study

    s = make_study(tmp_path_factory.mktemp("out"), seeds=(0, 1, 2, 3), tuning=_tuning())
    df = collect.write_records(s.dir)
    page = render.render_study(s.dir, records=df)
    return s, df, page.read_text(), pd.read_csv(s.dir / verdicts_csv.NAME, dtype={
        "tuning_seeds": str, "judged_seeds": str, "base_lr_fixed": str, "base_lr_schedule": str})


def _raw_deltas(df, opt, sched, length=4):
    """sign·(schedule − fixed) of test accuracy at ``length`` per seed, at the chosen LR, where
    both runs completed: straight from the records, without the report's layers."""
    t = df[(df["split"] == "test") & (df["metric"] == "accuracy") & (df["epoch"] == length)
           & (df["epochs"] == length) & (df["optimizer"] == opt)
           & np.isclose(df["base_lr"], CHOSEN[opt]) & (df["status"] == "completed")]
    by = t.pivot_table(index="seed", columns="schedule", values="value", observed=True)
    return (by[sched] - by["constant"]).dropna()


def test_one_row_per_optimizer_protocol_claim_schedule_with_the_contract_columns(built):
    _, _, _, v = built
    assert list(v.columns) == verdicts_csv.COLUMNS
    assert not v.duplicated(["optimizer", "protocol", "claim", "schedule"]).any()
    tuned = v[v["protocol"] == "tuned"]
    assert set(tuned["tuning_seeds"]) == {"100 101 102"}
    assert set(tuned["judged_seeds"]) == {"0 1 2 3"}
    assert set(v.loc[v["protocol"] == "article", "tuning_seeds"].fillna("")) == {""}
    assert set(tuned.loc[tuned["optimizer"] == "adam", "base_lr_schedule"]) == {"0.001"}
    assert (v["min_effect"] == 0.005).all()


def test_numbers_equal_the_records_and_the_page(built):
    s, df, html, v = built
    tables = [t for t in read_tables(html) if "comparisons" in t["cls"]]
    checked = 0
    for r in v[(v["protocol"] == "tuned") & (v["claim"] == "better")].itertuples():
        d = _raw_deltas(df, r.optimizer, r.schedule)
        if r.verdict == "unstable":
            continue
        assert r.n == len(d) and r.delta == pytest.approx(d.mean(), rel=1e-12)
        label = family_label(r.optimizer, "tuned", "better")
        t = next(t for t in tables if t["caption"].startswith(label))
        cells = next(c for c in t["rows"] if c[0]["text"] == r.schedule)
        assert r.verdict in cells[1]["text"]  # the verdict right after the schedule's name
        assert float(cells[4]["value"]) == r.delta
        assert float(cells[7]["value"]) == pytest.approx(r.p, rel=1e-15)
        assert float(cells[8]["value"]) == pytest.approx(r.p_holm, rel=1e-15)
        checked += 1
    assert checked >= 3
    assert PROTOCOL_SHORT["tuned"] in html


def test_the_page_shows_the_tuning_table_and_which_seeds_chose(built):
    _, _, html, _ = built
    t = next(t for t in read_tables(html) if t["cls"] == "tuning")
    assert "synth.quick.tuning.json" in t["caption"] and "100 101 102" in t["caption"]
    adam = [r for r in t["rows"] if r[0]["text"] == "adam · cosine" and r[1]["text"] == "4"][0]
    assert "◀" in adam[2]["text"] and "◀" not in adam[3]["text"]  # 0.001 chosen, 0.003 not
    assert "on the tuning seeds 100 101 102" in html and "Judged seeds: 0 1 2 3" in html


def test_every_build_writes_it_beside_the_page(tmp_path):
    from conftest import make_study

    from annealbench_report import cli

    s = make_study(tmp_path / "out", seeds=(0, 1), epochs=2, curve=(1,), special=False)
    pages = cli.build(s.dir.parent)
    assert s.dir / "index.html" in pages
    v = pd.read_csv(s.dir / verdicts_csv.NAME, dtype={"tuning_seeds": str})
    assert len(v) and set(v["protocol"]) == {"tuned", "article"}
    assert set(v["tuning_seeds"].fillna("")) == {""}  # in-study: nothing chose on other seeds


def test_regime_columns_repeat_each_settings_slope_from_the_records(built):
    """slope = the fixed LR's least-squares gain per epoch over the last quarter of its full-length
    run (validation accuracy) at the judged LR, mean over seeds: recomputed here from raw rows."""
    from scipy import stats

    s, df, _, v = built
    assert {"slope", "slope_lo", "slope_hi", "plateau", "at_plateau"} <= set(v.columns)
    for opt in CHOSEN:
        full = int(df["epochs"].max())
        val = df[(df["split"] == "val") & (df["metric"] == "accuracy") & (df["optimizer"] == opt)
                 & (df["schedule"] == "constant") & (df["epochs"] == full)
                 & np.isclose(df["base_lr"], CHOSEN[opt]) & (df["status"] == "completed")
                 & (df["epoch"] >= full - -(-full // 4))]
        slopes = [stats.linregress(g["epoch"], g["value"]).slope for _, g in val.groupby("seed")]
        rows = v[v["optimizer"] == opt]
        assert len(rows) and rows["slope"].nunique() == 1
        assert rows["slope"].iloc[0] == pytest.approx(np.mean(slopes), rel=1e-9)
