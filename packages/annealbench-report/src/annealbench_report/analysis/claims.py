"""The article's two claims, tested per optimizer setting, protocol and schedule against the
fixed LR: paired tests, Holm per family, TOST, verdicts, minimum detectable effect per family,
and the budget curve behind "faster".

A family is (optimizer setting, protocol, claim): the schedules compared with the fixed LR there.
Where the base LRs were chosen inside the judged data (in-study, leave-one-seed-out), p-values,
intervals and the MDE come from :mod:`selection_test`, which re-runs the selection under every
within-seed swap of the two arms; elsewhere (a tuning file, the article's LR) the pairs are
independent and the paired t-test holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from annealbench_report.analysis import claim_defs, curve, inference, robust, selection_test, verdicts
from annealbench_report.analysis.pairs import Judged, counts, per_seed
from annealbench_report.analysis.protocol import ARTICLE, TUNED, Selection, article_lrs

ROW_COLUMNS = ["optimizer", "protocol", "claim", "schedule", "n_pairs", "mean", "std", "lo", "hi",
               "p", "test", "p_holm", "tost_p", "tost_holm", "own_diverged", "ref_diverged",
               "both_diverged", "left_out", "sign_p", "verdict", "reason", "lrs", "edge",
               "reference"]  # reference: the arm Δ is taken against
FAMILY_COLUMNS = ["optimizer", "protocol", "claim", "m", "n", "sd", "crit", "mde", "warnings"]


@dataclass
class StudyClaims:
    """Everything the pages show about the claims of one study."""

    fixed: str | None
    lengths: list
    min_effect: float | None
    held_out: bool
    sign: float
    protocols: dict  # optimizer setting -> [(protocol, label)] in page order
    rows: pd.DataFrame  # one per (optimizer, protocol, claim, schedule)
    families: pd.DataFrame  # one per (optimizer, protocol, claim)
    seeds: dict = field(default_factory=dict)  # (opt, protocol, claim, schedule) -> per seed
    curves: dict = field(default_factory=dict)  # (opt, protocol, schedule) -> curve table
    matches: dict = field(default_factory=dict)  # (opt, protocol, schedule) -> B* and range
    arm_curves: pd.DataFrame | None = None  # (opt, protocol, schedule, length): mean test value
    notes: list = field(default_factory=list)

    @property
    def full(self) -> int:
        return int(self.lengths[-1]) if self.lengths else 0


def protocol_label(protocol: str, opt: str, sel: Selection, article: dict) -> str:
    if protocol == ARTICLE:
        return f"at the article's base LR {article[opt]:g}, untuned"
    ch = sel.choices[sel.choices["optimizer"] == opt]
    if len(ch) and (ch["n_lrs"] == 1).all():
        lrs = sorted(set(ch["lr_min"]))
        return f"at the single base LR {'/'.join(f'{x:g}' for x in lrs)} of the grid (nothing tuned)"
    if sel.tuning is not None:
        return (f"with the base LR tuned per schedule on tuning seeds "
                f"{', '.join(str(s) for s in sel.tuning['seeds'])}, never judged")
    if sel.in_study:
        return ("with the base LR tuned per schedule in-study (leave-one-seed-out; tested by a "
                "selection-aware permutation test)")
    return "with the base LR tuned per schedule"


def _protocols(opt: str, sel: Selection, article: dict) -> tuple[list, str | None]:
    """The protocols to judge ``opt`` under (tuned, and the article's LR where it is not the
    tuned row too), and the page's note when the article's row is folded into the tuned one."""
    out = [TUNED]
    note = None
    if opt in article and (sel.judged[(sel.judged["optimizer"] == opt)
                                      & (sel.judged["protocol"] == ARTICLE)]).shape[0]:
        ch = sel.choices[sel.choices["optimizer"] == opt]
        if (ch["n_lrs"] == 1).all() and (ch["lr_min"] == article[opt]).all():
            note = (f"{opt}: the article's base LR {article[opt]:g} is the only one in the "
                    "grid, so the tuned row is the article's setting; it is shown once.")
        else:
            out.append(ARTICLE)
    return out, note


def _lr_text(seeds: pd.DataFrame) -> str:
    lrs = sorted(set(seeds["own_lr"].dropna()))
    return "/".join(f"{x:g}" for x in lrs) or "–"


def _aware(points: pd.DataFrame, opt: str, s: str, fixed: str, lengths: list, sgn: float,
           level: float) -> dict | None:
    """The selection-aware test of one schedule; None where each arm has one LR (no selection:
    the pairs are independent and the paired t-test holds)."""
    sel, div, val, _ = selection_test.arrays(points, opt, s, fixed, lengths)
    if sel.shape[-2] <= 1:
        return None
    return selection_test.test(sel, div, val, sgn > 0, sgn, levels=(level,))


@dataclass(frozen=True)
class Comparison:
    """What every family of one study shares: the fixed-LR schedule the others are compared with,
    the sign (+1 where a higher primary metric is better, -1 where lower is), the equivalence
    margin (None: no TOST) and study.json (the arms' roles)."""

    fixed: str
    sgn: float
    min_effect: float | None
    study: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FamilyInput:
    """One family's data: ``j`` the judged runs of one optimizer setting and protocol; ``key``
    (optimizer, protocol, claim); ``scheds`` the schedules compared with the fixed LR;
    ``lengths`` the training lengths the claim pairs over; ``edges`` schedule -> whether its
    chosen LR is at the grid's edge; ``n_seeds`` seeds judged, for the warnings; ``points`` given
    for in-study selection, whose p, interval and MDE come from the selection-aware test."""

    j: Judged
    key: tuple
    scheds: list
    lengths: list
    edges: dict
    n_seeds: int
    points: pd.DataFrame | None = None


def _family(cmp: Comparison, f: FamilyInput) -> tuple[pd.DataFrame, dict, dict]:
    """One family's verdict rows (ROW_COLUMNS: Holm, TOST and verdict per schedule), its MDE line
    (FAMILY_COLUMNS) and each schedule's per-seed table, keyed ``(*key, schedule)``."""
    j, key, scheds, lengths, edges, points = f.j, f.key, f.scheds, f.lengths, f.edges, f.points
    fixed, sgn, min_effect = cmp.fixed, cmp.sgn, cmp.min_effect
    opt, protocol, claim = key
    rows = []
    crits = []
    per_seed_tables = {}
    level = inference.ALPHA / max(len(scheds), 1)
    for s in scheds:
        seeds = per_seed(j, s, fixed, lengths, sgn)
        per_seed_tables[(*key, s)] = seeds
        c = counts(seeds)
        d = seeds.loc[seeds["outcome"] == "pair", "delta"]
        t = inference.paired_test(d)
        a = _aware(points, opt, s, fixed, lengths, sgn, level) \
            if points is not None and t["n"] >= 2 else None
        if a is not None:
            t.update(p=a["p"], lo=a["lo"], hi=a["hi"], test=selection_test.LABEL)
            crits.append(a["crit"][level])
        n_disc = c["own_diverged"] + c["ref_diverged"]
        rows.append({"optimizer": opt, "protocol": protocol, "claim": claim, "schedule": s,
                     **c, "n_pairs": t["n"], "mean": t["mean"], "std": t["std"], "lo": t["lo"],
                     "hi": t["hi"], "p": t["p"], "test": t["test"],
                     "tost_p": inference.tost(d, min_effect),
                     "sign_p": inference.sign_test(c["own_diverged"], n_disc),
                     "lrs": _lr_text(seeds), "edge": edges.get(s, False), "reference": fixed})
    fam = pd.DataFrame(rows)
    fam["p_holm"] = inference.holm(fam["p"])
    fam["tost_holm"] = inference.holm(fam["tost_p"]) if min_effect else np.nan
    decided = [verdicts.decide(r.n_pairs, r.mean, r.p_holm, r.tost_holm, r.own_diverged,
                               r.ref_diverged, r.sign_p, min_effect) for r in fam.itertuples()]
    fam["verdict"] = [v for v, _ in decided]
    fam["reason"] = [why for _, why in decided]
    usable = fam[(fam["n_pairs"] >= 2) & np.isfinite(fam["std"])]
    n = int(usable["n_pairs"].min()) if len(usable) else int(fam["n_pairs"].max())
    sd = float(math.sqrt(np.mean(usable["std"] ** 2))) if len(usable) else float("nan")
    m = len(scheds)
    crit = float(np.median(crits)) if crits else math.nan
    fam_row = {"optimizer": opt, "protocol": protocol, "claim": claim, "m": m, "n": n, "sd": sd,
               # |t| the test needs at Holm's first threshold: Student's, or the permutation's
               "crit": crit if crits else inference.t_critical(n, inference.ALPHA / m),
               "mde": inference.mde(n, sd, m, crit=crit if crits else None),
               "warnings": verdicts.seed_warnings(n, m, f.n_seeds, bool(crits), crit)}
    return fam[ROW_COLUMNS], fam_row, per_seed_tables


def analyse(sel: Selection, study: dict, fixed: str | None, order: list, opts: list,
            lengths: list, sgn: float, min_effect: float | None) -> StudyClaims:
    """Every family of the study (see module docstring), with the budget curves."""
    out = StudyClaims(fixed, list(lengths), min_effect, sel.held_out, sgn, {},
                      pd.DataFrame(columns=ROW_COLUMNS), pd.DataFrame(columns=FAMILY_COLUMNS))
    if fixed is None or not lengths:
        return out
    article = article_lrs(study)
    full = lengths[-1]
    judged_at = {name: cl.lengths(lengths) for name, cl in claim_defs.CLAIMS.items()}
    for name, cl in claim_defs.CLAIMS.items():
        if not judged_at[name] and cl.missing_note is not None:
            out.notes.append(cl.missing_note(full))
    cmp = Comparison(fixed, sgn, min_effect, study)
    arm_parts = []
    rows = []
    fams = []
    for opt in opts:
        ch = sel.choices[(sel.choices["optimizer"] == opt) & (sel.choices["length"] == full)]
        edges = dict(zip(ch["schedule"], ch["edge"].astype(bool)))
        protos, note = _protocols(opt, sel, article)
        if note is not None:
            out.notes.append(note)
        listed = []
        for protocol in protos:
            j = sel.judged[(sel.judged["optimizer"] == opt) & (sel.judged["protocol"] == protocol)]
            present = set(j["schedule"])
            if fixed not in present:
                continue
            listed.append((protocol, protocol_label(protocol, opt, sel, article)))
            lookup = Judged(j)
            scheds = [s for s in order if s in present and s != fixed]
            for s in [fixed, *scheds]:
                arm_parts.append(curve.arm_curve(j, s, lengths).assign(optimizer=opt,
                                                                       protocol=protocol))
            if not scheds:
                continue
            e = edges if protocol == TUNED else {}
            aware = protocol == TUNED and sel.in_study
            for claim, lens in judged_at.items():
                cl = claim_defs.CLAIMS[claim]
                members = cl.members(study, scheds) if cl.members else scheds
                if lens and members:
                    r, f, seeds = (cl.judge or _family)(cmp, FamilyInput(
                        lookup, (opt, protocol, claim), members, lens, e, int(j["seed"].nunique()),
                        sel.points if aware else None))
                    if r.empty:
                        continue
                    r = r[ROW_COLUMNS]
                    out.seeds.update(seeds)
                    rows.append(r)
                    fams.append(f)
            for s in scheds:
                t = curve.curve_table(lookup, s, fixed, lengths, sgn)
                out.curves[(opt, protocol, s)] = t
                out.matches[(opt, protocol, s)] = curve.matches(t, min_effect)
        if listed:
            out.protocols[opt] = listed
    if arm_parts:
        out.arm_curves = pd.concat(arm_parts, ignore_index=True)
    if rows:
        out.rows = robust.exact_columns(pd.concat(rows, ignore_index=True), out.seeds)
        out.families = pd.DataFrame(fams, columns=FAMILY_COLUMNS)
    return out


def family_rows(c: StudyClaims, opt: str, protocol: str, claim: str) -> pd.DataFrame:
    """The verdict rows (ROW_COLUMNS) of one family; empty where the study has none."""
    r = c.rows
    return r[(r["optimizer"] == opt) & (r["protocol"] == protocol) & (r["claim"] == claim)]


def family(c: StudyClaims, opt: str, protocol: str, claim: str) -> dict | None:
    """The MDE line (FAMILY_COLUMNS) of one family as a dict; None where the study has none."""
    f = c.families
    m = f[(f["optimizer"] == opt) & (f["protocol"] == protocol) & (f["claim"] == claim)]
    return m.iloc[0].to_dict() if len(m) else None
