"""Per-seed outcomes of one schedule against the fixed LR, under one protocol, for one claim.

Each judged seed is one of:
- a pair: both runs completed with a value; Δ_s = sign·(schedule − fixed), > 0 = schedule better;
- discordant: exactly one of the two diverged (counted per arm, decided by the sign test);
- both diverged: dropped, and listed;
- left out: a run is unfinished, failed or missing (no information about the seed).

Claims:
- ``better``: at the full length E, Δ_s of the judged (test) values.
- ``faster``: the mean over the curve lengths B < E of the Δ_s at B: ahead at equal training
  budget, i.e. reaches any given quality sooner. A run that diverged at any of those lengths
  makes the seed discordant for its arm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DONE = ("completed", "diverged")
SEED_COLUMNS = ["seed", "outcome", "delta", "own_lr", "ref_lr", "own", "ref"]


def _at(judged: pd.DataFrame, schedule: str, length: int) -> pd.DataFrame:
    j = judged[(judged["schedule"] == schedule) & (judged["length"] == length)]
    return j.set_index("seed")


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


def per_seed(judged: pd.DataFrame, schedule: str, fixed: str, lengths: list[int], sgn: float,
             ref_length: int | None = None) -> pd.DataFrame:
    """One row per seed: the outcome over ``lengths`` (the mean Δ where every length is a pair).
    ``ref_length``: compare the schedule at each length with the fixed LR at this one length
    instead of at the same length (the budget curve's "matches the full-length fixed LR")."""
    own = {b: _at(judged, schedule, b) for b in lengths}
    ref = {b: _at(judged, fixed, ref_length or b) for b in lengths}
    seeds = sorted(set().union(*[set(own[b].index) | set(ref[b].index) for b in lengths]))
    rows = []
    for s in seeds:
        outs, ds = [], []
        for b in lengths:
            o, r = own[b], ref[b]
            so = str(o["status"].get(s, "missing"))
            sr = str(r["status"].get(s, "missing"))
            out, d = _outcome(so, sr, o["value"].get(s, np.nan), r["value"].get(s, np.nan), sgn)
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
        rows.append({"seed": s, "outcome": outcome,
                     "delta": float(np.mean(ds)) if outcome == "pair" else np.nan,
                     "own_lr": own[full]["base_lr"].get(s, np.nan),
                     "ref_lr": ref[full]["base_lr"].get(s, np.nan),
                     "own": own[full]["value"].get(s, np.nan),
                     "ref": ref[full]["value"].get(s, np.nan)})
    return pd.DataFrame(rows, columns=SEED_COLUMNS)


def counts(seeds: pd.DataFrame) -> dict:
    """How many seeds fell in each outcome, and which seeds both arms diverged in."""
    o = seeds["outcome"]
    return {"n_pairs": int((o == "pair").sum()),
            "own_diverged": int((o == "schedule diverged").sum()),
            "ref_diverged": int((o == "fixed LR diverged").sum()),
            "both_diverged": [int(s) for s in seeds.loc[o == "both diverged", "seed"]],
            "left_out": [int(s) for s in seeds.loc[o == "left out", "seed"]]}
