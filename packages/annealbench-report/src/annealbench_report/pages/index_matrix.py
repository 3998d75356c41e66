"""The verdict matrix of a study on the index: a row per schedule, a column per optimizer setting,
protocol and claim, each cell the verdict word and its Δ, the interval and Holm p in its tooltip.
Colour is never the only key: each verdict also has its mark (✔ ✘ = ? !) and its word, so the
legend reads in greyscale too."""

from __future__ import annotations

from markupsafe import Markup

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.claims import family_rows
from annealbench_report.analysis.study import Analysis
from annealbench_report.pages.labels import PROTOCOL_SHORT, VERDICT_CLASS, VERDICT_MARK, verdict_families


def legend() -> list[dict]:
    """The matrix legend: one dict (CSS class, mark, word) per verdict word, in verdict order."""
    return [{"cls": VERDICT_CLASS[v], "mark": VERDICT_MARK[v], "word": v} for v in V.VERDICTS]


def _regime(a: Analysis, opt: str) -> str | None:
    """The training-regime sentence of an optimizer setting, when the analysis supplies one."""
    regime = getattr(a, "regime", None)  # filled by the training-regime analysis when present
    if isinstance(regime, dict):
        return regime.get(opt) or None
    return regime if isinstance(regime, str) and regime else None


def matrix(a: Analysis) -> dict | None:
    """Header (MDE and regime per optimizer setting), column labels, and rows of cells."""
    fams = verdict_families(a)
    if not fams:
        return None
    cols = [{"opt": o, "label": f"{PROTOCOL_SHORT[p]} · {claim_defs.get(c).short}"} for o, p, c in fams]
    mdes = []
    for _, f in a.claims.families.iterrows():
        if (f["optimizer"], f["protocol"], f["claim"]) in fams:
            mde = a.units.effect(f["mde"]) if f["mde"] == f["mde"] else "not estimable"
            mdes.append(f"{f['optimizer']} · {PROTOCOL_SHORT[f['protocol']]} · "
                        f"{claim_defs.get(f['claim']).short}: {mde}")
    opts = list(dict.fromkeys(o for o, _, _ in fams))
    groups = [{"opt": o, "span": sum(c["opt"] == o for c in cols), "regime": _regime(a, o)}
              for o in opts]
    rows = []
    for s in [s for s in a.scheds if s != a.fixed]:
        cells = []
        for key in fams:
            m = family_rows(a.claims, *key)
            m = m[m["schedule"] == s]
            if not len(m):
                cells.append(None)
                continue
            r = m.iloc[0]
            v = r["verdict"]
            tip = (f"{s} vs {a.fixed}, {key[0]} · {PROTOCOL_SHORT[key[1]]} · {claim_defs.get(key[2]).label}: "
                   f"Δ {a.units.effect(r['mean'], True)}, 95% interval "
                   f"{a.units.interval(r['lo'], r['hi'], True)}, Holm p {r['p_holm']:.3g}, "
                   f"{int(r['n_pairs'])} paired seeds")
            cells.append({"cls": VERDICT_CLASS[v], "mark": VERDICT_MARK[v], "word": v,
                          "delta": a.units.num(r["mean"], True), "title": tip,
                          "interval": a.units.interval(r["lo"], r["hi"], True),
                          "value": float(r["mean"])})
        if any(cells):
            rows.append({"schedule": s, "cells": cells})
    return {"cols": cols, "groups": groups, "rows": rows, "mdes": mdes, "unit": a.units.unit,
            "fixed": a.fixed, "mde_text": Markup("; ").join(mdes)}
