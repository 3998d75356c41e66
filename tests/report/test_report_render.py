"""render: one self-contained, escaped page per study whose numbers match the records."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from html_tables import num, read_tables

from annealbench_report import collect, render


def expected_finals(records: pd.DataFrame, split: str, metric: str = "accuracy") -> pd.DataFrame:
    """Independent of stats.py: per (optimizer, schedule, base_lr), mean/std/n of the value at each
    completed run's last epoch."""
    done = records[(records["status"] == "completed") & (records["metric"] != "step_loss")]
    last = done.groupby("run_key", observed=True)["epoch"].transform("max")
    sel = done[(done["epoch"] == last) & (done["split"] == split) & (done["metric"] == metric)]
    return sel.groupby(["optimizer", "schedule", "base_lr"], observed=True)["value"].agg(
        ["mean", "std", "count"])


def summary_rows(html: str) -> dict:
    out = {}
    for t in read_tables(html):
        if "summary" not in t["cls"]:
            continue
        opt = t["caption"].split(":")[0]
        for r in t["rows"]:
            sched = r[0]["text"].replace("fixed LR", "").strip()
            out[(opt, sched)] = dict(zip(t["header"], r))
    return out


@pytest.fixture(scope="module")
def page(rendered):
    synth, path = rendered
    return synth, path.read_text(encoding="utf-8")


def test_page_has_every_schedule_and_section(page):
    synth, html = page
    assert html.startswith("<!DOCTYPE html>")
    for sched in ("constant", "step", "cosine"):
        assert sched in html
    for section in ("verdicts", "opt-0", "opt-1", "status", "reproduce", "all-lrs"):
        assert f'id="{section}"' in html
    assert "annealbench run synth --budget quick --out reports" in html  # the command
    assert "ab" * 32 in html  # data checksum
    assert "abc1234" in html  # git commit
    assert "flatters every arm" in html  # adam ran two base LRs: selection on validation is named
    assert "&#34;primary_metric&#34;: &#34;accuracy&#34;" in html or '"primary_metric"' in html


def test_summary_numbers_equal_pandas(page):
    synth, html = page
    records = pd.read_parquet(synth.dir / "records.parquet")
    val, test = expected_finals(records, "val"), expected_finals(records, "test")
    rows = summary_rows(html)
    assert {k[0] for k in rows} == {"sgd", "adam"} and len(rows) == 6
    for (opt, sched), r in rows.items():
        lr = float(r["base LR"]["value"])
        e = val.loc[(opt, sched, lr)]
        shown = r["final val accuracy"]
        assert float(shown["value"]) == pytest.approx(e["mean"], rel=1e-12)
        mean_text, std_text = shown["text"].split("±")
        assert num(mean_text) == pytest.approx(e["mean"], abs=5e-5)
        assert num(std_text) == pytest.approx(e["std"], abs=5e-5)
        assert num(r["final test accuracy"]["text"]) == pytest.approx(
            test.loc[(opt, sched, lr)]["mean"], abs=5e-5)
        n_done = int(e["count"])
        assert r["seeds completed"]["text"].startswith(f"{n_done}/3")
    # the diverged seed of adam/cosine at LR 0.003 steers selection to 0.001
    assert float(rows[("adam", "cosine")]["base LR"]["value"]) == 0.001


def paired_expected(records: pd.DataFrame, opt: str, sched: str, lr: float, c_lr: float) -> pd.Series:
    """Independent of stats/claims: per seed, final val accuracy of the schedule minus the fixed LR,
    over seeds where both runs completed."""
    done = records[(records["status"] == "completed") & (records["metric"] == "accuracy")
                   & (records["split"] == "val") & (records["optimizer"] == opt)]
    last = done[done["epoch"] == done.groupby("run_key", observed=True)["epoch"].transform("max")]

    def arm(s, b):
        return last[(last["schedule"] == s) & (last["base_lr"] == b)].set_index("seed")["value"]

    return (arm(sched, lr) - arm("constant", c_lr)).dropna()


def test_comparison_and_verdict_numbers_equal_pandas_scipy(page):
    from scipy import stats as sps

    synth, html = page
    records = pd.read_parquet(synth.dir / "records.parquet")
    rows = summary_rows(html)
    tables = [t for t in read_tables(html) if "comparisons" in t["cls"]
              and "better final validation" in t["caption"]]
    assert {t["caption"].split(",")[0] for t in tables} == {"sgd", "adam"}
    verdict = next(t for t in read_tables(html) if "verdicts" in t["cls"])
    assert verdict["header"] == ["schedule", "sgd: converges faster", "sgd: better final validation "
                                 "(accuracy)", "adam: converges faster", "adam: better final "
                                 "validation (accuracy)"]
    vrows = {r[0]["text"]: r for r in verdict["rows"]}
    for t in tables:
        opt = t["caption"].split(",")[0]
        c_lr = float(rows[(opt, "constant")]["base LR"]["value"])
        for r in t["rows"]:
            cells = dict(zip(t["header"], r))
            sched = r[0]["text"]
            lr = float(rows[(opt, sched)]["base LR"]["value"])
            d = paired_expected(records, opt, sched, lr, c_lr)
            assert int(cells["pairs"]["text"]) == len(d)
            assert float(cells["Δ mean"]["value"]) == pytest.approx(d.mean(), rel=1e-12)
            if d.std() > 0:
                assert float(cells["t-test p"]["value"]) == pytest.approx(
                    sps.ttest_1samp(d, 0).pvalue, rel=1e-9)
            col = f"{opt}: better final validation (accuracy)"
            vcell = vrows[sched][verdict["header"].index(col)]
            assert float(vcell["value"]) == pytest.approx(d.mean(), rel=1e-12)
            shown, effect = vcell["text"].split("Δ", 1)
            assert shown.strip()[2:] in ("reproduced", "not reproduced", "inconclusive")
            assert cells["verdict and why"]["text"].startswith(shown.strip())
            assert num(effect) == pytest.approx(d.mean(), abs=5e-5)


def test_figures_inline_svg_with_tables(page):
    synth, html = page
    figures = re.findall(r"<figure\b.*?</figure>", html, flags=re.S)
    assert len(figures) == 4 * 2  # four figures per optimizer setting
    for f in figures:
        assert re.search(r"<svg\b", f) and "</svg>" in f
        assert "<img" not in f
    # a numbers table right after every figure
    assert len(re.findall(r"</figure>\s*<div class=\"scroll\">\s*<table", html)) == len(figures)
    # ids are unique across the inline SVGs
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))


def test_self_contained_no_external_resources(page):
    _, html = page
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html.replace("url(#", "")
    assert "<?xml" not in html and "<!DOCTYPE svg" not in html


def test_status_table_lists_diverged_with_step(page):
    synth, html = page
    tables = {t["caption"]: t for t in read_tables(html)}
    div = tables["Diverged runs"]
    key = next(k for k, r in synth.runs.items() if r["status"] == "diverged")
    assert div["rows"][0][0]["text"] == key
    assert div["rows"][0][-1]["text"] == str(2 * synth.steps_per_epoch + 2)
    assert "Failed runs" in tables and "RuntimeError: boom" in html


def test_index_lists_study_with_relative_link(rendered):
    synth, _ = rendered
    html = (synth.dir.parent / "index.html").read_text()
    assert 'href="synth/index.html"' in html
    assert "sgd, better final validation: reproduced for" in html and "http" not in html
    assert "converges faster" in html


def test_untrusted_strings_are_escaped(tmp_path, make_synth):
    evil = "<script>alert(1)</script>"
    s = make_synth(tmp_path / "out", name=evil, dir_name="xss", seeds=(0, 1), epochs=2,
                   description='<img src=x onerror="alert(2)">', special=False)
    collect.write_records(s.dir)
    html = render.render_study(s.dir).read_text()
    index = render.render_index(tmp_path / "out").read_text()
    for text in (html, index):
        assert evil not in text and "<img" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in html.lower()


def test_render_is_deterministic(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, special=False)
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
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, special=False)
    df = collect.write_records(s.dir)
    df = collect.apply_dtypes(df[df["schedule"] != "constant"])
    html = render.render_study(s.dir, records=df).read_text()
    assert "there is no fixed-LR arm" in html
    assert 'class="verdicts"' not in html
    assert len(re.findall(r"<figure\b", html)) == 3 * 2  # no paired figure without a baseline
