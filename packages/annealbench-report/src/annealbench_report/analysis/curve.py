"""The budget curve: each schedule annealed to every length B, against the fixed LR.

Descriptive readings (the verdict on "faster" is the curve average of :mod:`pairs`):
- Δ_B: paired by seed, sign·(schedule(B) − fixed LR(B)), with its 95% t-interval;
- g_B: paired by seed, sign·(schedule(B) − fixed LR(E)): how far the schedule trained for B is
  from the fixed LR's full-length result. With δ = min_effect (0 if none declared), the schedule
  *matches* the fixed LR's full-length result at B* = the smallest B whose mean g_B ≥ −δ; that is
  *plausible* from the smallest B whose upper 95% bound reaches −δ and *established* at the
  smallest B whose lower bound does. These are read from per-length 95% intervals, not from a
  simultaneous band over all lengths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from annealbench_report.analysis import inference
from annealbench_report.analysis.pairs import Judged, per_seed

CURVE_COLUMNS = ["length", "n", "delta", "delta_lo", "delta_hi", "gap_n", "gap", "gap_lo", "gap_hi"]


def curve_table(judged: pd.DataFrame, schedule: str, fixed: str, lengths: list[int],
                sgn: float) -> pd.DataFrame:
    """Δ_B and g_B with their 95% t-intervals at every length (``judged``: one optimizer setting
    and protocol)."""
    full = lengths[-1]
    judged = judged if isinstance(judged, Judged) else Judged(judged)
    rows = []
    for b in lengths:
        same = per_seed(judged, schedule, fixed, [b], sgn)
        gap = per_seed(judged, schedule, fixed, [b], sgn, ref_length=full)
        d = inference.t_interval(same.loc[same["outcome"] == "pair", "delta"])
        g = inference.t_interval(gap.loc[gap["outcome"] == "pair", "delta"])
        rows.append({"length": b, "n": d["n"], "delta": d["mean"], "delta_lo": d["lo"],
                     "delta_hi": d["hi"], "gap_n": g["n"], "gap": g["mean"], "gap_lo": g["lo"],
                     "gap_hi": g["hi"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def matches(table: pd.DataFrame, min_effect: float | None) -> dict:
    """B*, and the lengths from which matching the fixed LR's full-length result is plausible and
    established (None: not within the budget)."""
    floor = -(min_effect or 0.0)

    def first(col):
        hit = table.loc[np.isfinite(table[col]) & (table[col] >= floor), "length"]
        return int(hit.min()) if len(hit) else None

    return {"b_star": first("gap"), "plausible": first("gap_hi"), "established": first("gap_lo"),
            "floor": floor}


def arm_curve(judged: pd.DataFrame, schedule: str, lengths: list[int]) -> pd.DataFrame:
    """Mean judged (test) value of one schedule at each length, over completed seeds, with its
    95% t-interval and the number of seeds."""
    rows = []
    for b in lengths:
        j = judged[(judged["schedule"] == schedule) & (judged["length"] == b)]
        t = inference.t_interval(j.loc[j["status"] == "completed", "value"])
        rows.append({"schedule": schedule, "length": b, "n": t["n"], "mean": t["mean"],
                     "lo": t["lo"], "hi": t["hi"]})
    return pd.DataFrame(rows, columns=["schedule", "length", "n", "mean", "lo", "hi"])
