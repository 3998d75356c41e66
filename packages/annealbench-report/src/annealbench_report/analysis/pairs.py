"""Per-seed outcomes of one schedule against the fixed LR, under one protocol, for one claim.

Each judged seed is one of:
- a pair: both runs completed with a value; Δ_s = sign·(schedule − fixed), > 0 = schedule better;
- discordant: exactly one of the two diverged (counted per arm, decided by the sign test);
- both diverged: dropped, and listed;
- left out: a run is unfinished, failed or missing (no information about the seed).

Claims:
- ``better``: at the full length E, Δ_s of the judged (test) values.
- ``faster``: the mean over the curve lengths B < E of the Δ_s at B: ahead on average at equal
  training budget (an average: one length may still be behind). A run that diverged at any of those lengths
  makes the seed discordant for its arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DONE = ("completed", "diverged")
SEED_COLUMNS = ["seed", "outcome", "delta", "own_lr", "ref_lr", "own", "ref"]


class Judged:
    """The judged rows of one optimizer setting and protocol, looked up by (schedule, length)
    and seed without a pandas selection per lookup (a study makes thousands)."""

    def __init__(self, judged: pd.DataFrame):
        self.cells = {}
        for k, b, s, st, v, lr in zip(judged["schedule"], judged["length"], judged["seed"],
                                      judged["status"], judged["value"], judged["base_lr"]):
            self.cells.setdefault((str(k), int(b)), {})[int(s)] = (str(st), float(v), float(lr))

    def at(self, schedule: str, length: int) -> dict:
        return self.cells.get((schedule, int(length)), {})


MISSING = ("missing", np.nan, np.nan)


def _outcome(so: str, sr: str, vo: float, vr: float, sgn: float):
    """(outcome, Δ) of one seed at one length."""
    if so not in DONE or sr not in DONE:
        return "left out", np.nan
    if so == "diverged" and sr == "diverged":
        return "both diverged", np.nan
    if so == "diverged":
        return "schedule diverged", np.nan
    if sr == "diverged":
        return "fixed LR diverged", np.nan
    d = sgn * (vo - vr)
    return ("pair", d) if np.isfinite(d) else ("left out", np.nan)


def per_seed(judged, schedule: str, fixed: str, lengths: list[int], sgn: float,
             ref_length: int | None = None) -> pd.DataFrame:
    """One row per seed: the outcome over ``lengths`` (the mean Δ where every length is a pair).
    ``judged``: the judged rows of one optimizer setting and protocol (a frame or
    :class:`Judged`). ``ref_length``: compare the schedule at each length with the fixed LR at
    this one length instead of at the same length (the budget curve's "matches the full-length
    fixed LR")."""
    j = judged if isinstance(judged, Judged) else Judged(judged)
    own = {b: j.at(schedule, b) for b in lengths}
    ref = {b: j.at(fixed, ref_length or b) for b in lengths}
    seeds = sorted(set().union(*[set(own[b]) | set(ref[b]) for b in lengths]))
    rows = []
    for s in seeds:
        outs = []
        ds = []
        for b in lengths:
            so, vo, _ = own[b].get(s, MISSING)
            sr, vr, _ = ref[b].get(s, MISSING)
            out, d = _outcome(so, sr, vo, vr, sgn)
            outs.append(out)
            ds.append(d)
        own_div = any(x in ("schedule diverged", "both diverged") for x in outs)
        ref_div = any(x in ("fixed LR diverged", "both diverged") for x in outs)
        if own_div and ref_div:
            outcome = "both diverged"
        elif own_div:
            outcome = "schedule diverged"
        elif ref_div:
            outcome = "fixed LR diverged"
        elif all(x == "pair" for x in outs):
            outcome = "pair"
        else:
            outcome = "left out"
        full = lengths[-1]
        _, vo, lo = own[full].get(s, MISSING)
        _, vr, lr = ref[full].get(s, MISSING)
        rows.append({"seed": s, "outcome": outcome,
                     "delta": float(np.mean(ds)) if outcome == "pair" else np.nan,
                     "own_lr": lo, "ref_lr": lr, "own": vo, "ref": vr})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def counts(seeds: pd.DataFrame) -> dict:
    """How many seeds fell in each outcome, and which seeds both arms diverged in."""
    o = seeds["outcome"]
    return {"n_pairs": int((o == "pair").sum()),
            "own_diverged": int((o == "schedule diverged").sum()),
            "ref_diverged": int((o == "fixed LR diverged").sum()),
            "both_diverged": [int(s) for s in seeds.loc[o == "both diverged", "seed"]],
            "left_out": [int(s) for s in seeds.loc[o == "left out", "seed"]]}
