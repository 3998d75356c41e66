"""The article's second claim: the annealed schedule converges faster, read as being ahead of the
fixed LR on average over the budget-curve lengths below the full one, each trained to its length."""

from __future__ import annotations

from annealbench_report.analysis.claim_defs import Claim, names, register


def _against(t, up: bool) -> list[int]:
    """Shorter lengths whose 95% t-interval of Δ_B lies wholly on the other side of 0 from the
    verdict: a curve average must not be worded as "ahead" while one of them is behind."""
    if t is None:
        return []
    short = t[t["length"] < t["length"].max()]
    bad = short["delta_hi"] < 0 if up else short["delta_lo"] > 0
    return [int(b) for b in short.loc[bad, "length"]]


def _decided(r, u, c, up: bool) -> str:
    size = r["mean"] if up else -r["mean"]
    lo, hi = (r["lo"], r["hi"]) if up else (-r["hi"], -r["lo"])
    amount = f"{u.effect(size)} {u.interval(lo, hi)}"
    word = f" ({r['verdict']})"
    key = (r["optimizer"], r["protocol"], r["schedule"])
    t = c.curves.get(key)
    against = _against(t, up)
    if against:
        b = against[0]
        x = t[t["length"] == b].iloc[0]
        side = "behind" if up else "ahead of"
        return (f"{r['schedule']}'s mean Δ over the shorter lengths is "
                f"{u.effect(r['mean'], True)} {u.interval(r['lo'], r['hi'], True)}{word}, but it "
                f"is {side} the fixed LR at {b} epochs by {u.effect(abs(x['delta']))} "
                f"(Δ {u.interval(x['delta_lo'], x['delta_hi'], True)})")
    text = (f"{r['schedule']} is ahead of the fixed LR on average over the shorter lengths (equal "
            f"training budget at each) by {amount}" if up else
            f"{r['schedule']} is behind the fixed LR on average over the shorter lengths (equal "
            f"training budget at each) by {amount}")
    m = c.matches.get(key)
    if up and m and m["established"] is not None and m["established"] < c.full and t is not None:
        g = t[t["length"] == m["established"]].iloc[0]
        text += (f" and matches its {c.full}-epoch result from {m['established']} epochs on "
                 f"(gap there {u.effect(g['gap'], True)} {u.interval(g['gap_lo'], g['gap_hi'], True)})")
    return text + word


FASTER = register(Claim(
    name="faster",
    label="ahead at shorter budgets (“converges faster”)",
    short="faster",
    summary_label="faster (shorter budgets)",
    rule=("per seed, the mean over the budget-curve lengths B < E of sign·(schedule at B − "
          "fixed LR at B), each run trained and annealed to B: ahead on average over those "
          "lengths at equal training budget. It is an average: it does not say that every "
          "length is ahead, so the answer names any shorter length whose own 95% t-interval "
          "is wholly behind and then does not call the schedule ahead."),
    title_suffix=" (mean over shorter budgets)",
    measured="mean over the shorter lengths of test {primary} at that length",
    lengths=lambda lengths: [b for b in lengths if b < lengths[-1]],
    where=lambda full, lens: f"mean over {names(lens)} of {full} epochs",
    decided=_decided,
    missing=lambda full: (f"No verdict: the study trains no budget-curve length below the full "
                          f"{full} epochs, so there is no curve to read it from."),
    missing_note=lambda full: (f"The budget curve has no length below the full {full} epochs, so "
                               "there is no verdict on “converges faster” (a study declares the "
                               "lengths in [study] budget_curve)."),
))
