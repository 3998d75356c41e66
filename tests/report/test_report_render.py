"""render: one self-contained, escaped page per study whose answer, forest plot and budget curve
come first, follow the rules, and match the records (checked with pandas and scipy directly)."""

from __future__ import annotations

import html as htmlmod
import re

import pandas as pd
import pytest
from html_tables import num, read_tables

from annealbench_report.analysis import study as analysis
from annealbench_report.analysis import verdicts
from annealbench_report.pages import answer, index_page
from annealbench_report.pages import study_page as render
from annealbench_report.records import collect


@pytest.fixture(scope="module")
def page(rendered):
    synth, path = rendered
    return synth, path.read_text(encoding="utf-8")


def judged_by_seed(records: pd.DataFrame, opt: str, sched: str, length: int, lr: float) -> pd.Series:
    """Independent of the package: test accuracy at epoch ``length`` of the completed runs of
    that length, per seed."""
    r = records[(records["optimizer"] == opt) & (records["schedule"] == sched)
                & (records["epochs"] == length) & (records["base_lr"] == lr)
                & (records["status"] == "completed") & (records["split"] == "test")
                & (records["metric"] == "accuracy") & (records["epoch"] == length)]
    return r.set_index("seed")["value"]


def _paired_p(d: pd.Series) -> float:
    from scipy import stats as sps

    return float(sps.ttest_1samp(d, 0).pvalue)


def _delta_and_interval(d: pd.Series) -> str:
    """The page's 'Δ points [low, high]' for paired differences ``d``: mean and 95% t-interval."""
    from scipy import stats as sps

    half = sps.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / len(d) ** 0.5
    return f"{100 * d.mean():.1f} points [{100 * (d.mean() - half):.1f}, {100 * (d.mean() + half):.1f}]"


def test_answer_forest_and_budget_curve_come_first(page):
    _, html = page
    order = ['id="answer"', 'id="forest-plot"', 'id="budget-curve"', 'id="verdicts"',
             'id="opt-0"', 'id="opt-1"', 'id="all-lrs"', 'id="status"', 'id="reproduce"']
    pos = [html.index(k) for k in order]
    assert pos == sorted(pos), "sections out of order"
    assert html.index("<svg", pos[1]) < pos[2]  # the forest plot is the first figure
    # sgd tuned, adam tuned, adam article; each drawn wide and for a phone
    assert html.count('class="fig fig-wide"', pos[2], pos[3]) == 3
    assert html.count('class="fig fig-narrow"', pos[2], pos[3]) == 3


def test_answer_sentences_follow_the_rules_and_the_records(page):
    """sgd has one base LR, so its tuned arm is that LR: the answer's numbers for "better" can be
    recomputed from the records with pandas and scipy, Holm over the two schedules by hand."""
    synth, html = page
    records = pd.read_parquet(synth.dir / "records.parquet")
    ref = judged_by_seed(records, "sgd", "constant", 4, 0.05)
    d = {s: (judged_by_seed(records, "sgd", s, 4, 0.05) - ref).dropna() for s in ("step", "cosine")}
    p = {s: _paired_p(x) for s, x in d.items()}
    lo, hi = sorted(p, key=p.get)
    holm = {lo: min(1, 2 * p[lo])}
    holm[hi] = max(holm[lo], min(1, p[hi]))
    text = htmlmod.unescape(re.sub(r"<[^>]+>", "", html.split('id="answer"')[1].split("</section>")[0]))
    sentence = next(t for t in text.split("\n") if t.startswith("sgd, better final result"))
    for s, x in d.items():
        if holm[s] < 0.05 and x.mean() > 0:
            assert f"{s} beats the fixed LR by {100 * x.mean():.1f} points" in sentence
            assert f"{100 * x.mean():.1f} points [" in sentence and "(reproduced)" in sentence
        else:
            assert f"{s} beats" not in sentence
    # the Δ and t-interval printed for each schedule, from the records alone (pandas, scipy)
    for s, x in d.items():
        if f"{s} beats" in sentence:
            assert f"{s} beats the fixed LR by {_delta_and_interval(x)}" in sentence
    adam = next(t for t in text.split("\n") if t.startswith("adam, better final result"))
    article = judged_by_seed(records, "adam", "constant", 4, 0.003)
    step = (judged_by_seed(records, "adam", "step", 4, 0.003) - article).dropna()
    assert f"step beats the fixed LR by {_delta_and_interval(step)}" in adam
    # and every sentence is the one the answer module generates from the analysis
    a = analysis.analyse(synth.dir, collect.collect(synth.dir))
    for s in answer.sentences(a.claims, a.units):
        assert s["head"] in text and s["body"] in text


def test_verdict_table_numbers_equal_pandas(page):
    synth, html = page
    records = pd.read_parquet(synth.dir / "records.parquet")
    t = next(t for t in read_tables(html) if "verdicts" in t["cls"])
    assert t["header"][0] == "schedule"
    assert "sgd · tuned LR · better final result" in t["header"]
    assert "adam · article's LR · better final result" in t["header"]
    rows = {r[0]["text"]: r for r in t["rows"]}
    col = t["header"].index("sgd · tuned LR · better final result")
    ref = judged_by_seed(records, "sgd", "constant", 4, 0.05)
    for s in ("step", "cosine"):
        d = (judged_by_seed(records, "sgd", s, 4, 0.05) - ref).dropna()
        cell = rows[s][col]
        assert float(cell["value"]) == pytest.approx(d.mean(), rel=1e-12)
        assert cell["text"].split(" ", 1)[1].split("Δ")[0].strip() in verdicts.VERDICTS
        assert num(cell["text"].split("Δ ")[1]) == pytest.approx(100 * d.mean(), abs=0.051)
    # the article row of adam: LR 0.003, where cosine diverged alone in one seed
    art = rows["cosine"][t["header"].index("adam · article's LR · better final result")]
    assert "unstable" in art["text"] and "schedule in 1 seed(s)" in art["text"]


def test_rules_and_families_are_on_the_page(page):
    _, html = page
    text = htmlmod.unescape(html)
    for name, rule in verdicts.RULES:
        assert rule in text, name
    assert verdicts.TESTS_RULE in text and verdicts.MDE_RULE in text
    fam = next(t for t in read_tables(html) if "families" in t["cls"])
    assert fam["header"][0].startswith("family (Holm")
    assert len(fam["rows"]) == 6  # sgd tuned x2 claims, adam tuned x2, adam article x2
    assert "Selection held out" in text
    assert "at the edge of the grid" in text  # adam's two-LR grid


def test_budget_curve_numbers_equal_pandas(page):
    synth, html = page
    records = pd.read_parquet(synth.dir / "records.parquet")
    sec = html.split('id="budget-curve"')[1].split('id="verdicts"')[0]
    t = next(t for t in read_tables(sec) if t["header"][0] == "schedule")
    rows = {(r[0]["text"], int(r[1]["text"])): r for r in t["rows"]}
    for n in (2, 4):
        ref = judged_by_seed(records, "sgd", "constant", n, 0.05)
        d = (judged_by_seed(records, "sgd", "cosine", n, 0.05) - ref).dropna()
        assert float(rows[("cosine", n)][3]["value"]) == pytest.approx(d.mean(), rel=1e-12)
        g = (judged_by_seed(records, "sgd", "cosine", n, 0.05)
             - judged_by_seed(records, "sgd", "constant", 4, 0.05)).dropna()
        assert float(rows[("cosine", n)][4]["value"]) == pytest.approx(g.mean(), rel=1e-12)
        assert float(rows[("constant", n)][2]["value"]) == pytest.approx(ref.mean(), rel=1e-12)


def test_figures_inline_svg_with_tables(page):
    _, html = page
    figures = re.findall(r"<figure\b.*?</figure>", html, flags=re.S)
    assert len(figures) == 1 + 3 + 4 * 2  # forest, budget curves, four per optimizer setting
    for f in figures:  # two inline drawings each: wide, then for a phone
        assert re.findall(r'<svg\b[^>]*class="fig (fig-\w+)"', f) == ["fig-wide", "fig-narrow"]
        assert "<img" not in f
    # a numbers table right after every figure
    assert len(re.findall(r"</figure>\s*<div class=\"scroll\">\s*<table", html)) == len(figures)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_self_contained_no_external_resources(page):
    _, html = page
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html.replace("url(#", "")
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html
    assert "bootstrap" not in html.lower()  # its "95%" was not 95%: gone everywhere


def test_status_table_lists_diverged_with_step(page):
    synth, html = page
    tables = {t["caption"]: t for t in read_tables(html)}
    div = tables["Diverged runs"]
    key = next(k for k, r in synth.runs.items() if r["status"] == "diverged")
    assert div["rows"][0][0]["text"] == key
    assert div["rows"][0][-1]["text"] == str(2 * synth.steps_per_epoch + 2)
    assert "Failed runs" in tables and "RuntimeError: boom" in html


def test_index_shows_answer_mde_and_a_link_to_the_forest_plot(rendered):
    synth, _ = rendered
    html = (synth.dir.parent / "index.html").read_text()
    assert 'href="synth/index.html"' in html and "http" not in html
    text = htmlmod.unescape(html)
    assert "sgd, better final result (at 4 epochs):" in text
    assert "MDE" in text and "sgd · tuned LR · better final result:" in text
    # no thumbnail (unreadable at its size): a link to the study page's full-size forest plot
    assert 'href="synth/index.html#forest-plot"' in html and "<svg" not in html
    study_html = (synth.dir / "index.html").read_text()
    assert 'id="forest-plot"' in study_html


def test_untrusted_strings_are_escaped(tmp_path, make_synth):
    evil = "<script>alert(1)</script>"
    s = make_synth(tmp_path / "out", name=evil, dir_name="xss", seeds=(0, 1), epochs=2, curve=(),
                   description='<img src=x onerror="alert(2)">', special=False)
    collect.write_records(s.dir)
    html = render.render_study(s.dir).read_text()
    index = index_page.render_index(tmp_path / "out").read_text()
    for text in (html, index):
        assert evil not in text and "<img" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in html.lower()


def test_render_is_deterministic(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, curve=(1,), special=False)
    df = collect.write_records(s.dir)
    a = render.render_study(s.dir, records=df).read_bytes()
    b = render.render_study(s.dir).read_bytes()  # from records.parquet this time
    assert a == b


def test_study_without_records_renders(tmp_path):
    d = tmp_path / "empty"
    (d / "runs").mkdir(parents=True)
    html = render.render_study(d).read_text()
    assert "No completed runs yet" in html


def test_study_without_fixed_lr_arm_renders(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, curve=(), special=False)
    df = collect.write_records(s.dir)
    df = collect.apply_dtypes(df[df["schedule"] != "constant"])
    html = render.render_study(s.dir, records=df).read_text()
    assert "there is no fixed-LR arm" in html
    assert 'class="verdicts"' not in html
    assert len(re.findall(r"<figure\b", html)) == 3 * 2  # no paired figure without a baseline
