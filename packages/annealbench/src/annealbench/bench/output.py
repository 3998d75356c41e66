"""What ``annealbench bench`` writes besides its JSON: the rows of history.csv, which the nightly
job keeps across commits, and the one line per measure it prints."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from annealbench.store import atomic_write_bytes

HISTORY = ["time", "git_commit", "device", "device_name", "measure", "baseline", "candidate",
           "ratio", "target", "met", "dataset"]


def append_history(path: Path, rows: list[list]) -> None:
    """Append to history.csv; a file from before the dataset column gets it (empty: unknown), so
    a synthetic night and a CIFAR-10 night never read as one series."""
    if path.exists():
        with open(path, newline="") as f:
            old = list(csv.reader(f))
        if old and old[0] != HISTORY:
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(HISTORY)
            w.writerows([dict(zip(old[0], r)).get(k, "") for k in HISTORY] for r in old[1:])
            atomic_write_bytes(path, buf.getvalue().encode())
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(HISTORY)
        w.writerows(rows)


def history_rows(result: dict) -> list[list]:
    """One history.csv row per measure taken (a measure this build or device cannot take has no
    ratio and no row)."""
    return [[result["time"], result["git_commit"], result["device"], result["device_name"],
             name, m["baseline"], m["candidate"], m["ratio"], m["target"], m["met"],
             m.get("dataset", result["dataset"])]
            for name, m in result["measures"].items() if "ratio" in m]


def add_samples(measures: dict, repetitions: dict[str, list[tuple[float, float]]]) -> None:
    """Each repetition's (baseline, candidate) of a measure, kept under its ``samples``: the nightly
    history judges throughput on them (annealbench_report.nightly.slowdown), not on the median."""
    for name, pairs in repetitions.items():
        measures[name]["samples"] = {"baseline": [b for b, _ in pairs], "candidate": [c for _, c in pairs]}


def line(m: dict) -> str:
    """A measure as printed: baseline, candidate, ratio, and its target or why it has none."""
    if "ratio" not in m:
        return f"not measured: {m['why']}"
    nums = "".join(f"{k} {m[k]:>14,.3f} " for k in ("baseline", "candidate") if m[k] is not None)
    verdict = m.get("no_target") or "reported" if m["target"] is None else \
        f"target {m['target']}: {'met' if m['met'] else 'NOT met'}"
    diff = m.get("difference")
    extra = f" difference {diff['mean']:+.4f} [{diff['lo']:+.4f}, {diff['hi']:+.4f}]" \
        if diff else ""
    return f"{nums}{m['unit']:6s} ratio {m['ratio']:.3f}{extra} ({verdict})"
