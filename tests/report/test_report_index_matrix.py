"""The index's verdict matrix: one cell per schedule and family with the verdict, Δ and interval
that the study page's verdict table gives (the interval shown in the cell, not only in its
tooltip), and the regime only when the analysis supplies one."""

from __future__ import annotations

import re

import pandas as pd

from annealbench_report.analysis import study as analysis
from annealbench_report.analysis import verdicts
from annealbench_report.analysis.claims import family_rows
from annealbench_report.pages import index_matrix, index_page, key
from annealbench_report.pages import study_page as render
from annealbench_report.pages.labels import verdict_families
from annealbench_report.records import collect


def a_records(synth):
    return pd.read_parquet(synth.dir / "records.parquet")


def _analysis(synth):
    return analysis.analyse(synth.dir, collect.write_records(synth.dir))


def test_cells_are_the_verdict_rows(synth):
    a = _analysis(synth)
    m = index_matrix.matrix(a)
    fams = verdict_families(a)
    assert len(m["cols"]) == len(fams) and fams
    for row in m["rows"]:
        for fam, c in zip(fams, row["cells"]):
            r = family_rows(a.claims, *fam)
            r = r[r["schedule"] == row["schedule"]].iloc[0]
            assert (c["word"], c["value"]) == (r["verdict"], r["mean"])
            assert c["delta"] == a.units.num(r["mean"], True)
            assert a.units.interval(r["lo"], r["hi"], True) in c["title"]
            assert c["interval"] == a.units.interval(r["lo"], r["hi"], True)  # shown, not only on hover
    assert [r["schedule"] for r in m["rows"]] == [s for s in a.scheds if s != a.fixed]
    assert len(m["mdes"]) == len(a.claims.families)
    # the regime the analysis states (annealbench_report.analysis.regime), never one of the matrix's own
    assert [g["regime"] for g in m["groups"]] == [(a.regime or {}).get(g["opt"]) for g in m["groups"]]


def test_regime_is_shown_when_the_analysis_supplies_it(synth):
    a = _analysis(synth)
    opt = a.opts[0]
    a.regime = {opt: "short runs, still improving under the fixed LR"}
    groups = {g["opt"]: g["regime"] for g in index_matrix.matrix(a)["groups"]}
    assert groups[opt] == "short runs, still improving under the fixed LR"
    row, _ = index_page.index_entry(0, synth.dir, (a, render.runs_for(synth.dir, a_records(synth))))
    html = render.env().get_template("index.html.j2").render(
        studies=[{**row, "history": None, "n_history": 1}], version="x", statuses=("completed",),
        legend=index_matrix.legend(), key=key.context([key.scale_of(a)]))
    assert "short runs, still improving under the fixed LR" in html


def test_legend_names_every_verdict_in_words():
    words = [entry["word"] for entry in index_matrix.legend()]
    assert words == list(verdicts.VERDICTS) and len(set(words)) == len(verdicts.VERDICTS)
    assert all(re.fullmatch(r"[✔✘=?!]", entry["mark"]) for entry in index_matrix.legend())
