"""``<site>/nightly/index.html``: the nights, newest first (a failed night marked, with what
failed, and the versions it ran with), throughput and each headline Δ per night, and every
verdict change between consecutive nights."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from annealbench_report import __version__
from annealbench_report.nightly import charts
from annealbench_report.nightly.alerts import verdict_changes
from annealbench_report.nightly.archive import KEEP_FULL
from annealbench_report.nightly.slowdown import ALPHA, FACTOR, WINDOW
from annealbench_report.pages.cells import cell, table
from annealbench_report.pages.studies import env
from annealbench_report.records.files import write_text_atomic

VERSIONS = ("torch", "cuda", "cudnn", "driver", "gpu")


def _ci(v: dict) -> str:
    if v.get("delta") is None:
        return "–"
    ci = f" [{v['lo']:+.4g}, {v['hi']:+.4g}]" if v.get("lo") is not None else ""
    return f"{v['delta']:+.4g}{ci}"


def nights_table(nights: list[dict]) -> dict:
    rows = []
    for n in reversed(nights):
        failed = n.get("status") == "failed"
        v = n.get("versions") or {}
        rows.append({"cls": "failed" if failed else "", "cells": [
            cell(n["night"], cls="mono"), cell(str(n.get("git_commit") or "–")[:12], cls="mono"),
            cell("FAILED" if failed else "passed", cls="bad" if failed else ""),
            cell("; ".join(n.get("failures") or []) or "–"),
            *[cell(str(v.get(k) if v.get(k) is not None else "–")) for k in VERSIONS]]})
    return table(["night", "commit", "status", "what failed", *VERSIONS], rows,
                 "Every night, newest first", "nights")


def changes_table(nights: list[dict]) -> dict:
    rows = []
    for i in range(len(nights) - 1, 0, -1):
        for key, was_night, was, now in verdict_changes(nights[i], nights[:i]):
            rows.append({"cls": "", "cells": [
                cell(nights[i]["night"], cls="mono"), cell(" / ".join(key)),
                cell(f"{was['verdict']} → {now['verdict']}"),
                cell(f"{_ci(was)} (night {was_night})"), cell(_ci(now))]})
    return table(["night", "study / optimizer / protocol / claim / schedule", "verdict",
                  "before: Δ [95%]", "then: Δ [95%]"], rows,
                 "Verdict changes between nights, newest first", "changes")


def _markup(svg: str | None) -> Markup | None:
    return Markup(svg) if svg else None  # our own matplotlib output: every label passed mpl_text


def render(site: Path, nights: list[dict]) -> Path:
    html = env().get_template("nightly.html.j2").render(
        version=__version__, nights=nights_table(nights), changes=changes_table(nights),
        latest=nights[-1] if nights else None, throughput=_markup(charts.throughput_figure(nights)),
        deltas=_markup(charts.delta_figure(nights)), factor=FACTOR, alpha=ALPHA, window=WINDOW,
        keep_full=KEEP_FULL, figure_nights=charts.NIGHTS)
    out = Path(site) / "nightly" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, html, fault="render-write")
    return out
