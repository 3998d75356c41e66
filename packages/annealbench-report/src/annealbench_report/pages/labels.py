"""The words and marks that name verdicts and Holm families on every page: the study page's
tables and the index's matrix label a family the same way."""

from __future__ import annotations

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis import verdicts as V
from annealbench_report.analysis.claims import family_rows
from annealbench_report.analysis.protocol import ARTICLE, TUNED
from annealbench_report.analysis.study import Analysis

VERDICT_CLASS = claim_defs.looks({V.REPRODUCED: "v-yes", V.REPRODUCED_SMALL: "v-yes", V.REVERSED: "v-no",
                 V.REVERSED_SMALL: "v-no", V.NO_DIFFERENCE: "v-eq", V.INCONCLUSIVE: "v-maybe",
                 V.UNSTABLE: "v-unstable"})
VERDICT_MARK = claim_defs.looks({V.REPRODUCED: "✔", V.REPRODUCED_SMALL: "✔", V.REVERSED: "✘",
                                 V.REVERSED_SMALL: "✘", V.NO_DIFFERENCE: "=", V.INCONCLUSIVE: "?",
                                 V.UNSTABLE: "!"})
PROTOCOL_SHORT = {TUNED: "tuned LR", ARTICLE: "article's LR"}


def family_label(opt: str, protocol: str, claim: str) -> str:
    """A family's column label: 'optimizer · protocol · claim'."""
    return f"{opt} · {PROTOCOL_SHORT[protocol]} · {claim_defs.get(claim).label}"


def verdict_families(a: Analysis) -> list[tuple]:
    """The (optimizer, protocol, claim) keys of the families that have verdict rows, in page
    order: the columns of the verdict table and of the index's matrix."""
    out = []
    for opt, protos in a.claims.protocols.items():
        for protocol, _ in protos:
            for claim in claim_defs.CLAIMS:
                if len(family_rows(a.claims, opt, protocol, claim)):
                    out.append((opt, protocol, claim))
    return out


