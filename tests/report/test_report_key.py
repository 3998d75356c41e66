"""One key under every table of verdicts: the study page, the index and ``summary.md`` (which the
README quotes) carry the same words for Δ's sign in each unit, Holm p, MDE, the regime, "at a
plateau" and every verdict word; a lower-is-better metric says that Δ > 0 means lower."""

from __future__ import annotations

import html as htmlmod
from types import SimpleNamespace

from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.units import units_for
from annealbench_report.pages import key


def _scale(metric, directions=None):
    return key.scale_of(SimpleNamespace(units=units_for(metric, [0.5]), primary=metric,
                                        directions=directions or {}))


def test_the_sign_of_delta_follows_the_metric_direction():
    bpc, acc = _scale("bpc"), _scale("accuracy")
    assert not bpc.higher_is_better and acc.higher_is_better
    assert "lower is better, so Δ > 0 means the schedule's bpc is lower" in bpc.sign_text()
    assert "higher is better, so Δ > 0 means the schedule's accuracy is higher" in acc.sign_text()
    assert "in points" in acc.sign_text()  # accuracy's Δ is written in points
    # a study may declare its own direction
    assert _scale("bpc", {"bpc": "max"}).higher_is_better
    delta = dict(key.terms([acc, bpc]))["Δ"]
    assert acc.sign_text() in delta and bpc.sign_text() in delta
    assert key.scales([SimpleNamespace(units=units_for("bpc"), primary="bpc", directions={})] * 2) \
        == [bpc]


def test_every_term_and_verdict_word_is_explained():
    terms = dict(key.terms([_scale("accuracy")]))
    assert list(terms) == ["Δ", "Holm p", "MDE", "regime", "at a plateau"]
    assert [v["word"] for v in key.verdicts()] == list(V.VERDICTS)
    assert all(v["text"] for v in key.verdicts())
    md = key.markdown([_scale("accuracy")])
    assert all(f"**{t}**: {text}." in md for t, text in terms.items())
    assert all(f"**{w}**" in md for w in V.VERDICTS)


def _key_text(page_html: str) -> str:
    block = page_html.split('<div class="legend caption" id="key">')[1].split("</div>")[0]
    return htmlmod.unescape(block)


def test_the_same_key_is_on_every_page_and_in_summary_md(synth):
    from annealbench_report.cli import build

    build(synth.dir.parent)
    page_path = synth.dir / "index.html"
    scale = [key.scale_of(SimpleNamespace(units=units_for("accuracy", [0.5]), primary="accuracy",
                                          directions={}))]
    index_html = (synth.dir.parent / "index.html").read_text()
    for page in (page_path.read_text(), index_html):
        text = _key_text(page)
        for term, meaning in key.terms(scale):
            assert meaning in text, term
        for v in key.verdicts():
            assert v["word"] in text and v["text"] in text
    # the index's old legend, wrong for lower-is-better metrics, is gone
    assert "&gt; 0 = schedule better" not in index_html
    summary = (synth.dir.parent / "summary.md").read_text()
    assert summary.endswith(key.markdown(scale))
