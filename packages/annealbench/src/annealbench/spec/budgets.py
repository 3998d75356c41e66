"""Budgets and run lengths: which budget ``--budget auto`` runs, the lengths of a budget curve,
and the length-dependent checks of the schedules at each of them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

from annealbench.spec.checker import Checker, Skipped


@dataclass(frozen=True)
class Budget:
    """The budget being loaded and the keys it sets, so that a message names the field written:
    the budget's when it overrides a key, else the study's."""

    name: str
    over: dict

    def where(self, key: str, study_field: str | None = None) -> str:
        return f"budgets.{self.name}.{key}" if key in self.over else (study_field or f"study.{key}")

    def value(self, key: str, st: dict, default=None):
        return self.over.get(key, st.get(key, default))


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


# What ``--budget auto`` runs where the study declares no ``default_budget``: the first of these
# the study defines ("short" is sized to answer a short-budget question in a CPU's time; "full"
# needs a GPU), else quick. A study with no budgets runs its [study] tables as they are, under the
# name of the first.
AUTO_BUDGETS = {"cuda": ("full", "quick"), "cpu": ("short", "quick")}


def auto_budget(defined, device_type: str, default: str | None = None) -> str:
    """The budget ``--budget auto`` runs: the study's declared ``default`` (its headline, on any
    device), else the first of :data:`AUTO_BUDGETS` it defines."""
    if default is not None:
        return default
    if not defined:
        return "full" if device_type == "cuda" else "quick"
    prefs = AUTO_BUDGETS["cuda" if device_type == "cuda" else "cpu"]
    return next((b for b in prefs if b in defined), "quick")


def default_budget(c: Checker, st: dict, budgets: dict) -> str | None:
    """``[study] default_budget``: checked to name a budget the file defines (None: not set)."""
    name = st.get("default_budget")
    if name is None:
        return None
    c.str_(name, "study.default_budget")
    if name not in budgets:
        c.fail("study.default_budget", name,
               f"must name a budget of this file; defined: {', '.join(sorted(budgets)) or 'none'}")
    return name


def tuned_by(c: Checker, st: dict, budgets: dict, budget: str) -> str | None:
    """The tuning budget that ``budget`` names in ``tuned_by`` (None: in-study selection).

    It must be another defined budget, not itself tuned, whose seeds no judged budget (every
    budget no ``tuned_by`` names) uses: a seed that chose a base LR never judges it."""
    own = budgets.get(budget, {})
    name = own.get("tuned_by") if isinstance(own, dict) else None
    if name is None:
        return None
    where = f"budgets.{budget}.tuned_by"
    c.str_(name, where)
    if name == budget or name not in budgets:
        others = sorted(b for b in budgets if b != budget)
        c.fail(where, name, f"must name another budget of this file; defined: {', '.join(others) or 'none'}")
    if not isinstance(budgets[name], dict):  # not a table: its own mistake, kept already
        raise Skipped
    if "tuned_by" in budgets[name]:
        tuner, tuned = name, budget
        order = list(budgets)
        if budgets[name]["tuned_by"] == budget and order.index(budget) > order.index(name):
            tuner, tuned = budget, name  # two budgets tuning each other: the same key blamed from both
        c.fail(f"budgets.{tuner}.tuned_by", budgets[tuner]["tuned_by"],
               f"budget {tuner} tunes budget {tuned}, so its own base LRs cannot come from another "
               "budget; remove this key")
    tuning = {b.get("tuned_by") for b in budgets.values() if isinstance(b, dict)}
    seeds_where = f"budgets.{name}.seeds" if "seeds" in budgets[name] else "study.seeds"
    mine = _seeds(budgets[name], st)
    for other, b in budgets.items():
        if other in tuning:
            continue
        shared = sorted(mine & _seeds(b, st))
        if shared:
            c.fail(seeds_where, sorted(mine), f"a tuning budget's seeds must be disjoint from every "
                   f"judged budget's; budgets.{other} also uses {', '.join(map(str, shared))}")
    return name


def _seeds(b: dict, st: dict) -> set:
    if not isinstance(b, dict):  # not a table: a mistake of its own
        return set()
    seeds = b.get("seeds", st.get("seeds"))
    return {s for s in seeds if isinstance(s, int)} if isinstance(seeds, list) else set()


# Study fields that make a run; a tuning budget must match its judged budget on all of them but
# the seeds. Values: the study-file key a difference is reported under.
RUN_FIELDS = {"epochs": "epochs", "curve_epochs": "budget_curve", "batch_size": "batch_size",
              "model": "model.name", "model_kwargs": "model", "dataset": "dataset.name",
              "dataset_kwargs": "dataset", "optimizers": "optimizers", "schedules": "schedules",
              "precision": "precision"}
# Run fields a study may lack: part of runs_sha256 only where set, so other studies hash as before.
OPTIONAL_RUN_FIELDS = {"arm_optimizers": "optimizers"}


def same_runs(c: Checker, judged, tuning) -> None:
    """Refuse a tuning budget whose runs differ from the judged budget's in anything but the seed:
    base LRs chosen for another model, length or grid would be applied where nobody chose them."""
    where = f"budgets.{tuning.budget}"
    rule = (f"a tuning budget trains budget {judged.budget}'s runs on other seeds, so everything "
            "but its seeds must be the same")
    for f, key in {**RUN_FIELDS, **OPTIONAL_RUN_FIELDS}.items():
        a = getattr(judged, f)
        b = getattr(tuning, f)
        if not isinstance(a, dict):
            if a != b:
                c.fail(f"{where}.{key}", _plain(b), f"budget {judged.budget} has {_plain(a)!r}; {rule}")
            continue
        if set(a) != set(b):
            c.fail(f"{where}.{key}", list(b), f"budget {judged.budget} has {list(a)}; {rule}")
        for k in a:
            setting = f in ("optimizers", "arm_optimizers")
            if setting and a[k].lrs != b[k].lrs:
                c.fail(f"{where}.lrs.{k}", list(b[k].lrs),
                       f"budget {judged.budget} has {list(a[k].lrs)}; {rule}")
            x, y = a[k], b[k]
            if setting:  # which LR is the article's names a report row, not a run
                x, y = replace(x, article_lr=None), replace(y, article_lr=None)
            if x != y:
                c.fail(f"{where}.{key}.{k}", _plain(y), f"budget {judged.budget} has {_plain(x)!r}; {rule}")


def runs_sha256(study) -> str:
    """sha256 of what a budget's runs are (:data:`RUN_FIELDS`, the seeds, the primary metric): a
    tuning file is valid while its tuning budget's runs are these. Comments, targets, the judged
    seeds, ``article_row`` and other budgets are not part of it, so editing them leaves the choice
    valid."""
    runs = {f: _plain(getattr(study, f)) for f in RUN_FIELDS}
    runs.update({f: _plain(getattr(study, f)) for f in OPTIONAL_RUN_FIELDS if getattr(study, f)})
    for setting in [*runs["optimizers"].values(), *runs.get("arm_optimizers", {}).values()]:
        setting.pop("article_lr", None)  # which LR row the report calls the article's: not a run
    runs.update(seeds=list(study.seeds), primary_metric=study.primary_metric)
    blob = json.dumps(runs, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "plain"):  # an arm: what makes its runs
        return _plain(v.plain())
    if hasattr(v, "__dataclass_fields__"):
        return {k: _plain(getattr(v, k)) for k in v.__dataclass_fields__}
    return v
