"""``verdicts.csv`` beside every study page: one row per optimizer setting, protocol, claim and
schedule, built from the same claims frame the page renders from, so that notebooks and the
nightly history read the verdicts without scraping HTML. Sign convention as on the page: delta > 0
means the schedule is better. Seed lists are space-separated integers; LR columns list every base
LR the arm was judged at (several under in-study leave-one-seed-out selection); base_lr_fixed is
that of the arm the row is compared with (the fixed LR; for "recovers", the best annealed arm). The training
regime of each optimizer setting (annealbench_report.analysis.regime: the fixed LR's last-quarter gain per
epoch, its interval, the declared plateau and whether it is reached) is repeated on its rows.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.protocol import TUNED
from annealbench_report.analysis.regime import VERDICT_COLUMNS as REGIME_COLUMNS
from annealbench_report.analysis.regime import verdict_columns
from annealbench_report.analysis.robust import EXACT_COLUMNS, TWOWAY_COLUMNS
from annealbench_report.analysis.tuning import seeds_text
from annealbench_report.records.files import write_text_atomic

# p_exact*: the exact sign-flip test of the same Δ; normality_only: a t-test verdict the exact
# test's Holm p does not support; *_2way: the interval over seeds and held-out examples
# (analysis.robust) and its verdict; *_other: Δ on the other held-out split; val_test_disagree: the
# two splits' Δ differ beyond the two-way interval of their difference. judged_on: the split the
# verdict is judged on.
ROBUST_COLUMNS = ["judged_on", *EXACT_COLUMNS, *TWOWAY_COLUMNS]
COLUMNS = ["optimizer", "protocol", "claim", "schedule", "n", "delta", "lo", "hi", "p", "p_holm",
           "verdict", "min_effect", "mde", "base_lr_fixed", "base_lr_schedule", "tuning_seeds",
           "judged_seeds", *ROBUST_COLUMNS, *REGIME_COLUMNS[1:]]
NAME = "verdicts.csv"


def _lrs(j: pd.DataFrame, schedule: str, lengths: list) -> str:
    x = j.loc[(j["schedule"] == schedule) & j["length"].isin(lengths), "base_lr"]
    return " ".join(f"{v:g}" for v in sorted(set(x.astype(float))))


def frame(a) -> pd.DataFrame:
    """The verdict rows of one study's :class:`analysis.Analysis` (empty with the columns when
    nothing was compared)."""
    c = a.claims
    sel = a.selection
    if sel is None or c.rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    fams = c.families.set_index(["optimizer", "protocol", "claim"])
    rows = []
    for r in c.rows.itertuples():
        j = sel.judged[(sel.judged["optimizer"] == r.optimizer)
                       & (sel.judged["protocol"] == r.protocol)]
        lens = claim_defs.get(r.claim).lengths(c.lengths)
        tuned_file = r.protocol == TUNED and sel.tuning is not None
        rows.append({"optimizer": r.optimizer, "protocol": r.protocol, "claim": r.claim,
                     "schedule": r.schedule, "n": int(r.n_pairs), "delta": r.mean, "lo": r.lo,
                     "hi": r.hi, "p": r.p, "p_holm": r.p_holm, "verdict": r.verdict,
                     "min_effect": c.min_effect,
                     "mde": fams.loc[(r.optimizer, r.protocol, r.claim), "mde"],
                     "base_lr_fixed": _lrs(j, r.reference, lens),
                     "base_lr_schedule": _lrs(j, r.schedule, lens),
                     "tuning_seeds": seeds_text(sel.tuning["seeds"]) if tuned_file else "",
                     "judged_seeds": seeds_text(sorted(set(j["seed"].astype(int)))),
                     "judged_on": a.judged_on,
                     **{k: getattr(r, k, math.nan) for k in (*EXACT_COLUMNS, *TWOWAY_COLUMNS)}})
    out = pd.DataFrame(rows, columns=COLUMNS[:-len(REGIME_COLUMNS) + 1])
    return out.merge(verdict_columns(a.regime_frame), on="optimizer", how="left")[COLUMNS]


def write(study_dir: Path, a) -> Path:
    """Write ``<study_dir>/verdicts.csv`` atomically (full float precision) and return its path."""
    buf = io.StringIO()
    frame(a).to_csv(buf, index=False, float_format="%.17g")
    out = Path(study_dir) / NAME
    write_text_atomic(out, buf.getvalue(), fault="render-write")
    return out
