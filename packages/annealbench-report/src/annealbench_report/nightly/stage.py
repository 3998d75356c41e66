"""Staging tonight's studies for the site: each study trained into a work folder becomes
``<site>/<study>/`` holding its thinned records, ``study.json`` and ``meta.json`` (the report then
renders its page and ``verdicts.csv`` from those). The run directories, their checkpoints and the
per-step rows no page reads stay in the work folder: at the ``full`` budget the CNN's raw records
would be about 945,000 rows (about 158 MB as CSV), over what a code host accepts in one file."""

from __future__ import annotations

import shutil
from pathlib import Path

from annealbench_report import thin
from annealbench_report.records import collect
from annealbench_report.records.contract import write_parquet

KEPT = ("study.json", "meta.json")


def stage_study(study_dir: Path, site: Path) -> tuple[Path, int, int]:
    """Replace ``<site>/<name>/`` with the thinned records and study files of ``study_dir``;
    returns (the folder, rows collected, rows kept)."""
    df = collect.collect(study_dir)
    kept = thin.thin(df)
    dest = Path(site) / study_dir.name
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for f in KEPT:
        if (study_dir / f).is_file():  # meta.json is missing when the study stopped early
            shutil.copy2(study_dir / f, dest / f)
    write_parquet(kept, dest / "records.parquet")
    return dest, len(df), len(kept)


def stage(work: Path, site: Path) -> list[tuple[Path, int, int]]:
    """Every study trained under ``work`` (a folder holding ``runs/``), staged into ``site``."""
    return [stage_study(d, site) for d in sorted(Path(work).iterdir())
            if d.is_dir() and collect.has_runs(d)]
