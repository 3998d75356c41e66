"""The answer on top of a page: one sentence per optimizer setting and claim, generated from the
verdicts and their numbers, never from anything else. Schedules are grouped by verdict; every
decided one carries its Δ with the 95% t-interval, in the metric's units, and the length."""

from __future__ import annotations

from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.claims import StudyClaims, family, family_rows
from annealbench_report.analysis.units import Units

INF = float("inf")


def _names(xs: list[str]) -> str:
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def _lengths_text(c: StudyClaims) -> str:
    short = [b for b in c.lengths if b < c.full]
    return f"{_names([str(b) for b in short])} of {c.full} epochs"


def _against(t, r, up: bool) -> list[int]:
    """Shorter lengths whose 95% t-interval of Δ_B lies wholly on the other side of 0 from the
    verdict: a curve average must not be worded as "ahead" while one of them is behind."""
    if t is None:
        return []
    short = t[t["length"] < t["length"].max()]
    bad = short["delta_hi"] < 0 if up else short["delta_lo"] > 0
    return [int(b) for b in short.loc[bad, "length"]]


def _decided(r, claim: str, u: Units, c: StudyClaims) -> str:
    up = r["verdict"] in V.SIGNIFICANT_UP
    size = r["mean"] if up else -r["mean"]
    lo, hi = (r["lo"], r["hi"]) if up else (-r["hi"], -r["lo"])
    amount = f"{u.effect(size)} {u.interval(lo, hi)}"
    word = f" ({r['verdict']})"
    if claim == "better":
        return (f"{r['schedule']} beats the fixed LR by {amount}" if up
                else f"{r['schedule']} loses to the fixed LR by {amount}") + word
    key = (r["optimizer"], r["protocol"], r["schedule"])
    t = c.curves.get(key)
    against = _against(t, r, up)
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


def protocol_text(c: StudyClaims, opt: str, protocol: str, claim: str, u: Units) -> str | None:
    """The clause of one protocol: decided schedules with their numbers, then the rest."""
    rows = family_rows(c, opt, protocol, claim)
    if rows.empty:
        return None
    fam = family(c, opt, protocol, claim) or {}
    if (rows["n_pairs"] < 2).all() and (rows["verdict"] == V.INCONCLUSIVE).all():
        n = int(rows["n_pairs"].max())
        return f"no test is possible yet: {n} paired seed{'s' if n != 1 else ''}, a test needs 2"
    mde = fam.get("mde", float("nan"))
    mde_text = (f"MDE {u.effect(mde)} at {fam.get('n')} seeds" if mde == mde and mde != INF
                else f"no MDE: with {fam.get('n')} seeds the selection-aware test cannot reach "
                     f"Holm's threshold, whatever the effect" if mde == INF
                else "MDE not estimable: the paired differences do not vary")
    parts = []
    for verdict in (*V.SIGNIFICANT_UP, *V.SIGNIFICANT_DOWN):
        parts += [_decided(r, claim, u, c) for _, r in rows[rows["verdict"] == verdict].iterrows()]
    eq = rows[rows["verdict"] == V.NO_DIFFERENCE]
    if len(eq):
        each = [f"{r['schedule']} ({u.effect(r['mean'], True)} {u.interval(r['lo'], r['hi'], True)})"
                for _, r in eq.iterrows()]
        verb = "is" if len(eq) == 1 else "are"
        parts.append(f"{_names(each)} {verb} within ±{u.effect(c.min_effect)} of the fixed LR "
                     "(no meaningful difference)")
    un = rows[rows["verdict"] == V.UNSTABLE]
    for _, r in un.iterrows():
        parts.append(f"{r['schedule']} is unstable (diverged alone in {r['own_diverged']} seed(s), "
                     f"the fixed LR in {r['ref_diverged']})")
    inc = rows[rows["verdict"] == V.INCONCLUSIVE]
    if not parts:
        # not "no difference": an inconclusive test bounds nothing below the MDE
        return f"no schedule is told apart from the fixed LR: all are inconclusive ({mde_text})"
    if len(inc):
        parts.append(f"{_names(inc['schedule'].tolist())} "
                     f"{'is' if len(inc) == 1 else 'are'} inconclusive ({mde_text})")
    return "; ".join(parts)


def sentences(c: StudyClaims, u: Units, regime: dict | None = None) -> list[dict]:
    """[{optimizer, claim, head, body, text}] in page order; ``regime`` (optimizer setting -> its
    sentence, ``Analysis.regime``) opens each setting's answer."""
    out = []
    short = [b for b in c.lengths if b < c.full]
    for opt, protos in c.protocols.items():
        start = len(out)
        for claim in ("better", "faster"):
            clauses = [(label, t) for protocol, label in protos
                       if (t := protocol_text(c, opt, protocol, claim, u))]
            if clauses:
                where = (f"at {c.full} epochs" if claim == "better"
                         else f"mean over {_lengths_text(c)}")
                head = f"{opt}, {V.CLAIMS[claim]} ({where})"
                body = " ".join(f"{lab[0].upper() + lab[1:]}, {_sentence(t)}" for lab, t in clauses)
            elif claim == "faster" and not short and not c.rows.empty:
                head = f"{opt}, {V.CLAIMS[claim]}"
                body = (f"No verdict: the study trains no budget-curve length below the full "
                        f"{c.full} epochs, so there is no curve to read it from.")
            else:
                continue
            out.append({"optimizer": opt, "claim": claim, "head": head, "body": body,
                        "text": f"{head}: {body}"})
        if len(out) > start and (regime or {}).get(opt):  # no answer, no regime to qualify it
            head = f"{opt}, training regime (fixed LR at {c.full} epochs)"
            out.insert(start, {"optimizer": opt, "claim": "regime", "head": head,
                               "body": regime[opt], "text": f"{head}: {regime[opt]}"})
    return out


def _sentence(text: str) -> str:
    return text if text.endswith(".") else text + "."


def no_answer(c: StudyClaims, has_records: bool) -> str:
    """Why there is no answer yet."""
    if not has_records:
        return "No completed runs yet: nothing to compare."
    if c.fixed is None:
        return "No comparison possible: there is no fixed-LR arm (a schedule of type 'constant')."
    return "No comparison possible yet: no schedule besides the fixed LR has judged runs."
