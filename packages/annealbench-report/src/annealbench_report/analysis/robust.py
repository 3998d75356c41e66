"""Two more readings of every verdict row, beside the paired t-test over seeds:

- the exact sign-flip permutation p of the per-seed Δ (all 2^n sign patterns for n ≤ 16,
  inference.sign_flip_p), Holm-adjusted within the family; a verdict that the t-test makes
  significant while this Holm p is ≥ 0.05 holds only under the t-test's normality assumption;
- the two-way interval over seeds and held-out examples (analysis.twoway), with its own p, Holm
  and verdict, where the runs kept their per-example outcomes (records.heldout); and the same
  Δ on the other held-out split (``*_other``: validation when the verdicts are judged on test),
  with the two-way p of their difference (``val_test_p``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from annealbench_report.analysis import claim_defs, inference, twoway, verdicts
from annealbench_report.records.heldout import Outcomes

EXACT_COLUMNS = ["p_exact", "p_exact_holm", "normality_only"]
TWOWAY_COLUMNS = ["n_examples", "delta_2way", "lo_2way", "hi_2way", "p_2way", "p_2way_holm",
                  "verdict_2way", "verdicts_differ", "delta_other", "lo_other", "hi_other",
                  "val_test_p", "val_test_disagree"]
FAMILY = ["optimizer", "protocol", "claim"]
SIGNIFICANT = (*verdicts.SIGNIFICANT_UP, *verdicts.SIGNIFICANT_DOWN)


def pair_deltas(seeds: pd.DataFrame) -> np.ndarray:
    return seeds.loc[seeds["outcome"] == "pair", "delta"].to_numpy(float)


def exact_columns(rows: pd.DataFrame, seeds: dict) -> pd.DataFrame:
    """``rows`` (claims.ROW_COLUMNS) with :data:`EXACT_COLUMNS`. ``normality_only`` is set only
    where the paired t-test decided (selection-aware and sign-flip rows already are permutation
    tests)."""
    out = rows.copy()
    out["p_exact"] = [inference.sign_flip_p(pair_deltas(seeds[(r.optimizer, r.protocol, r.claim,
                                                                 r.schedule)]))
                      if (r.optimizer, r.protocol, r.claim, r.schedule) in seeds else math.nan
                      for r in out.itertuples()]
    out["p_exact_holm"] = out.groupby(FAMILY, sort=False)["p_exact"].transform(
        lambda p: pd.Series(inference.holm(p), index=p.index)) if len(out) else []
    out["normality_only"] = (out["verdict"].isin(SIGNIFICANT) & (out["test"] == "t")
                             & ~(out["p_exact_holm"] < inference.ALPHA))
    return out


def _run_keys(judged: pd.DataFrame) -> dict:
    """(optimizer, protocol, schedule, length, seed) -> run key of the judged run."""
    return {(str(o), str(p), str(s), int(b), int(seed)): str(k) for o, p, s, b, seed, k in
            zip(judged["optimizer"], judged["protocol"], judged["schedule"], judged["length"],
                judged["seed"], judged["run_key"])}


def _differences(outcomes: Outcomes, keys: dict, r, lengths: list, seeds: list, split: str,
                 metric: str, sgn: float) -> np.ndarray | None:
    """D[seed, example] of one verdict row on ``split``: sign·(schedule − reference) per example,
    averaged over the claim's lengths; None where a run kept no outcomes."""
    rows = []
    for seed in seeds:
        per_length = []
        for b in lengths:
            own = keys.get((r.optimizer, r.protocol, r.schedule, int(b), int(seed)))
            ref = keys.get((r.optimizer, r.protocol, r.reference, int(b), int(seed)))
            if own is None or ref is None:
                return None
            a = outcomes.metric(own, split, metric, b)
            c = outcomes.metric(ref, split, metric, b)
            if a is None or c is None or a.shape != c.shape:
                return None
            per_length.append(sgn * (a - c))
        rows.append(np.mean(per_length, axis=0))
    if not rows or len({len(x) for x in rows}) != 1:
        return None
    d = np.vstack(rows)
    return d if np.isfinite(d).all() else None


def twoway_columns(rows: pd.DataFrame, seeds: dict, judged: pd.DataFrame, outcomes: Outcomes,
                   metric: str, sgn: float, lengths: list, min_effect: float | None,
                   judged_on: str = "test") -> pd.DataFrame:
    """``rows`` with :data:`TWOWAY_COLUMNS` (NaN, and verdict_2way "", where no per-example
    outcomes were kept). The two-way verdict applies the same rules (verdicts.decide) to the
    two-way p and TOST, Holm-adjusted in the same family; claims with their own verdict words
    get the interval only."""
    out = rows.copy()
    keys = _run_keys(judged) if outcomes and len(judged) else {}
    other = "val" if judged_on == "test" else "test"
    cols = {c: [] for c in (*TWOWAY_COLUMNS, "tost_2way")}
    for r in out.itertuples():
        table = seeds.get((r.optimizer, r.protocol, r.claim, r.schedule))
        pair = [] if table is None else table.loc[table["outcome"] == "pair", "seed"].tolist()
        lens = claim_defs.get(r.claim).lengths(lengths)
        d = _differences(outcomes, keys, r, lens, pair, judged_on, metric, sgn) if keys else None
        v = _differences(outcomes, keys, r, lens, pair, other, metric, sgn) if d is not None else None
        t = twoway.interval(d if d is not None else np.empty((0, 0)))
        cv = twoway.interval(v if v is not None else np.empty((0, 0)))
        diff = twoway.difference(d, v) if v is not None else cv
        cols["n_examples"].append(d.shape[1] if d is not None else 0)
        cols["delta_2way"].append(t["mean"])
        cols["lo_2way"].append(t["lo"])
        cols["hi_2way"].append(t["hi"])
        cols["p_2way"].append(t["p"])
        cols["tost_2way"].append(twoway.tost(d, min_effect) if d is not None and min_effect
                                 else math.nan)
        cols["delta_other"].append(cv["mean"])
        cols["lo_other"].append(cv["lo"])
        cols["hi_other"].append(cv["hi"])
        cols["val_test_p"].append(diff["p"])
    for c in ("n_examples", "delta_2way", "lo_2way", "hi_2way", "p_2way", "tost_2way",
              "delta_other", "lo_other", "hi_other", "val_test_p"):
        out[c] = cols[c]
    if len(out):
        fam = out.groupby(FAMILY, sort=False)
        out["p_2way_holm"] = fam["p_2way"].transform(lambda p: pd.Series(inference.holm(p), index=p.index))
        tost_holm = fam["tost_2way"].transform(lambda p: pd.Series(inference.holm(p), index=p.index))
    else:
        out["p_2way_holm"] = []
        tost_holm = pd.Series([], dtype=float)
    out["verdict_2way"] = [
        _decide(r, th, min_effect) for r, th in zip(out.itertuples(), tost_holm)]
    out["verdicts_differ"] = [bool(v2) and v2 != v for v, v2 in zip(out["verdict"], out["verdict_2way"])]
    out["val_test_disagree"] = out["val_test_p"] < inference.ALPHA
    return out.drop(columns="tost_2way")


def _decide(r, tost_holm: float, min_effect: float | None) -> str:
    if r.n_examples == 0 or claim_defs.get(r.claim).judge is not None:
        return ""
    return verdicts.decide(int(r.n_pairs), r.delta_2way, r.p_2way_holm, tost_holm,
                           int(r.own_diverged), int(r.ref_diverged), r.sign_p, min_effect)[0]
