"""One budget's Study from a study file's tables, for load_study: every check in a part of its own
(spec.checker.Checker.part), in the order ``run`` meets them, so that ``validate`` finds every
mistake that does not depend on another while ``run``, ``grid`` and ``tune`` stop at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from annealbench.precision import PRECISIONS
from annealbench.spec import arms as spec_arms
from annealbench.spec import tables as spec_tables
from annealbench.spec.budgets import Budget, budget_curve, check_lengths, runs_sha256, same_runs, tuned_by
from annealbench.spec.checker import Checker
from annealbench.spec.measured import measured
from annealbench.spec.regime import regime
from annealbench.spec.study import JUDGED_ON, Study

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class StudyFile:
    """What every budget of one study file is loaded from."""

    path: Path
    sha: str
    doc: dict
    st: dict  # its [study] table
    budgets: dict  # its [budgets.NAME] tables
    data_dir: object


def budget_study(c: Checker, f: StudyFile, budget: str) -> Study:
    """The study ``budget`` of the file makes, every check made that does not depend on a failed one.

    A budget with ``tuned_by`` is checked against its tuning budget's runs (without its tuning
    file: load_study reads it for the budget loaded)."""
    from annealbench.spec import preflight

    with c.part() as checks:
        b, tuner, parts = _budget_checks(c, f, budget)
    c.need(checks)  # a Study needs every part of it
    study = Study(file=str(f.path), spec_sha256=f.sha, budget=b.name, **parts)
    overrides = {part: set(b.over.get(part, {})) for part in ("model", "dataset")}
    fields = preflight.Fields(b.name, b.where("batch_size"), b.where("seeds"), overrides)
    study = preflight.check(c, study, f.data_dir, fields)
    if tuner is None:
        return study
    tuning_runs = budget_study(c, f, tuner)
    same_runs(c, study, tuning_runs)
    return replace(study, tuned_by=tuning_runs.budget, tuning_runs_sha256=runs_sha256(tuning_runs))


def _budget_checks(c: Checker, f: StudyFile, budget: str) -> tuple[Budget, str | None, dict]:
    """(the budget, the budget tuning it, the Study fields of its tables), each independent table
    and cross-table check in a part of its own (in the order a first mistake is found)."""
    doc, st = f.doc, f.st
    tuner = None
    with c.part():
        tuner = tuned_by(c, st, f.budgets, budget)
    b = _overrides(c, budget, f.budgets.get(budget, {}))
    with c.part() as arm_tables:
        optimizers_doc, schedules_doc = _arm_tables(c, doc)
    parts, info = {}, None
    with c.part():
        parts, info = _components(c, doc, b)
    with c.part():
        parts.update(_evaluation(c, st, b, info))
    with c.part():
        parts.update(_study_table(c, st, b))
    with c.part():
        c.need(arm_tables)
        parts.update(_runs(c, st, b, optimizers_doc, schedules_doc))
    with c.part():
        parts.update(regime(c, st, b.over, b.name, str(parts.get("primary_metric", st["primary_metric"]))))
    with c.part():
        parts["measured"] = measured(c, b.over, b.name)
    return b, tuner, parts


def _runs(c: Checker, st: dict, b: Budget, optimizers_doc: dict, schedules_doc: dict) -> dict:
    """The optimizer settings and arms the budget runs, their lengths, and the checks across them."""
    arm_tables = spec_tables.arm_optimizer_tables(schedules_doc, optimizers_doc)
    names_opt, names_sched = [], []
    with c.part() as names:
        names_opt, names_sched = spec_tables.chosen(c, b, optimizers_doc, schedules_doc, arm_tables)
    optimizers, every_arm, arms, out = {}, {}, {}, {}
    with c.part() as settings:
        optimizers = spec_tables.optimizers(c, optimizers_doc, b, names_opt)
    with c.part() as every:
        every_arm = spec_tables.every_arm(c, schedules_doc, optimizers_doc)
    with c.part():
        c.need(every)  # an arm left out would read as an undefined baseline
        out["baseline"] = spec_arms.baseline(c, st, every_arm)
    with c.part() as chosen_arms:
        c.need(names, every)
        arms = spec_tables.arms(c, every_arm, names_sched, schedules_doc)
    out["arm_optimizers"] = {n: s for n, s in optimizers.items() if n in arm_tables}
    out["optimizers"] = {n: s for n, s in optimizers.items() if n not in arm_tables}
    out["schedules"] = arms
    with c.part():
        c.need(settings, chosen_arms)
        spec_arms.settings_at_fixed_lr(c, out["optimizers"], arms)
    with c.part():
        out.update(_lengths(c, st, b))
        c.need(chosen_arms)
        _arms_at_lengths(c, arms, out["curve_epochs"])
    return out


def _overrides(c: Checker, budget: str, over) -> Budget:
    """The budget and the keys it sets, less those that must be a table and are not (each kept as
    a mistake: the study's own table is checked in its place)."""
    over = over if isinstance(over, dict) else {}
    bad = set()
    for part in ("model", "dataset", "lrs"):
        if part in over and not isinstance(over[part], dict):
            bad.add(part)
            with c.part():
                c.fail(f"budgets.{budget}.{part}", over[part], "must be a table (keys override the study's)")
    return Budget(budget, {k: v for k, v in over.items() if k not in bad})


def _arm_tables(c: Checker, doc: dict) -> tuple[dict, dict]:
    """The [optimizers.*] and [schedules.*] tables, each at least one."""
    optimizers_doc = doc["optimizers"]
    if not isinstance(optimizers_doc, dict) or not optimizers_doc:
        c.fail("optimizers", optimizers_doc, "must define at least one [optimizers.NAME] table")
    schedules_doc = doc["schedules"]
    if not isinstance(schedules_doc, dict) or not schedules_doc:
        c.fail("schedules", schedules_doc, "must define at least one [schedules.NAME] table")
    return optimizers_doc, schedules_doc


def _components(c: Checker, doc: dict, b: Budget) -> tuple[dict, object]:
    """The [dataset] and [model] tables with the budget's keys over them, as Study fields, and the
    built-in data set's description (None for a data set by import path: preflight reads it)."""
    from annealbench import models
    from annealbench import tasks as datasets
    from annealbench.models import MODELS
    from annealbench.tasks import DATASETS

    model_doc, dataset_doc = (_overridden(doc[part], b.over.get(part, {})) for part in ("model", "dataset"))
    dataset, dataset_kwargs = spec_tables.component(c, dataset_doc, "dataset", datasets.REGISTRY,
                                                    b.over.get("dataset", {}), f"budgets.{b.name}.dataset")
    info = DATASETS.get(dataset)
    if info is not None and isinstance(model_doc, dict) and model_doc.get("name") in MODELS and \
            model_doc["name"] not in info.models:
        c.fail("model.name", model_doc["name"], f"{dataset} works with {', '.join(sorted(info.models))}")
    model, model_kwargs = spec_tables.component(c, model_doc, "model", models.REGISTRY,
                                                b.over.get("model", {}), f"budgets.{b.name}.model")
    return {"model": model, "model_kwargs": model_kwargs, "dataset": dataset,
            "dataset_kwargs": dataset_kwargs}, info


def _overridden(table, over: dict):
    return {**table, **over} if isinstance(table, dict) else table


def _evaluation(c: Checker, st: dict, b: Budget, info) -> dict:
    """How runs are judged: the primary metric and its direction, the target, when the test split
    is evaluated, and the precision asked for."""
    directions = dict(info.metrics) if info is not None else {}
    primary = c.str_(st["primary_metric"], "study.primary_metric",
                     set(directions) if info is not None else None)
    # what counts as converged depends on how long a budget trains, so a budget may set its own
    target = b.value("target", st)
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                               or target != target or abs(target) == float("inf")):
        c.fail(b.where("target"), target, "must be a finite number (the validation value of the primary "
                                          "metric that counts as converged)")
    return {"primary_metric": primary, "metric_directions": directions,
            "target": None if target is None else float(target),
            "eval_test": c.str_(st.get("eval_test", "final"), "study.eval_test", {"final", "every"}),
            # a budget may pin it: "auto" resolves per machine, and a run's precision is in its key
            "precision": c.str_(b.value("precision", st, "auto"), b.where("precision"), set(PRECISIONS))}


def _lengths(c: Checker, st: dict, b: Budget) -> dict:
    """The run's epochs and the budget curve's lengths."""
    epochs = c.int_(b.value("epochs", st), b.where("epochs"), 1)
    curve, curve_epochs = budget_curve(c, st, b.over, b.name, epochs)
    return {"epochs": epochs, "budget_curve": curve, "curve_epochs": curve_epochs}


def _arms_at_lengths(c: Checker, arms: dict, curve_epochs: tuple) -> None:
    """Every arm checked at each length of the budget curve."""
    for e in curve_epochs:
        check_lengths(c, arms, e)
    spec_arms.check_starts(c, arms, curve_epochs[0])


def _study_table(c: Checker, st: dict, b: Budget) -> dict:
    """The rest of [study] (a budget may override batch_size and seeds)."""
    min_effect = st.get("min_effect")
    if min_effect is not None:
        min_effect = c.pos_float(min_effect, "study.min_effect")
    name = c.str_(st["name"], "study.name", pattern=NAME_RE)
    for key in ("description", "notes"):
        if key in st:
            c.str_(st[key], f"study.{key}")
    return {"name": name, "description": st.get("description", ""), "notes": st.get("notes", ""),
            "min_effect": min_effect,
            "judged_on": c.str_(st.get("judged_on", "test"), "study.judged_on", set(JUDGED_ON)),
            "batch_size": c.int_(b.value("batch_size", st), b.where("batch_size"), 1),
            "seeds": c.seeds(b.value("seeds", st), b.where("seeds"))}
