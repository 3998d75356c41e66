"""One study's analysis, computed once per build and shared by its page and the index.

When study.json lacks a field (an old study, a rebuild from records alone) it is derived: the
curve lengths are the distinct run lengths of the records; min_effect, article LRs and target
are none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from annealbench_report.analysis import claims, protocol, regime, robust, targets
from annealbench_report.analysis.units import Units, units_for
from annealbench_report.errors import ReportError
from annealbench_report.records import collect
from annealbench_report.records.frames import baseline_arm, direction, length_free_arms, sign
from annealbench_report.records.heldout import Outcomes


@dataclass
class Analysis:
    study: dict
    meta: dict
    name: str
    primary: str
    directions: dict
    fixed: str | None
    scheds: list
    opts: list
    lengths: list
    min_effect: float | None
    units: Units
    selection: protocol.Selection | None
    claims: claims.StudyClaims
    target: dict | None
    targets: list = field(default_factory=list)  # targets.TargetResult per optimizer setting
    regime_frame: pd.DataFrame | None = None  # regime.COLUMNS, one row per optimizer setting
    regime: dict = field(default_factory=dict)  # optimizer setting -> its regime sentence
    judged_on: str = "test"  # the held-out split the verdicts are judged on

    @property
    def full(self) -> int:
        return int(self.lengths[-1]) if self.lengths else 0


def _study_meta(study_dir: Path) -> tuple[dict, dict, dict]:
    info = collect.study_info(study_dir)
    cfg = collect.first_config(study_dir) if collect.has_runs(study_dir) else {}
    return info["study"], info["meta"], cfg


def _values(df: pd.DataFrame, col: str) -> set[str]:
    """Distinct values of a column, without a per-row string conversion (millions of rows)."""
    return {str(v) for v in df[col].unique()}


def _orders(study: dict, df: pd.DataFrame, fixed: str | None) -> tuple[list, list]:
    scheds = [str(s) for s in (study.get("schedules") or {})]
    opts = [str(o) for o in (study.get("optimizers") or {})]
    present_s = sorted(_values(df, "schedule"), key=lambda s: (s != fixed, s))
    present_o = sorted(_values(df, "optimizer"))
    scheds = [s for s in scheds if s in present_s] + [s for s in present_s if s not in scheds]
    opts = [o for o in opts if o in present_o] + [o for o in present_o if o not in opts]
    if fixed in scheds:  # the reference first
        scheds.remove(fixed)
        scheds.insert(0, fixed)
    return scheds, opts


def _min_effect(study: dict, where: str) -> float | None:
    v = study.get("min_effect")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ReportError(f"{where}: min_effect must be a positive number (primary-metric units) "
                          f"or absent, not {v!r}")
    return float(v)


SPLITS_JUDGED = ("test", "val")


def judged_on(study: dict, where: str) -> str:
    """The held-out split the verdicts are judged on (study.json ``judged_on``, default test)."""
    v = study.get("judged_on", "test")
    if v not in SPLITS_JUDGED:
        raise ReportError(f"{where}: judged_on must be one of {', '.join(SPLITS_JUDGED)}, not {v!r}")
    return v


def analyse(study_dir: Path, df: pd.DataFrame) -> Analysis:
    """Everything both pages need from one study's files and records."""
    study_dir = Path(study_dir)
    study, meta, cfg = _study_meta(study_dir)
    where = str(study_dir / "study.json")
    primary = str(study.get("primary_metric") or cfg.get("primary_metric") or "loss")
    directions = dict(study.get("metric_directions") or cfg.get("metric_directions") or {})
    name = str(study.get("name") or meta.get("study") or cfg.get("study") or study_dir.name)
    fixed = baseline_arm(df, study) if len(df) else None
    scheds, opts = _orders(study, df, fixed)
    lengths = protocol.curve_lengths(study, df)
    min_effect = _min_effect(study, where)
    sgn = sign(primary, directions)
    test_vals = df.loc[(df["metric"] == primary) & (df["split"] != "train"), "value"] if len(df) \
        else []
    units = units_for(primary, list(test_vals))
    val_metrics = _values(df[df["split"] == "val"], "metric") if len(df) else set()
    target = targets.declared_target(study, primary, val_metrics, where)
    if target is not None:
        target["direction"] = direction(target["metric"], directions)
    if not len(df) or not lengths:
        empty = claims.analyse(protocol.Selection(*(pd.DataFrame(),) * 4, False), study, None,
                               scheds, opts, [], sgn, min_effect)
        return Analysis(study, meta, name, primary, directions, fixed, scheds, opts, lengths,
                        min_effect, units, None, empty, target)
    split = judged_on(study, where)
    pts = protocol.points(df, primary, lengths, length_free_arms(df, study), split)
    sel = protocol.select(pts, study, primary, directions, where)
    c = claims.analyse(sel, study, fixed, scheds, opts, lengths, sgn, min_effect)
    if len(c.rows):
        c.rows = robust.twoway_columns(c.rows, c.seeds, sel.judged, Outcomes.read(study_dir),
                                       primary, sgn, lengths, min_effect, split)
    a = Analysis(study, meta, name, primary, directions, fixed, scheds, opts, lengths, min_effect,
                 units, sel, c, target, judged_on=split)
    a.regime_frame = regime.analyse(df, sel, fixed, opts, lengths[-1],
                                    regime.Metric(primary, directions, units),
                                    regime.declared(study, where))
    a.regime = dict(zip(a.regime_frame["optimizer"], a.regime_frame["sentence"]))
    if target is not None:
        tuned = sel.judged[(sel.judged["protocol"] == protocol.TUNED)
                           & (sel.judged["length"] == lengths[-1])]
        for opt in opts:
            j = tuned[tuned["optimizer"] == opt]
            if len(j):
                a.targets.append(targets.analyse(df[df["optimizer"] == opt], j, target,
                                                 directions, lengths[-1], fixed, scheds, opt))
    return a
