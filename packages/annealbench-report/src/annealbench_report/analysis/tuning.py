"""The tuning file's choices as study.json carries them (``"tuning"``: null for in-study selection,
else the content of ``<study>.<judged budget>.tuning.json`` plus ``"file"``).

The base LRs were chosen on tuning seeds that no judged budget trains, before the judged runs:
per (optimizer setting, schedule, curve length) the LR with the best mean validation value of the
primary metric at epoch B over the tuning seeds. This module only reads and checks that entry;
:mod:`protocol` judges each arm at its chosen LR on every judged seed.
"""

from __future__ import annotations

import math

from annealbench_report.errors import ReportError

Key = tuple[str, str, int]


def _num(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def read(study: dict, where: str) -> dict | None:
    """The normalised tuning entry of study.json, or None (in-study selection). A malformed entry
    is one :class:`ReportError` line naming the file, the field, the value and what is allowed."""
    t = study.get("tuning")
    if t is None:
        return None
    if not isinstance(t, dict):
        raise ReportError(f"{where}: tuning must be null or an object (a tuning file's content), "
                          f"not {t!r}")
    seeds = t.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ReportError(f"{where}: tuning.seeds must be a non-empty list of integers, not "
                          f"{seeds!r}")
    choices = t.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ReportError(f"{where}: tuning.choices must be a non-empty list, not {choices!r}")
    out: dict[Key, dict] = {}
    for i, c in enumerate(choices):
        field = f"tuning.choices[{i}]"
        if not isinstance(c, dict):
            raise ReportError(f"{where}: {field} must be an object, not {c!r}")
        for k in ("optimizer", "schedule"):
            if not isinstance(c.get(k), str):
                raise ReportError(f"{where}: {field}.{k} must be a string, not {c.get(k)!r}")
        if isinstance(c.get("length"), bool) or not isinstance(c.get("length"), int) \
                or c["length"] < 1:
            raise ReportError(f"{where}: {field}.length must be a positive integer, not "
                              f"{c.get('length')!r}")
        if not _num(c.get("base_lr")) or c["base_lr"] <= 0:
            raise ReportError(f"{where}: {field}.base_lr must be a positive number, not "
                              f"{c.get('base_lr')!r}")
        by_lr = c.get("by_lr") or []
        if not isinstance(by_lr, list) or not all(
                isinstance(r, dict) and _num(r.get("base_lr")) for r in by_lr):
            raise ReportError(f"{where}: {field}.by_lr must be a list of {{base_lr, val_mean, n}}, "
                              f"not {by_lr!r}")
        key = (c["optimizer"], c["schedule"], int(c["length"]))
        if key in out:
            raise ReportError(f"{where}: {field} repeats (optimizer, schedule, length) {key!r}; "
                              "allowed: one choice each")
        out[key] = {"base_lr": float(c["base_lr"]), "edge": bool(c.get("edge", False)),
                    "by_lr": sorted(({"base_lr": float(r["base_lr"]),
                                      "val_mean": float(r["val_mean"]) if _num(r.get("val_mean"))
                                      else math.nan, "n": int(r.get("n") or 0)} for r in by_lr),
                                    key=lambda r: r["base_lr"])}
    return {"file": str(t.get("file") or "?"), "seeds": sorted(int(s) for s in seeds),
            "tuning_budget": str(t.get("tuning_budget") or "?"),
            "judged_budget": str(t.get("judged_budget") or "?"),
            "commit": str(t.get("commit") or "?"), "date": str(t.get("date") or "?"),
            "spec_sha256": str(t.get("spec_sha256") or ""), "choices": out}


def choice_row(opt: str, sched: str, length: int, c: dict) -> dict:
    """One row of ``Selection.choices`` from a tuning-file choice."""
    grid = [r["base_lr"] for r in c["by_lr"]] or [c["base_lr"]]
    return {"optimizer": opt, "schedule": sched, "length": length, "chosen_lr": c["base_lr"],
            "n_lrs": len(grid), "edge": c["edge"], "lr_min": min(grid), "lr_max": max(grid)}


def seeds_text(seeds) -> str:
    return " ".join(str(int(s)) for s in seeds)
