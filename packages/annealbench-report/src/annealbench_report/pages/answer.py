"""The answer on top of a page: one sentence per optimizer setting and claim, generated from the
verdicts and their numbers, never from anything else. Schedules are grouped by verdict; every
decided one carries its Δ with the 95% t-interval, in the metric's units, and the length."""

from __future__ import annotations

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.claims import StudyClaims, family, family_rows
from annealbench_report.analysis.units import Units

INF = float("inf")


def _decided(r, claim: str, u: Units, c: StudyClaims) -> str:
    return claim_defs.get(claim).decided(r, u, c, r["verdict"] in V.SIGNIFICANT_UP)


def protocol_text(c: StudyClaims, opt: str, protocol: str, claim: str, u: Units) -> str | None:
    """The clause of one protocol: decided schedules with their numbers, then the rest."""
    rows = family_rows(c, opt, protocol, claim)
    if rows.empty:
        return None
    if claim_defs.get(claim).clause is not None:
        return claim_defs.get(claim).clause(rows, u, c)
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
        parts.append(f"{claim_defs.names(each)} {verb} within ±{u.effect(c.min_effect)} of the fixed LR "
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
        parts.append(f"{claim_defs.names(inc['schedule'].tolist())} "
                     f"{'is' if len(inc) == 1 else 'are'} inconclusive ({mde_text})")
    return "; ".join(parts)


def sentences(c: StudyClaims, u: Units, regime: dict | None = None) -> list[dict]:
    """[{optimizer, claim, head, body, text}] in page order; ``regime`` (optimizer setting -> its
    sentence, ``Analysis.regime``) opens each setting's answer."""
    out = []
    for opt, protos in c.protocols.items():
        start = len(out)
        for claim, cl in claim_defs.CLAIMS.items():
            clauses = [(label, t) for protocol, label in protos
                       if (t := protocol_text(c, opt, protocol, claim, u))]
            if clauses:
                head = f"{opt}, {cl.label} ({cl.where(c.full, cl.lengths(c.lengths))})"
                body = " ".join(f"{lab[0].upper() + lab[1:]}, {_sentence(t)}" for lab, t in clauses)
            elif cl.missing is not None and not cl.lengths(c.lengths) and not c.rows.empty:
                head = f"{opt}, {cl.label}"
                body = cl.missing(c.full)
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


FINISHED = ("completed", "diverged")  # a diverged run is an outcome the comparison counts


def seeds_note(seeds, run_keys, runs, c: StudyClaims) -> str | None:
    """How many of the study's seeds have every run finished, when not all have (an interrupted
    or still running study), and which seeds the answer then rests on. Each seed trains the same
    runs, so a seed is finished when its share of the planned ``run_keys`` (meta.json) is."""
    seeds, run_keys = list(seeds or []), set(run_keys or [])
    if not seeds or not run_keys or len(run_keys) % len(seeds):
        return None
    per_seed = len(run_keys) // len(seeds)
    done = runs[runs["run_key"].isin(run_keys) & runs["status"].astype(str).isin(FINISHED)]
    n = sum(int((done["seed"] == s).sum()) == per_seed for s in seeds)
    if n == len(seeds):
        return None
    used = int(c.rows["n_pairs"].max()) if "n_pairs" in c.rows and len(c.rows) else 0
    head = f"{n} of {len(seeds)} seeds finished"
    if used <= n:
        return f"{head}; the answer below uses those {n}."
    return (f"{head}; the answer below uses every pair finished so far, up to {used} seeds in a "
            "comparison (n in its tables).")
