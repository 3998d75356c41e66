"""The claims a study is judged on, each one declared object: its key in the verdict rows, the
lengths it pairs over, the wording of every page, table, figure and CSV that shows it.

Pages loop over :data:`CLAIMS` in order; :func:`get` refuses a claim nobody registered, so a row
of an unknown claim cannot fall into another claim's wording. A new claim is one module here that
calls :func:`register`, imported at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Claim:
    """One claim. ``lengths(lengths)``: the budget-curve lengths it pairs over (empty: no verdict);
    ``where(full, lens)``: where it is judged (``lens``: its lengths), in the answer's head;
    ``decided(r, u, c, up)``: the answer's clause for a decided row; ``missing(full)`` and
    ``missing_note(full)``: the answer's body and the page's note when the study has no length to
    judge it at (None: say nothing)."""

    name: str
    label: str  # the claim in words, on the study page, its tables and figures
    short: str  # the index matrix's column
    summary_label: str  # summary.md
    rule: str  # how its per-seed Δ is formed, under the verdict table
    title_suffix: str  # the forest panel's title after the label; "{full}" is the full length
    measured: str  # what Δ measures, in the comparison table; "{primary}", "{full}"
    lengths: Callable[[list], list]
    where: Callable[[int, list], str]
    decided: Callable
    missing: Callable[[int], str] | None = None
    missing_note: Callable[[int], str] | None = None  # the page's note then
    at_full: bool = False  # judged at the full length: its per-seed pairs make the paired figure
    versus: str = "fixed LR"  # what Δ is taken against, in tables and figures
    # members(study, schedules): the schedules of a family (None: all but the fixed LR); a claim
    # whose members are none for a study is absent from its pages
    members: Callable | None = None
    judge: Callable | None = None  # judge(Comparison, FamilyInput) (None: claims' paired test)
    clause: Callable | None = None  # clause(rows, units, claims): the answer (None: the verdicts')
    verdict_like: dict = field(default_factory=dict)  # its own verdict words -> the look of one
    # its own verdict words -> their marker in figures: a shape and fill no other verdict has
    markers: dict = field(default_factory=dict)

    def applies(self, study: dict, schedules: list) -> bool:
        return self.members is None or bool(self.members(study, schedules))


CLAIMS: dict[str, Claim] = {}


def register(claim: Claim) -> Claim:
    if claim.name in CLAIMS:
        raise ValueError(f"claim {claim.name!r} is registered twice")
    CLAIMS[claim.name] = claim
    return claim


def get(name: str) -> Claim:
    """The registered claim ``name``; KeyError naming the registered ones otherwise."""
    try:
        return CLAIMS[str(name)]
    except KeyError:
        raise KeyError(f"claim {name!r} is not registered (registered: "
                       f"{', '.join(CLAIMS)}); declare it in analysis/claim_defs") from None


def names(xs: list) -> str:
    """'a', 'a and b', 'a, b and c'."""
    xs = [str(x) for x in xs]
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " and " + xs[-1]


def label(name: str, default: str | None = None) -> str:
    """The claim's words; ``default`` (else the key itself) for a claim of an earlier build that
    is not registered any more (the history table), never another claim's words."""
    c = CLAIMS.get(str(name))
    return c.label if c is not None else (default if default is not None else str(name))


def verdict_words(base: tuple) -> tuple:
    """``base`` (the verdict words of analysis.verdicts) and every claim's own words."""
    extra = [w for c in CLAIMS.values() for w in c.verdict_like if w not in base]
    return (*base, *dict.fromkeys(extra))


def looks(table: dict) -> dict:
    """``table`` (verdict word -> its look) with every claim's own words looking like theirs."""
    return {**table, **{w: table[like] for c in CLAIMS.values() for w, like in c.verdict_like.items()}}


def markers(table: dict) -> dict:
    """``table`` (verdict word -> figure marker) with every claim's own words' markers."""
    return {**table, **{w: m for c in CLAIMS.values() for w, m in c.markers.items()}}


from annealbench_report.analysis.claim_defs import better, faster, recovers  # noqa: E402,F401  (registers)
