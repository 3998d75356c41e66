"""What the study page and the index both read: the study folders under an output folder, each
study's records and run table, and the Jinja environment both pages render with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from annealbench_report.pages.cells import fmt, fmt_duration, fmt_lr
from annealbench_report.records import collect
from annealbench_report.records.contract import read_records
from annealbench_report.records.frames import runs_from_records


def env() -> Environment:
    """The Jinja environment both pages render with: templates from the package's templates/,
    autoescaping on, undefined names an error, and the number filters."""
    e = Environment(loader=PackageLoader("annealbench_report", "templates"),
                    autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                    undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    e.filters["num"] = fmt
    e.filters["lr"] = fmt_lr
    e.filters["duration"] = fmt_duration
    return e


def study_dirs(out_dir) -> list[Path]:
    """Study output directories under ``out_dir``, sorted by name: those holding ``runs/``, or
    only ``records.parquet`` (a study kept without its run directories)."""
    out_dir = Path(out_dir)
    return sorted(p for p in out_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / "runs").is_dir() or (p / "records.parquet").is_file()))


def records_for(study_dir: Path) -> pd.DataFrame:
    """A study's tidy records: ``records.parquet`` when present, else collected from runs/."""
    p = study_dir / "records.parquet"
    return read_records(p) if p.exists() else collect.collect(study_dir)


def runs_for(study_dir: Path, df: pd.DataFrame) -> pd.DataFrame:
    """Run statuses from runs/ (also sees runs with no epoch yet), else from the records."""
    return collect.runs(study_dir) if collect.has_runs(study_dir) else runs_from_records(df)
