"""The reproduction check of a study page and the index: this run against the published answer.

Where the published answer lives: ``--published DIR`` (a folder of study folders, as
``docs/results``), else the repository's ``docs/results`` when this package runs from a clone of
it. A study's published folder is ``<that folder>/<study folder name>``, so a copied or renamed
study has none. The comparison is annealbench_report.analysis.reproduction (runs, value for value)
and analysis.claim_agreement (claims, and the rule for a machine that computes differently); the
words are pages.reproduction_text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

import annealbench_report
from annealbench_report.analysis import claim_agreement
from annealbench_report.analysis.reproduction import RunsComparison, compare_runs
from annealbench_report.analysis.study import Analysis, analyse
from annealbench_report.errors import ReportError
from annealbench_report.pages import verdicts_csv
from annealbench_report.pages.studies import records_for
from annealbench_report.records.contract import read_records

PUBLISHED_FILES = ("records.parquet", "verdicts.csv", "study.json")
NONE, SELF, COMPARED = "none", "self", "compared"


@dataclass
class Check:
    """One study's reproduction check. ``kind``: NONE (no published answer; ``where`` says
    where it was looked for), SELF (the study folder is the published one) or COMPARED.
    ``where``: the published folder as the page names it (:func:`shown`)."""

    kind: str
    where: str
    published: Path | None = None
    runs: RunsComparison | None = None
    claims: pd.DataFrame | None = None
    budget_published: str = ""
    budget_here: str = ""

    @property
    def same_budget(self) -> bool:
        return self.budget_published == self.budget_here

    @property
    def consistent(self) -> bool | None:
        return None if self.claims is None else claim_agreement.consistent(self.claims)


def clone_root() -> Path | None:
    """The root of the repository this package's source sits in, when it is a clone."""
    pkg = Path(annealbench_report.__file__).resolve().parent
    root = pkg.parents[3]
    if (root / "packages" / "annealbench-report" / "src" / pkg.name) != pkg or not (
            root / ".git").exists():
        return None
    return root


def clone_results() -> Path | None:
    """``docs/results`` of the repository this package's source sits in, when it is a clone."""
    root = clone_root()
    results = root / "docs" / "results" if root else None
    return results if results and results.is_dir() else None


def shown(folder: Path) -> str:
    """``folder`` as a published page names it: relative to the repository's root when inside
    the clone (docs/results/NAME), else its name only; never a path of the machine that built
    the page."""
    root = clone_root()
    folder = Path(folder).resolve()
    if root is not None and folder.is_relative_to(root):
        return folder.relative_to(root).as_posix()
    return folder.name


def published_root(option) -> Path | None:
    """The folder of published study folders: ``option`` (``--published``) when given, which
    must exist, else :func:`clone_results`."""
    if option is None:
        return clone_results()
    root = Path(option)
    if not root.is_dir():
        raise ReportError(f"--published {root}: no such directory (give a folder of published "
                          "study folders, such as the repository's docs/results)")
    return root


def _read_published(d: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    missing = [f for f in PUBLISHED_FILES if not (d / f).is_file()]
    if missing:
        raise ReportError(f"{d / missing[0]}: missing; a published study folder holds "
                          f"{', '.join(PUBLISHED_FILES)}")
    try:
        verdicts = pd.read_csv(d / "verdicts.csv")
        study = json.loads((d / "study.json").read_text(encoding="utf-8"))
    except (ValueError, OSError) as e:
        raise ReportError(f"{d}: cannot read the published verdicts.csv or study.json "
                          f"({' '.join(str(e).split())[:160]})") from None
    lacking = [c for c in (*claim_agreement.CLAIM_KEY, *claim_agreement.VALUES)
               if c not in verdicts.columns]
    if lacking:
        raise ReportError(f"{d / 'verdicts.csv'}: lacks column {lacking[0]}; allowed: a "
                          "verdicts.csv as annealbench-report writes it")
    return read_records(d / "records.parquet"), verdicts, study


def check(study_dir: Path, df: pd.DataFrame | None, a: Analysis | None, root: Path | None) -> Check:
    """Compare the study in ``study_dir`` (its records ``df``, its analysis ``a``; None: read and
    made here, only where there is a published folder) with its published folder under ``root``."""
    if root is None:
        return Check(NONE, "")
    pub = Path(root) / Path(study_dir).name
    if not (pub / "records.parquet").is_file():
        return Check(NONE, shown(pub))
    if pub.resolve() == Path(study_dir).resolve():
        return Check(SELF, shown(pub), pub)
    records, verdicts, study = _read_published(pub)
    df = records_for(study_dir) if df is None else df
    a = analyse(study_dir, df) if a is None else a
    here = verdicts_csv.frame(a)
    return Check(COMPARED, shown(pub), pub, compare_runs(records, df),
                 claim_agreement.compare_claims(verdicts, here),
                 str(study.get("budget") or ""), str(a.study.get("budget") or ""))


def index_check(study_dir: Path, analysed: tuple | None, root: Path | None, checks: dict) -> Check:
    """The check the study page of this build made, else one made now (for a study the build did
    not render)."""
    if study_dir.name in checks:
        return checks[study_dir.name]
    return check(study_dir, None, analysed[0] if analysed else None, root)
