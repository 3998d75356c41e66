"""The README and docs/ agree with the code and with each other: the README stays a page a newcomer
reads to the end, every link resolves, and the figures stated in docs are the corpus's own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# pages other branches add (cuda: devices.md; tuning-train: tuning.md), linked from the index now
PENDING = {"docs/devices.md", "docs/tuning.md"}
ORDER = ["Quick start", "The answer in brief", "Your own model in brief", "The commands",
         "Guarantees", "Documentation", "Layout"]


def _links(md: Path) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)]+)\)", md.read_text()) if "://" not in t]


def test_readme_is_short_and_in_the_issue_order():
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    heads = re.findall(r"^## (.+)$", text, flags=re.M)
    assert heads == ORDER


def test_every_relative_link_resolves():
    for md in [README, *sorted(DOCS.glob("*.md"))]:
        for target in _links(md):
            path = (md.parent / target.split("#")[0]).resolve()
            rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
            assert path.exists() or rel in PENDING, f"{md.name}: {target}"


def test_docs_index_lists_every_page():
    listed = {t.split("#")[0] for t in _links(README) if t.startswith("docs/")}
    assert {f"docs/{p.name}" for p in DOCS.glob("*.md")} <= listed


def test_bad_spec_count_is_the_corpus():
    stated = re.findall(r"Each of the (\d+) malformed studies", (DOCS / "guarantees.md").read_text())
    corpus = sorted((ROOT / "tests" / "reliability" / "bad_specs").glob("*.toml"))
    assert stated == [str(len(corpus))]


def test_fault_points_are_the_code():
    from annealbench import faults

    text = (DOCS / "guarantees.md").read_text()
    para = text[text.index("**Fault injection.**"):]
    stated = set(re.findall(r"`([a-z]+-[a-z]+)`", para)) - {"annealbench-report"}  # a package
    in_code = set(re.findall(r"``([a-z]+-[a-z]+)``", Path(faults.__file__).read_text()))
    assert stated == in_code


REFERENCE = re.compile(r"<!-- reference:start -->\n(.*?)<!-- reference:end -->\n", re.S)


def test_the_numbers_live_in_one_place():
    """The README states no measured figure of its own: results, timings and counts are in docs/.
    Its one table of figures is the reference build's summary.md, copied verbatim; any other
    figure (what `nox -s reproduce` takes) is quoted from docs/results.md."""
    text = README.read_text()
    block = REFERENCE.search(text)
    assert block, "the README's reference table (between reference:start/end markers) is missing"
    assert block[1] == (DOCS / "results" / "summary.md").read_text()
    rest = REFERENCE.sub("", text)
    results = (DOCS / "results.md").read_text()
    figures = re.findall(r"\d[\d,]*(?:\.\d+)? ?(?:points|bpc|min|s\b|seeds)", rest)
    assert [f for f in figures if f not in results] == []


def test_the_readme_table_has_the_pages_key():
    """Under the table, the key every page carries (annealbench_report.pages.key): for bpc, lower
    is better and Δ > 0 means the schedule's bpc is lower."""
    block = REFERENCE.search(README.read_text())[1]
    key = block[block.index("\nKey:\n"):]
    assert "bpc: lower is better, so Δ > 0 means the schedule's bpc is lower" in key
    assert "higher is better, so Δ > 0 means the schedule's accuracy is higher" in key
    for term in ("**Holm p**", "**MDE**", "**regime**", "**at a plateau**", "**inconclusive**"):
        assert term in key


def test_the_reference_pages_are_committed_and_small():
    """docs/results/: every study's page, verdicts.csv and records; no file over 2 MB, all under
    10 MB, the figure under 200 KB (issue 15)."""
    folder = DOCS / "results"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert all(p.stat().st_size <= 2_000_000 for p in files)
    assert sum(p.stat().st_size for p in files) <= 10_000_000
    assert (folder / "forest.png").stat().st_size <= 200_000
    studies = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert {"cifar10-cnn", "shakespeare-lstm"} <= set(studies)
    for study in studies:
        for name in ("index.html", "verdicts.csv", "records.parquet", "study.json"):
            assert (folder / study / name).is_file(), f"docs/results/{study}/{name}"


def test_record_columns_are_the_code():
    from annealbench_report.records.contract import COLUMNS

    text = (DOCS / "design.md").read_text()
    section = text[text.index("## Tidy records"):]
    listed = re.search(r"Columns:\s*`([^`]+)`", section)[1]
    assert [c.strip() for c in listed.split(",")] == list(COLUMNS)
