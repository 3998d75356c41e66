"""Static HTML: one self-contained page per study.

Pages carry their CSS inline and their figures as inline SVG; they load nothing (no script, no
font, no image, no stylesheet from anywhere), so they open offline, archive as one file and print.
Jinja2 autoescaping is on: every string from a spec, a config or the records is escaped. The page
reads top to bottom: the answer, the forest plot, the budget curves, the verdicts with their
rules, then the details.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from annealbench_report import __version__
from annealbench_report.analysis.study import Analysis, analyse
from annealbench_report.figures.style import schedule_styles
from annealbench_report.pages import answer, invocations, key, reproduction, reproduction_text, verdicts_csv
from annealbench_report.pages.cells import fmt_date
from annealbench_report.pages.detail import optimizer_section
from annealbench_report.pages.status import all_lrs_table, environment_rows, status_section, train_seconds
from annealbench_report.pages.studies import env, records_for, runs_for
from annealbench_report.pages.tables import target_text
from annealbench_report.pages.top import top_context
from annealbench_report.records.files import write_text_atomic
from annealbench_report.records.frames import direction


def study_context(study_dir: Path, df: pd.DataFrame, a: Analysis, runs: pd.DataFrame) -> dict:
    """Every template variable of ``study.html.j2`` for one study."""
    study = a.study
    meta = a.meta
    styles = schedule_styles(a.scheds, a.fixed)
    has = bool(len(df)) and a.selection is not None
    secs = [optimizer_section(i, df, a, opt, styles) for i, opt in enumerate(a.opts)
            if has and (a.selection.judged["optimizer"] == opt).any()]
    return {
        "name": a.name,
        "dir_name": study_dir.name,
        "description": str(study.get("description") or ""),
        "notes": str(study.get("notes") or ""),
        "budget": str(study.get("budget") or meta.get("budget") or "–"),
        "date": fmt_date(meta.get("finished_at") or meta.get("started_at")),
        "model": str(study.get("model") or "–"),
        "dataset": str(study.get("dataset") or "–"),
        "epochs": a.full or study.get("epochs", "–"),
        "lengths": ", ".join(str(b) for b in a.lengths) or "–",
        "seeds": ", ".join(str(s) for s in study.get("seeds", [])) or "–",
        "primary": a.primary,
        "direction": direction(a.primary, a.directions),
        "baseline": a.fixed,
        "has_records": bool(len(df)),
        **top_context(a, styles, bool(len(df))),
        "target": target_text(a),
        "sections": secs,
        "all_lrs": all_lrs_table(a.selection, a.opts, a.scheds, a.primary, a.units) if has else None,
        "status": status_section(runs, df),
        "seeds_note": answer.seeds_note(study.get("seeds"), meta.get("run_keys"), runs, a.claims),
        "command": invocations.portable_command(meta),
        "study_json": json.dumps(study, indent=2, ensure_ascii=False) if study else "(no study.json)",
        "environment": environment_rows(meta),
        "checksums": sorted((str(k), str(v)) for k, v in (meta.get("data_checksums") or {}).items()),
        "wall_time": invocations.wall_time_text(meta),
        "train_seconds": train_seconds(df),
        "spec": {"file": meta.get("spec_file") or study.get("file"),
                 "sha256": meta.get("spec_sha256") or study.get("spec_sha256")},
        "version": __version__,
        "n_records": int(len(df)),
        "key": key.context([key.scale_of(a)]),
    }


def render_study(study_dir, records: pd.DataFrame | None = None, analysed: dict | None = None,
                 published=None, checks: dict | None = None) -> Path:
    """Write ``<study_dir>/index.html`` and ``verdicts.csv`` beside it (atomically) and return
    the page's path.

    ``records``: the tidy frame; by default ``records.parquet`` when present, else collected.
    ``analysed``: if given, the study's (analysis, run table) is left in it under the folder name,
    so that the index in the same build does not recompute every statistic.
    ``published``: the folder of published study folders (default: the clone's docs/results,
    pages.reproduction); ``checks``: if given, the study's reproduction check is left in it."""
    study_dir = Path(study_dir)
    df = records_for(study_dir) if records is None else records
    a = analyse(study_dir, df)
    runs = runs_for(study_dir, df)
    if analysed is not None:
        analysed[study_dir.name] = (a, runs)
    chk = reproduction.check(study_dir, df, a, reproduction.published_root(published))
    if checks is not None:
        checks[study_dir.name] = chk
    html = env().get_template("study.html.j2").render(**study_context(study_dir, df, a, runs),
                                                      reproduction=reproduction_text.context(chk, a.units))
    out = study_dir / "index.html"
    write_text_atomic(out, html, fault="render-write")
    verdicts_csv.write(study_dir, a)  # from the same analysis the page was rendered from
    return out
