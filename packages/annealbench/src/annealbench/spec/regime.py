"""The training regime a study declares, for spec.load_study: its ``plateau`` threshold and the
``reference`` level its data set reaches elsewhere.

Neither changes a run (run keys never see them): the report reads them from study.json to say, on
top of every answer, whether the fixed LR had stopped improving and how far the model is from
what a converged model of that data set reaches.

- ``[study] plateau`` (a budget may set its own, ``[budgets.NAME] plateau``): the largest gain of
  the validation primary metric per epoch, over the last quarter of the full-length run, at which
  the fixed LR counts as at a plateau. In the metric's own units (accuracy as a fraction: 0.003
  is 0.3 points per epoch), a gain being an improvement whatever the metric's direction.
- ``[study] reference = { level = 0.94, text = "...", source = "..." }``: ``level`` in the primary
  metric's units, ``text`` the sentence a reader sees beside the model's own level, ``source``
  where the figure comes from (a URL or a citation).
"""

from __future__ import annotations

import math

from annealbench.errors import MISSING
from annealbench.spec.checker import Checker

REGIME_STUDY_KEYS = {"plateau", "reference"}
REGIME_BUDGET_KEYS = {"plateau"}
REFERENCE_KEYS = ("level", "text", "source")


def _plateau(c: Checker, st: dict, over: dict, budget: str) -> float | None:
    where = f"budgets.{budget}.plateau" if "plateau" in over else "study.plateau"
    v = over.get("plateau", st.get("plateau"))
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        c.fail(where, v, "must be a finite number > 0 (the largest gain per epoch of the fixed LR's "
                         "validation primary metric, in its own units, that counts as a plateau)")
    return float(v)


def _reference(c: Checker, st: dict, primary: str) -> dict | None:
    ref = st.get("reference")
    if ref is None:
        return None
    if not isinstance(ref, dict):
        c.fail("study.reference", ref, "must be a table { level = NUMBER, text = \"...\", "
                                       "source = \"...\" }")
    c.keys(ref, "study.reference", set(REFERENCE_KEYS), required=REFERENCE_KEYS)
    level = ref["level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not math.isfinite(level):
        c.fail("study.reference.level", level, f"must be a finite number (a {primary} value)")
    # accuracy is stored as a fraction everywhere else; 94 for 94% would compare as 9,400 points
    if "acc" in primary.lower() and not 0 <= level <= 1:
        c.fail("study.reference.level", level, f"{primary} is a fraction in [0, 1] (0.94 for 94%)")
    for key in ("text", "source"):
        if not isinstance(ref[key], str) or not ref[key].strip():
            c.fail(f"study.reference.{key}", ref[key] if key in ref else MISSING,
                   "must be a non-empty string")
    return {"level": float(level), "text": ref["text"].strip(), "source": ref["source"].strip()}


def regime(c: Checker, st: dict, over: dict, budget: str, primary: str) -> dict:
    """{"plateau": ..., "reference": ...} of a study's [study] table and its budget ``over``."""
    return {"plateau": _plateau(c, st, over, budget), "reference": _reference(c, st, primary)}
