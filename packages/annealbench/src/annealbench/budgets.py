"""Budgets and run lengths: which budget ``--budget auto`` runs, the lengths of a budget curve,
and the length-dependent checks of the schedules at each of them."""

from __future__ import annotations

from annealbench.checker import Checker


def check_lengths(c: Checker, arms: dict, epochs: int) -> None:
    """Length-dependent mistakes (warm-up as long as the run, milestones rounding together).

    Only per-epoch arms can be decided here; per-step ones depend on the data set's size and are
    resolved when their run starts.
    """
    from annealbench import schedules

    for name, arm in arms.items():
        if arm.interval != "epoch":
            continue
        try:
            schedules.resolve(arm.type, arm.kwargs, epochs=epochs, steps_per_epoch=1, interval="epoch")
        except ValueError as e:
            c.fail(f"schedules.{name}", arm.kwargs, f"{e} (for a {epochs}-epoch run)")


def budget_curve(c: Checker, st: dict, over: dict, budget: str, epochs: int):
    """(fractions, epochs): the run lengths every schedule is annealed to, the full one last.

    Two fractions that round to the same number of epochs would be the same runs twice: refused."""
    where = f"budgets.{budget}.budget_curve" if "budget_curve" in over else "study.budget_curve"
    fracs = c.fractions(over.get("budget_curve", st.get("budget_curve", [1.0])), where)
    lengths = [max(1, round(f * epochs)) for f in fracs]
    if len(set(lengths)) != len(lengths):
        c.fail(where, list(fracs), f"of a {epochs}-epoch run these give {lengths} epochs; "
                                   "each budget must be a different number of epochs")
    return fracs, tuple(lengths)


# What ``--budget auto`` runs: the first of these the study defines ("cpu" is sized to answer the
# question in a CPU's time; "full" needs a GPU), else quick. A study with no budgets runs its
# [study] tables as they are, under the name of the first.
AUTO_BUDGETS = {"cuda": ("full", "quick"), "cpu": ("cpu", "quick")}


def auto_budget(defined, device_type: str) -> str:
    if not defined:
        return "full" if device_type == "cuda" else "quick"
    prefs = AUTO_BUDGETS["cuda" if device_type == "cuda" else "cpu"]
    return next((b for b in prefs if b in defined), "quick")
