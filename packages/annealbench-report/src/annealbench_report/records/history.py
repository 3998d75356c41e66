"""``<out>/history.jsonl``: one summary line per study run, kept across builds and reruns.

A study directory holds only its latest run; the history keeps the verdicts of earlier ones so a
published site shows how results moved. A line is keyed by (study directory, budget, started_at,
git commit), where started_at is when the study's first invocation began (meta.json's
first_started_at): resuming or rebuilding the same study replaces its line instead of adding one.
The file lives beside the study directories, so deleting a study directory to rerun it keeps its past. Writes
hold an exclusive lock and replace the file atomically: two builds at once lose no line.
"""

from __future__ import annotations

import fcntl
import json
from pathlib import Path

from annealbench_report.errors import ReportError
from annealbench_report.records.files import json_objects, write_text_atomic

FILE = "history.jsonl"
LOCK = ".history.lock"
KEY = ("dir", "budget", "started_at", "git_commit")


def key(entry: dict) -> tuple:
    return tuple(str(entry.get(k) or "") for k in KEY)


def load(out_dir) -> list[dict]:
    """Every line of ``<out_dir>/history.jsonl`` (empty when absent)."""
    path = Path(out_dir) / FILE
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: cannot read history ({e})") from None
    return json_objects(path, lines, lambda obj: all(k in obj for k in KEY),
                        f"a history entry (a JSON object with {', '.join(KEY)})")


def record(out_dir, entries: list[dict]) -> list[dict]:
    """Add or replace ``entries`` (by key) and return the whole history, oldest run first."""
    out_dir = Path(out_dir)
    with open(out_dir / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            merged = {key(e): e for e in load(out_dir)}
            for e in entries:
                merged[key(e)] = e
            rows = sorted(merged.values(), key=lambda e: (str(e.get("started_at") or ""), key(e)))
            text = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in rows)
            path = out_dir / FILE
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                write_text_atomic(path, text)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return rows


def for_study(history: list[dict], dir_name: str) -> list[dict]:
    return [e for e in history if e.get("dir") == dir_name]
