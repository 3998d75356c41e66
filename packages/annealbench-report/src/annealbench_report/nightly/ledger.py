"""``<site>/nightly/nights.jsonl``: one line per night (annealbench_report.nightly.night says what a
line holds), oldest first, keyed by the night's id so that closing a night twice replaces its line.
Written atomically: a killed night leaves the previous file whole."""

from __future__ import annotations

import json
from pathlib import Path

from annealbench_report.records.files import json_objects, write_text_atomic

FOLDER = "nightly"
FILE = "nights.jsonl"


def path(site: Path) -> Path:
    return Path(site) / FOLDER / FILE


def load(site: Path) -> list[dict]:
    """Every night on the site, oldest first (empty on the first night)."""
    p = path(site)
    if not p.exists():
        return []
    return json_objects(p, p.read_text(encoding="utf-8").splitlines(), lambda obj: "night" in obj,
                        "a night (a JSON object with 'night')")


def record(site: Path, night: dict) -> list[dict]:
    """Add ``night`` (replacing a line with its id) and return every night, oldest first."""
    nights = [n for n in load(site) if n["night"] != night["night"]] + [night]
    nights.sort(key=lambda n: (str(n.get("started_at") or ""), n["night"]))
    p = path(site)
    p.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(p, "".join(json.dumps(n, sort_keys=True, ensure_ascii=False) + "\n"
                                 for n in nights))
    return nights
