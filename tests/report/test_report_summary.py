"""summary.md and forest.png beside the index (issue 15: what a README quotes): every row of the
table is the study's verdicts.csv, formatted, and the figure is one image per build, small."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from PIL import Image

from annealbench_report import cli
from annealbench_report.analysis import claim_defs
from annealbench_report.pages import summary


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from conftest import make_study

    out = tmp_path_factory.mktemp("out")
    make_study(out, name="alpha", seeds=(0, 1, 2, 3))
    make_study(out, name="beta", seeds=(0, 1, 2))
    cli.build(out)
    return out


def _pts(x: float, signed: bool = True) -> str:
    """Accuracy as points, one decimal, with the page's minus sign: written here, not imported."""
    if not math.isfinite(x):
        return "–"
    v = f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"
    return (v.replace("-", "+") if float(v) == 0 else v).replace("-", "−")


def test_every_table_row_is_a_verdicts_csv_row(built):
    table, key = (built / summary.TABLE_NAME).read_text().split("\nKey:\n")  # the key: test_report_key
    assert key.strip()
    lines = table.splitlines()
    assert lines[0] == "| " + " | ".join(summary.HEAD) + " |"
    shown = sorted(tuple(c.strip() for c in ln.strip("|").split("|"))[2:] for ln in lines[2:])
    expected = []
    for name in ("alpha", "beta"):
        for _, v in pd.read_csv(built / name / "verdicts.csv").iterrows():
            ci = ("[–]" if not (math.isfinite(v["lo"]) and math.isfinite(v["hi"]))
                  else f"[{_pts(v['lo'])}, {_pts(v['hi'])}]")
            p = v["p_holm"]
            expected.append((claim_defs.get(v["claim"]).summary_label, v["schedule"],
                             f"{_pts(v['delta'])} {ci} points",
                             "–" if not math.isfinite(p) else f"{p:.2g}" if p < 0.001 else f"{p:.3f}",
                             f"**{v['verdict']}**",
                             f"{_pts(v['mde'], False)} points" if math.isfinite(v["mde"]) else "–"))
    assert shown == sorted(expected)
    studies = [ln.strip("|").split("|")[0].strip() for ln in lines[2:]]
    assert [s for s in studies if s][0].startswith("alpha")
    assert any(s.startswith("beta") for s in studies)


def test_the_figure_is_one_small_png_of_every_study(built):
    data = (built / summary.FIGURE_NAME).read_bytes()
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG" and len(data) <= 200_000
    assert summary.figure_png({}) is None
    single = Image.open(io.BytesIO(summary.figure_png({"alpha": _analysed(built, "alpha")})))
    assert img.width == single.width and img.height > 1.5 * single.height  # both studies stacked


def _analysed(out, name):
    from annealbench_report.pages import study_page as render
    from annealbench_report.records import contract as records

    d = out / name
    return render.analyse(d, records.read_records(d / "records.parquet")), None


def test_a_partial_build_leaves_the_summary_alone(built):
    before = (built / summary.TABLE_NAME).read_bytes()
    (built / summary.TABLE_NAME).write_text("kept\n")
    cli.build(built, ["alpha"])
    assert (built / summary.TABLE_NAME).read_text() == "kept\n"
    (built / summary.TABLE_NAME).write_bytes(before)


def test_nothing_compared_writes_nothing(tmp_path):
    assert summary.write(tmp_path, {}) == []
    assert not list(tmp_path.iterdir())
