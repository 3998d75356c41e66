"""The page's wall time is every call's, summed and each shown (a study is often built by several
``annealbench run`` calls into one folder), and its Reproduce command runs from any clone: ``nox
-s reproduce --`` with the recorded study and options, no absolute path."""

from __future__ import annotations

import html as htmlmod
import json
import re
from pathlib import Path

import pytest

from annealbench_report.pages import invocations
from annealbench_report.pages.cells import fmt_duration

ROOT = Path(__file__).resolve().parents[2]
ABSOLUTE = re.compile(r"(?:^|[\s=])(?:/|~|[A-Za-z]:\\)")


def test_wall_time_sums_every_call():
    meta = {"wall_time_s": 2509.81, "started_at": "2026-12-04T22:02:53+00:00",
            "first_started_at": "2026-12-04T19:44:10+00:00",
            "calls": [{"started_at": "2026-12-04T19:44:10+00:00", "wall_time_s": 3909.0},
                      {"started_at": "2026-12-04T22:02:53+00:00", "wall_time_s": 2509.81}]}
    text = invocations.wall_time_text(meta)
    assert text.startswith(fmt_duration(3909.0 + 2509.81) + " in 2 calls")
    assert fmt_duration(3909.0) in text and fmt_duration(2509.81) in text
    assert "1:46:59" in text  # 6418.81 s, by hand


def test_a_call_cut_short_counts_to_its_last_finished_run_and_says_so():
    cut = {"started_at": "2026-12-07T23:00:00+00:00", "finished_at": None, "wall_time_s": 3600.0}
    done = {"started_at": "2026-12-08T09:00:00+00:00", "finished_at": "2026-12-08T09:30:00+00:00",
            "wall_time_s": 1800.0}
    text = invocations.wall_time_text({"calls": [cut, done]})
    assert text.startswith(fmt_duration(5400.0) + " in 2 calls")
    assert text.count("cut short") == 1 and text.index("cut short") < text.index("2026-12-08T09:00")
    assert invocations.wall_time_text({"calls": [cut]}) == fmt_duration(3600.0) + invocations.CUT
    assert "cut short" not in invocations.wall_time_text({"calls": [{"wall_time_s": 5.0}]})  # older lists


def test_one_call_and_an_unrecorded_earlier_one():
    assert invocations.wall_time_text({"wall_time_s": 600.5}) == fmt_duration(600.5)
    assert invocations.wall_time_text({}) == "–"
    older = {"wall_time_s": 2509.81, "started_at": "2026-12-04T22:02:53+00:00",
             "first_started_at": "2026-12-04T19:44:10+00:00"}  # written before calls were listed
    text = invocations.wall_time_text(older)
    assert text.startswith(fmt_duration(2509.81)) and "last call only" in text
    assert "2026-12-04T19:44:10" in text


@pytest.mark.parametrize(("command", "portable"), [
    ("/work/main/.nox/tests/bin/annealbench run cifar10-cnn --budget reference --data-dir /work/abdata"
     " --out /work/refout/judged --progress lines", "nox -s reproduce -- cifar10-cnn --budget reference"),
    ("annealbench run /home/me/my-study.toml --out=/tmp/o --budget short --workers 2 --experiments /x"
     " --dry-run", "nox -s reproduce -- my-study --budget short --workers 2 --dry-run"),
    ("python -m annealbench run smoke --study /srv/s/other.toml -v",
     "nox -s reproduce -- smoke --study other -v"),
    ("annealbench tune shakespeare-lstm --budget reference --data-dir D", "annealbench tune shakespeare-lstm "
     "--budget reference"),
])
def test_portable_command(command, portable):
    assert invocations.portable_command({"command": command}) == portable
    assert not ABSOLUTE.search(invocations.portable_command({"command": command}))


def test_without_a_command_the_study_and_budget():
    assert invocations.portable_command({"study": "smoke", "budget": "quick"}) == \
        "nox -s reproduce -- smoke --budget quick"


def _reproduce(page: str) -> str:
    return htmlmod.unescape(page.split('<section id="reproduce">')[1].split("</pre>")[0].split("<pre>")[1])


def test_the_page_shows_them(rendered):
    synth, page_path = rendered
    page = page_path.read_text()
    meta = json.loads((synth.dir / "meta.json").read_text())
    assert _reproduce(page) == invocations.portable_command(meta)
    assert _reproduce(page).startswith("nox -s reproduce -- ")
    assert f"<dt>wall time</dt><dd>{invocations.wall_time_text(meta)}</dd>" in page


@pytest.mark.parametrize("study", ["cifar10-cnn", "shakespeare-lstm"])
def test_the_published_pages_are_portable_and_count_every_call(study):
    folder = ROOT / "docs" / "results" / study
    page = (folder / "index.html").read_text()
    meta = json.loads((folder / "meta.json").read_text())
    assert _reproduce(page) == f"nox -s reproduce -- {study} --budget reference"
    calls = meta["calls"]
    total = sum(c["wall_time_s"] for c in calls)
    assert htmlmod.escape(fmt_duration(total), quote=False) in page
    if meta["first_started_at"] < meta["started_at"]:  # built by more than one call
        assert len(calls) > 1 and f"in {len(calls)} calls" in page
