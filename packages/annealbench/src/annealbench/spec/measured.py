"""``[budgets.NAME] measured``: the per-epoch wall time a budget was measured at, declared in the
study so that ``annealbench run`` can say, before training, how long the whole budget is expected
to take (annealbench.estimate.expected_seconds). Never part of a run (run keys never see it).

    measured = { seconds_per_epoch = 14.1, workers = 2, machine = "2-core AMD EPYC, 2026-12-04" }

``seconds_per_epoch``: wall seconds one run's epoch took while ``workers`` runs trained at once
on ``machine`` (so the budget trains ``workers`` epochs per ``seconds_per_epoch``). Figures the
budget was timed at as a whole (wall time x workers / epochs trained) predict best: they include
evaluations, checkpoints and the workers' start.
"""

from __future__ import annotations

from annealbench.errors import MISSING
from annealbench.progress import clock
from annealbench.spec.checker import Checker

MEASURED_KEYS = ("seconds_per_epoch", "workers", "machine")
SHAPE = ('a table { seconds_per_epoch = SECONDS, workers = N, machine = "where and when it was '
         'measured" }')


def measured(c: Checker, over: dict, budget: str) -> dict | None:
    """The budget's ``measured`` table, checked (None: it declares none)."""
    m = over.get("measured")
    if m is None:
        return None
    where = f"budgets.{budget}.measured"
    if not isinstance(m, dict):
        c.fail(where, m, f"must be {SHAPE}")
    c.keys(m, where, set(MEASURED_KEYS), required=MEASURED_KEYS)
    machine = m["machine"]
    if not isinstance(machine, str) or not machine.strip():
        c.fail(f"{where}.machine", machine if "machine" in m else MISSING, "must be a non-empty string")
    return {"seconds_per_epoch": c.pos_float(m["seconds_per_epoch"], f"{where}.seconds_per_epoch"),
            "workers": c.int_(m["workers"], f"{where}.workers", 1), "machine": machine.strip()}


def expected_seconds(m: dict, epochs_to_train: int) -> float:
    """The whole budget's wall time predicted from its measured figure ``m``: its epochs to train
    (shared prefixes left out: annealbench.sharing.plan) at ``workers`` per ``seconds_per_epoch``."""
    return epochs_to_train * m["seconds_per_epoch"] / m["workers"]


def expected_line(study, epochs_to_train: int) -> str | None:
    """What ``annealbench run`` says before training: the budget's expected wall time, labelled as a
    prediction from the study's measured figures; None when the budget declares none."""
    m = study.measured
    if not m:
        return None
    return (f"{study.name}: expected {clock(expected_seconds(m, epochs_to_train))} for the whole "
            f"{study.budget} budget ({epochs_to_train} epochs to train), predicted from its measured "
            f"{m['seconds_per_epoch']:g} s per epoch with {m['workers']} runs at once ({m['machine']}), "
            "not timed on this machine")
