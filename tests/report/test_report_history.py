"""history.jsonl: one line per study run, deduplicated, kept across reruns, shown on the index."""

from __future__ import annotations

import json
import re

import pytest
from html_tables import read_tables

from annealbench_report import ReportError
from annealbench_report.pages import index_page
from annealbench_report.records import collect, history


def _entry(started, commit="abc", **kw):
    return {"dir": "s", "budget": "quick", "started_at": started, "git_commit": commit, **kw}


def test_record_adds_replaces_and_sorts(tmp_path):
    history.record(tmp_path, [_entry("2025-01-02", n=1)])
    history.record(tmp_path, [_entry("2025-01-01", n=2)])
    rows = history.record(tmp_path, [_entry("2025-01-02", n=3)])  # same key: replaced
    assert [(r["started_at"], r["n"]) for r in rows] == [("2025-01-01", 2), ("2025-01-02", 3)]
    assert history.load(tmp_path) == rows
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_corrupt_line_names_the_file_and_line(tmp_path):
    (tmp_path / history.FILE).write_text(json.dumps(_entry("x")) + "\n{oops\n")
    with pytest.raises(ReportError, match=r"history\.jsonl: line 2 is not a history entry") as e:
        history.load(tmp_path)
    assert "\n" not in str(e.value)


def test_index_keeps_earlier_runs(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, curve=(1,), special=False)
    out = s.dir.parent
    collect.write_records(s.dir)
    index_page.render_index(out)
    index_page.render_index(out)  # the same run again: no new line
    assert len(history.load(out)) == 1
    meta = json.loads((s.dir / "meta.json").read_text())
    meta.update(started_at="2025-02-01T00:00:00+00:00", git_commit="def5678")
    (s.dir / "meta.json").write_text(json.dumps(meta))
    html = index_page.render_index(out).read_text()
    rows = history.load(out)
    assert [r["git_commit"] for r in rows] == ["abc1234", "def5678"]
    assert {v["claim"] for v in rows[-1]["verdicts"]} == {"faster", "better"}
    assert {v["protocol"] for v in rows[-1]["verdicts"]} == {"tuned", "article"}
    assert rows[-1]["answer"] and rows[-1]["mde"]
    t = next(t for t in read_tables(html) if "history" in t["cls"])
    assert [r[2]["text"] for r in t["rows"]] == ["def5678", "abc1234"]  # newest first
    assert re.search(r'<tr class="best">(?:(?!</tr>).)*abc1234', html, re.S) is None
    assert re.search(r'<tr class="best">(?:(?!</tr>).)*def5678', html, re.S)  # the current run
    assert "sgd · tuned LR · ahead at shorter budgets (“converges faster”)" in t["header"]


def test_old_entries_with_earlier_verdict_words_stay_readable(tmp_path, make_synth):
    s = make_synth(tmp_path / "out", seeds=(0, 1), epochs=2, curve=(1,), special=False)
    out = s.dir.parent
    collect.write_records(s.dir)
    old = {"dir": s.dir.name, "budget": "quick", "started_at": "2024-01-01T00:00:00+00:00",
           "git_commit": "0ld0ld0", "seeds": 3, "epochs": 6,
           "verdicts": [{"optimizer": "sgd", "schedule": "step", "claim": "better",
                         "verdict": "not reproduced"},
                        {"optimizer": "sgd", "schedule": "cosine", "claim": "better",
                         "verdict": "reproduced"}]}
    (out / history.FILE).write_text(json.dumps(old) + "\n")
    html = index_page.render_index(out).read_text()
    t = next(t for t in read_tables(html) if "history" in t["cls"])
    col = t["header"].index("sgd: better final result (earlier rules)")
    old_row = next(r for r in t["rows"] if r[2]["text"] == "0ld0ld0")
    assert old_row[col]["text"] == "1 reproduced (cosine), 1 not reproduced"
