"""``<site>/archive/<night>/``: what each night published, and the retention that bounds the site.

A night's archive holds, per study, its page, ``verdicts.csv``, its thinned records,
``study.json`` and ``meta.json`` (never run directories or per-step rows beyond those the page
reads), plus ``night.json`` (its line of nights.jsonl) and, when it raised any, ``alerts.md``.

Retention: the last ``KEEP_FULL`` nights keep their whole archive; an older night keeps its
summary only (``night.json``, ``alerts.md`` and each study's ``verdicts.csv``). A full night at the
``full`` budget is about 3 MB and a summary about 12 kB, so after a year the archive is about
45 MB (tests/report/test_nightly_archive.py simulates 365 nights).

``oversized`` is the publishing limit: no site file over ``MAX_FILE_BYTES`` (the code host refuses
files over 100 MB and warns above 50 MB).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from annealbench_report.records.files import write_text_atomic

FOLDER = "archive"
KEEP_FULL = 14  # two weeks: the nights the throughput rule's window reads
STUDY_FILES = ("index.html", "verdicts.csv", "records.parquet", "study.json", "meta.json")
SUMMARY_FILES = ("night.json", "alerts.md", "verdicts.csv")
MAX_FILE_BYTES = 50 * 1000 * 1000


def archive_night(site: Path, night: dict, studies: list[str], alerts_md: str | None) -> Path:
    """Copy tonight's published study files under ``<site>/archive/<night>/`` (replacing an
    archive of the same night) and write its ``night.json`` and ``alerts.md``."""
    dest = Path(site) / FOLDER / night["night"]
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in studies:
        src = Path(site) / name
        for f in STUDY_FILES:
            if (src / f).is_file():
                (dest / name).mkdir(exist_ok=True)
                shutil.copy2(src / f, dest / name / f)
    write_text_atomic(dest / "night.json", json.dumps(night, indent=1, sort_keys=True,
                                                       ensure_ascii=False) + "\n")
    if alerts_md:
        write_text_atomic(dest / "alerts.md", alerts_md)
    return dest


def nights(site: Path) -> list[Path]:
    """The archived nights, oldest first (night ids begin with their UTC time)."""
    root = Path(site) / FOLDER
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def apply_retention(site: Path, keep_full: int = KEEP_FULL) -> list[Path]:
    """Cut every night but the last ``keep_full`` to its summary; returns the nights cut."""
    cut = []
    for night in nights(site)[:-keep_full] if keep_full else nights(site):
        removed = False
        # bottom-up, files before their folders; os.walk, not pathlib: every night reads every
        # older one, which pathlib's globbing made seconds a night after a year of them
        for folder, _, files in os.walk(night, topdown=False):
            for name in files:
                if name not in SUMMARY_FILES:
                    os.unlink(os.path.join(folder, name))
                    removed = True
            if folder != str(night) and not os.listdir(folder):
                os.rmdir(folder)
        if removed:
            cut.append(night)
    return cut


def oversized(site: Path, limit: int | None = None) -> list[tuple[Path, int]]:
    """Files under ``site`` (its .git aside) over ``limit`` bytes (default ``MAX_FILE_BYTES``),
    largest first."""
    limit = MAX_FILE_BYTES if limit is None else limit
    big = [(p, p.stat().st_size) for p in Path(site).rglob("*")
           if p.is_file() and ".git" not in p.relative_to(site).parts and p.stat().st_size > limit]
    return sorted(big, key=lambda x: -x[1])


def total_bytes(site: Path) -> int:
    return sum(p.stat().st_size for p in Path(site).rglob("*")
               if p.is_file() and ".git" not in p.relative_to(site).parts)
