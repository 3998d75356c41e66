"""Whether an alternative to annealing (study.json ``arms``, role "alternative": weight averaging,
a short cooldown, a schedule-free optimizer, ...) recovers annealing's gain: an equivalence test
(TOST, paired over seeds, margin = the study's min_effect) of the alternative against the best
annealed arm at the full length. Absent where the study declares no alternative."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from annealbench_report.analysis import inference
from annealbench_report.analysis.claim_defs import Claim, names, register
from annealbench_report.analysis.inference import ALPHA
from annealbench_report.analysis.pairs import counts, per_seed

RECOVERS = "recovers"
FALLS_SHORT = "falls short"
INCONCLUSIVE = "inconclusive"
ALTERNATIVE, ANNEAL = "alternative", "anneal"


def _roles(study: dict) -> dict:
    return {str(k): str((v or {}).get("role") or "") for k, v in (study.get("arms") or {}).items()}


def alternatives(study: dict, present: list) -> list:
    """The alternatives of ``present`` (schedules with judged runs), in their order."""
    roles = _roles(study)
    return [s for s in present if roles.get(s) == ALTERNATIVE]


def best_anneal(j, study: dict, fixed: str, full: int, sgn: float) -> str | None:
    """The annealed arm (role "anneal", not the baseline) with the best mean judged value at
    ``full`` over its completed seeds; ties to the first name. None without one."""
    roles = _roles(study)
    best, score = None, -math.inf
    for s in sorted(k for k, r in roles.items() if r == ANNEAL and k != fixed):
        vals = [v for st, v, _ in j.at(s, full).values() if st == "completed" and math.isfinite(v)]
        if vals and sgn * float(np.mean(vals)) > score:
            best, score = s, sgn * float(np.mean(vals))
    return best


def decide(n_pairs: int, hi: float, tost_holm: float, own_diverged: int,
           min_effect: float | None) -> tuple[str, str]:
    """(verdict, reason): "recovers" where the Holm-adjusted TOST p < ALPHA (the 90% t-interval
    of Δ inside ±min_effect); "falls short" where the 95% t-interval lies wholly below
    −min_effect; "inconclusive" otherwise (no margin, fewer than 2 pairs, divergence)."""
    if own_diverged:
        return INCONCLUSIVE, f"the alternative diverged alone in {own_diverged} seed(s)"
    if not min_effect:
        return INCONCLUSIVE, "no min_effect declared: equivalence cannot be tested"
    if n_pairs < 2:
        return INCONCLUSIVE, f"{n_pairs} paired seed{'s' if n_pairs != 1 else ''}: no test"
    if math.isfinite(tost_holm) and tost_holm < ALPHA:
        return RECOVERS, f"TOST Holm p = {tost_holm:.3g} < {ALPHA:g}: inside ±min_effect"
    if math.isfinite(hi) and hi < -min_effect:
        return FALLS_SHORT, f"95% t-interval wholly below −min_effect {min_effect:g}"
    return INCONCLUSIVE, f"TOST Holm p = {tost_holm:.3g} ≥ {ALPHA:g}"


def judge(cmp, f) -> tuple[pd.DataFrame, dict, dict]:
    """The family of ``f`` (claims.FamilyInput: the alternatives as ``scheds``), each paired with
    the best annealed arm: rows as claims.ROW_COLUMNS, the family line, per-seed tables."""
    opt, protocol, claim = f.key
    full = f.lengths[-1]
    ref = best_anneal(f.j, cmp.study, cmp.fixed, full, cmp.sgn)
    rows, seeds_out = [], {}
    for s in f.scheds if ref is not None else []:
        seeds = per_seed(f.j, s, ref, [full], cmp.sgn)
        seeds_out[(*f.key, s)] = seeds
        c = counts(seeds)
        d = seeds.loc[seeds["outcome"] == "pair", "delta"]
        t = inference.paired_test(d)
        rows.append({"optimizer": opt, "protocol": protocol, "claim": claim, "schedule": s, **c,
                     "n_pairs": t["n"], "mean": t["mean"], "std": t["std"], "lo": t["lo"],
                     "hi": t["hi"], "p": t["p"], "test": t["test"],
                     "tost_p": inference.tost(d, cmp.min_effect), "sign_p": math.nan,
                     "lrs": "/".join(f"{x:g}" for x in sorted(set(seeds["own_lr"].dropna()))) or "–",
                     "edge": f.edges.get(s, False), "reference": ref})
    fam = pd.DataFrame(rows)
    if len(fam):
        fam["p_holm"] = inference.holm(fam["p"])
        fam["tost_holm"] = inference.holm(fam["tost_p"]) if cmp.min_effect else np.nan
        decided = [decide(r.n_pairs, r.hi, r.tost_holm, r.own_diverged, cmp.min_effect)
                   for r in fam.itertuples()]
        fam["verdict"] = [v for v, _ in decided]
        fam["reason"] = [why for _, why in decided]
    line = {"optimizer": opt, "protocol": protocol, "claim": claim, "m": len(rows),
            "n": int(fam["n_pairs"].min()) if len(fam) else 0, "sd": math.nan, "crit": math.nan,
            "mde": math.nan, "warnings": []}
    return fam, line, seeds_out


def clause(rows: pd.DataFrame, u, c) -> str:
    """The answer's clause: which alternatives recover annealing's gain and which do not."""
    ref = str(rows["reference"].iloc[0])
    parts = []
    rec = rows[rows["verdict"] == RECOVERS]
    if len(rec):
        each = [f"{r['schedule']} (Δ {u.effect(r['mean'], True)} {u.interval(r['lo'], r['hi'], True)})"
                for _, r in rec.iterrows()]
        parts.append(f"{names(each)} {'recovers' if len(rec) == 1 else 'recover'} annealing's gain: "
                     f"within ±{u.effect(c.min_effect)} of {ref}, the best annealed arm")
    for _, r in rows[rows["verdict"] == FALLS_SHORT].iterrows():
        parts.append(f"{r['schedule']} falls short of {ref} by {u.effect(-r['mean'])} "
                     f"{u.interval(-r['hi'], -r['lo'])}")
    inc = rows[rows["verdict"] == INCONCLUSIVE]
    if len(inc):
        parts.append(f"{names(inc['schedule'].tolist())} {'is' if len(inc) == 1 else 'are'} "
                     f"inconclusive against {ref} ("
                     + "; ".join(f"{r['schedule']}: {r['reason']}" for _, r in inc.iterrows()) + ")")
    return "; ".join(parts)


RECOVERS_CLAIM = register(Claim(
    name="recovers",
    label="recovers annealing's gain",
    short="recovers annealing",
    summary_label="recovers annealing's gain",
    rule=("for each alternative to annealing, at the full length E, per seed Δ = sign·(test metric "
          "of the alternative − test metric of the best annealed arm), the best being the "
          "annealed arm with the highest mean test value at E on the judged seeds. Choosing the "
          "best on the judged seeds is conservative for a claim of equivalence: it favours the "
          "annealed arm, so an alternative called equivalent is equivalent to a reference at "
          "least as strong. Verdicts: “recovers” where the Holm-adjusted TOST p < "
          f"{ALPHA:g} (the 90% t-interval of Δ inside ±min_effect); “falls short” where the 95% "
          "t-interval lies wholly below −min_effect; “inconclusive” otherwise. The intervals are "
          "paired t-intervals (no selection-aware version)."),
    title_suffix=" (vs the best annealed arm, at {full} epochs)",
    measured="test {primary} at {full} epochs, against the best annealed arm",
    lengths=lambda lengths: list(lengths[-1:]),
    where=lambda full, _: f"at {full} epochs, against the best annealed arm",
    decided=None,
    versus="best annealed arm",
    members=alternatives,
    judge=judge,
    clause=clause,
    verdict_like={RECOVERS: "no meaningful difference", FALLS_SHORT: "reversed"},
    markers={RECOVERS: {"color": "#009E73", "marker": "P", "fill": True},
             FALLS_SHORT: {"color": "#D55E00", "marker": "d", "fill": False}},
))
