"""``<out>/index.html``: first every study's verdict matrix (annealbench_report.pages.index_matrix), all
on the first screen, then the key to them; then each study's answer and its minimum detectable
effects, with a link to its page's forest plot; then the history of each study across builds."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from annealbench_report import __version__
from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.study import Analysis, analyse
from annealbench_report.analysis.verdicts import VERDICTS
from annealbench_report.pages import answer, index_matrix, key, reproduction, reproduction_text
from annealbench_report.pages.cells import cell, fmt_date, table
from annealbench_report.pages.labels import family_label
from annealbench_report.pages.studies import env, records_for, runs_for, study_dirs
from annealbench_report.records import history
from annealbench_report.records.contract import STATUSES
from annealbench_report.records.files import write_text_atomic

# verdict words of earlier report versions, still found in history.jsonl
OLD_VERDICTS = ("not reproduced",)


def _json_num(x):
    return float(x) if x is not None and not pd.isna(x) and math.isfinite(float(x)) else None


def history_entry(study_dir: Path, a: Analysis, runs: pd.DataFrame) -> dict:
    """The line this build adds to ``history.jsonl`` for one study."""
    rows = a.claims.rows
    return {
        "dir": study_dir.name, "study": a.name,
        "budget": str(a.study.get("budget") or a.meta.get("budget") or ""),
        "started_at": a.meta.get("first_started_at") or a.meta.get("started_at"),
        "finished_at": a.meta.get("finished_at"),
        "git_commit": a.meta.get("git_commit"), "epochs": a.full or a.study.get("epochs"),
        "seeds": len(a.study.get("seeds") or []), "primary_metric": a.primary,
        "min_effect": a.min_effect,
        "runs": {s: int((runs["status"].astype(str) == s).sum()) for s in STATUSES},
        "target": _json_num(a.target["value"]) if a.target else None,
        "answer": [s["text"] for s in answer.sentences(a.claims, a.units, a.regime)],
        "verdicts": [{"optimizer": r["optimizer"], "protocol": r["protocol"], "claim": r["claim"],
                      "schedule": r["schedule"], "verdict": r["verdict"],
                      "mean_diff": _json_num(r["mean"]), "ci_lo": _json_num(r["lo"]),
                      "ci_hi": _json_num(r["hi"]), "p_holm": _json_num(r["p_holm"]),
                      "n_pairs": int(r["n_pairs"])} for _, r in rows.iterrows()],
        "mde": [{"optimizer": f["optimizer"], "protocol": f["protocol"], "claim": f["claim"],
                 "mde": _json_num(f["mde"]), "n": int(f["n"])}
                for _, f in a.claims.families.iterrows()],
        "report_version": __version__,
    }


def _family_key(v: dict) -> tuple:
    return v["optimizer"], v.get("protocol", ""), v["claim"]


def _claim_counts(entry: dict) -> dict:
    """{(optimizer, protocol, claim): {verdict: [schedules]}} of a history entry; entries of
    earlier versions have no protocol and may use other verdict words."""
    out = {}
    for v in entry.get("verdicts", []):
        out.setdefault(_family_key(v), {}).setdefault(v["verdict"], []).append(v["schedule"])
    return out


def _count_text(d: dict) -> str:
    words = [w for w in (*VERDICTS, *OLD_VERDICTS) if w in d] + sorted(
        w for w in d if w not in VERDICTS and w not in OLD_VERDICTS)
    return ", ".join(f"{len(d[w])} {w}" + (f" ({', '.join(d[w])})" if w == "reproduced" else "")
                     for w in words)


def _column(key: tuple) -> str:
    opt, protocol, claim = key
    if protocol:
        return family_label(opt, protocol, claim)
    return f"{opt}: {claim_defs.label(claim)} (earlier rules)"


def history_table(entries: list[dict], current: tuple) -> dict:
    """The table of every build of one study, newest first, the current build highlighted;
    one column per family seen in any build, counting its verdict words."""
    keys = []
    for e in entries:
        keys += [k for k in _claim_counts(e) if k not in keys]
    rows = []
    for e in reversed(entries):  # newest first
        counts = _claim_counts(e)
        rows.append({"cls": "best" if history.key(e) == current else "", "cells": [
            cell(fmt_date(e.get("started_at"))), cell(fmt_date(e.get("finished_at"))),
            cell(str(e.get("git_commit") or "–")[:12], cls="mono"), cell(str(e.get("budget") or "–")),
            cell(f"{e.get('seeds', '–')} × {e.get('epochs', '–')}"),
            *[cell(_count_text(counts[k]) if k in counts else "–") for k in keys]]})
    cols = ["run started", "finished", "git commit", "budget", "seeds × epochs",
            *[_column(k) for k in keys]]
    return table(cols, rows, "Every build of this study, newest first (highlighted: the current one)",
                 "history")


def index_entry(i: int, study_dir: Path, analysed: tuple | None = None) -> tuple[dict, dict]:
    """The index row of a study, and its history line; ``analysed``: its (analysis, run table)
    when this build has already made them."""
    if analysed is None:
        df = records_for(study_dir)
        analysed = analyse(study_dir, df), runs_for(study_dir, df)
    a, runs = analysed
    entry = history_entry(study_dir, a, runs)
    mdes = [f"{family_label(f['optimizer'], f['protocol'], f['claim'])}: "
            + (f"{a.units.effect(f['mde'])} (n = {int(f['n'])})" if f["mde"] == f["mde"]
               else "not estimable") for _, f in a.claims.families.iterrows()]
    row = {
        "name": a.name, "dir": study_dir.name, "href": f"{quote(study_dir.name)}/index.html",
        "description": str(a.study.get("description") or ""),
        "date": fmt_date(a.meta.get("finished_at") or a.meta.get("started_at")),
        "budget": entry["budget"] or "–", "counts": entry["runs"],
        "answer": entry["answer"] or [answer.no_answer(a.claims, a.selection is not None)],
        "mde": mdes, "key": history.key(entry), "matrix": index_matrix.matrix(a),
        "scale": key.scale_of(a),
        "reproduction": None,  # render_index's: it knows where the published answers are
    }
    return row, entry


def render_index(out_dir, analysed: dict | None = None, published=None,
                 checks: dict | None = None) -> Path:
    """Write ``<out_dir>/index.html`` listing every study directory with relative links and the
    history of each, after adding this build's line per study to ``<out_dir>/history.jsonl``.
    ``analysed``: what ``study_page.render_study`` left for the studies it rendered in this build;
    ``published``, ``checks``: as there (the reproduction check's headline goes under each study)."""
    out_dir = Path(out_dir)
    analysed = analysed or {}
    pairs = [index_entry(i, d, analysed.get(d.name)) for i, d in enumerate(study_dirs(out_dir))]
    root = reproduction.published_root(published)
    for row, _ in pairs:
        chk = reproduction.index_check(out_dir / row["dir"], analysed.get(row["dir"]), root, checks or {})
        row["reproduction"] = {"kind": chk.kind, "headline": reproduction_text.headline(chk)}
    hist = history.record(out_dir, [e for _, e in pairs])
    entries = []
    scales = list(dict.fromkeys(row["scale"] for row, _ in pairs))
    for row, _ in pairs:
        h = history.for_study(hist, row["dir"])
        entries.append({**row, "history": history_table(h, row["key"]) if len(h) > 1 else None,
                        "n_history": len(h)})
    html = env().get_template("index.html.j2").render(studies=entries, version=__version__,
                                                      statuses=STATUSES,
                                                      legend=index_matrix.legend(),
                                                      key=key.context(scales))
    out = out_dir / "index.html"
    write_text_atomic(out, html, fault="render-write")
    return out
