"""Figures' text as drawn: no two texts overlap and none leaves the figure, in the wide and the
narrow drawing, for the figures of a study with many schedules and all three claims (the forest
plot's three panels side by side are the tightest)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from text_layout import outside, overlapping

from annealbench_report.analysis.protocol import ARTICLE, TUNED
from annealbench_report.analysis.units import units_for
from annealbench_report.figures import budget, detail, forest, style
from annealbench_report.figures.style import LAYOUTS

SCHEDULES = ["constant", "constant-ema", "constant-swa", "cosine", "linear", "linear-to-zero",
             "schedule-free", "step", "wsd"]
ALTERNATIVES = ["constant-ema", "constant-swa", "linear-to-zero", "schedule-free", "wsd"]


def _claim_rows() -> pd.DataFrame:
    """Verdict rows of a 9-arm study: better and faster for every schedule, recovers for the
    alternatives to annealing, both protocols, intervals of several widths."""
    rng = np.random.default_rng(3)
    rows = []
    for claim, scheds in (("better", SCHEDULES[1:]), ("faster", SCHEDULES[1:]),
                          ("recovers", ALTERNATIVES)):
        for s in scheds:
            for p in (TUNED, ARTICLE):
                m = rng.normal(0.05, 0.05)
                h = rng.uniform(0.01, 0.3)
                rows.append({"claim": claim, "optimizer": "adam", "schedule": s, "protocol": p,
                             "n_pairs": 3, "mean": m, "lo": m - h, "hi": m + h,
                             "verdict": "inconclusive"})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda lay: lay.name)
def test_forest_axis_labels_fit_their_panels(layout):
    claims = SimpleNamespace(rows=_claim_rows(), min_effect=0.02, full=12)
    fig, numbers = forest.forest_mpl(claims, SCHEDULES, ["adam"], units_for("bpc"), layout=layout)
    assert set(numbers["claim"]) == {"better", "faster", "recovers"}
    xlabels = [ax.get_xlabel() for ax in fig.axes]
    assert len([x for x in xlabels if x]) == 3
    assert overlapping(fig, layout) == []
    assert outside(fig, layout) == []


@pytest.fixture
def drawn(monkeypatch):
    """Every (figure, layout) a figure function serialises, kept to be measured."""
    kept = []
    serialise = style.svg_string

    def keep(fig, prefix, title="", layout=style.WIDE):
        kept.append((fig, layout))
        return serialise(fig, prefix, title, layout)

    monkeypatch.setattr(style, "svg_string", keep)
    return kept


def _assert_text_fits(drawn):
    assert [lay.name for _, lay in drawn] == [lay.name for lay in LAYOUTS]
    for fig, layout in drawn:
        assert overlapping(fig, layout) == [], layout.name
        assert outside(fig, layout) == [], layout.name


def test_paired_names_with_unpaired_seeds_do_not_collide(drawn):
    """Nine schedules, some with a seed left out: their names, slanted, stay apart."""
    seeds = {s: pd.DataFrame({"seed": [0, 1, 2], "own": [2.03, 2.05, np.nan],
                              "ref": [2.10, 2.11, 2.12],
                              "outcome": ["pair", "pair", "left out" if i < 4 else "pair"]})
             for i, s in enumerate(SCHEDULES[1:])}
    styles = style.schedule_styles(SCHEDULES, "constant")
    detail.paired_figure(seeds, "adam", "constant", "bpc", units_for("bpc"), styles)
    _assert_text_fits(drawn)


def test_budget_labels_stay_inside_the_figure(drawn):
    rows = [{"optimizer": "adam", "protocol": TUNED, "schedule": s, "length": b, "n": 3,
             "mean": 2.1 - 0.01 * i, "lo": 2.0, "hi": 2.2, "delta": 0.01 * i, "delta_lo": -0.1,
             "delta_hi": 0.2} for i, s in enumerate(SCHEDULES) for b in (6, 12)]
    numbers = pd.DataFrame(rows).reindex(columns=budget.NUMBER_COLUMNS)
    styles = style.schedule_styles(SCHEDULES, "constant")
    budget.budget_figure(numbers, "constant", "bpc", units_for("bpc"), 0.02, styles, "t")
    _assert_text_fits(drawn)
