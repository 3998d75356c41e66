"""Study specs: TOML in, a validated, budget-applied :class:`Study` out.

Everything is checked before anything trains or is written, and the first problem raises a
:class:`SpecError` naming file, field, value and what is allowed, so a typo costs seconds, not a
night of runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from annealbench.errors import MISSING, SpecError
from annealbench.precision import PRECISIONS
from annealbench.spec import arms as spec_arms
from annealbench.spec import tables as spec_tables
from annealbench.spec.budgets import (
    Budget,
    auto_budget,
    budget_curve,
    check_lengths,
    default_budget,
    runs_sha256,
    same_runs,
    tuned_by,
)
from annealbench.spec.checker import Checker
from annealbench.spec.measured import measured
from annealbench.spec.regime import REGIME_BUDGET_KEYS, REGIME_STUDY_KEYS, regime
from annealbench.spec.study import JUDGED_ON, Study

SPEC_VERSION = 1
BUDGET_KEYS = {"epochs", "seeds", "schedules", "optimizers", "batch_size", "dataset", "model", "lrs",
               "target", "budget_curve", "tuned_by", "article_row", "measured"}
STUDY_KEYS = {"name", "description", "primary_metric", "epochs", "batch_size", "seeds",
              "eval_test", "target", "notes", "min_effect", "budget_curve", "precision", "baseline",
              "default_budget", "judged_on"}
TOP_KEYS = {"spec_version", "study", "model", "dataset", "optimizers", "schedules", "budgets"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STUDY_KEYS |= REGIME_STUDY_KEYS  # the training regime (plateau, reference): spec_regime.py
BUDGET_KEYS |= REGIME_BUDGET_KEYS


def load_study(path, budget: str = "quick", data_dir=None, *, doc: dict | None = None,
               device_type: str = "cpu", with_tuning: bool = True, every_mistake: bool = False) -> Study:
    """Read, validate and apply ``budget`` ("quick", "full", or any budget the file defines;
    "auto": the study's ``default_budget``, else see ``annealbench.spec.budgets.auto_budget``, for
    ``device_type``).

    A budget with ``tuned_by`` also gets its tuning file's choices (``with_tuning``; a missing or
    stale file raises TuningError), so that its grid holds the chosen base LRs only.

    ``doc``: the study's tables as a dict instead of reading ``path`` (which then only names it
    in messages). ``data_dir``: where a data set by import path reads from (default as ``run``).
    ``every_mistake``: every check that does not depend on a failed one is made (each table, the
    checks across tables, and every [budgets.NAME] table as if it were loaded, without its tuning
    file), and the mistakes raised together (SpecErrors, in file order, each once) instead of the
    first alone.
    """
    from annealbench import user_code
    from annealbench.spec import preflight

    path = Path(path)
    doc, sha = _read(path, doc)
    c = Checker(path, _text(path) if every_mistake else None)
    if isinstance(doc, dict) and preflight.uses_user_code(doc):
        user_code.add_search_folder(path.parent)  # user code next to the study is found (user_code.py)
    st = _top(c, doc)
    budgets, budget, defined = _budgets(c, doc, st, budget, device_type)
    f = _File(path, sha, doc, st, budgets, data_dir)
    study = None
    with c.part():
        c.need(defined)
        study = _budget_study(c, f, budget)
    if every_mistake:  # every budget table on its own, not only the one loaded
        for other in budgets:
            if other != budget and isinstance(budgets[other], dict):
                with c.part():
                    _budget_study(c, f, other)
    c.raise_collected()
    if with_tuning and study.tuned_by is not None:
        from annealbench.spec import tuning

        study = replace(study, tuning=tuning.read(study))
    return study


@dataclass(frozen=True)
class _File:
    """What every budget of one study file is loaded from."""

    path: Path
    sha: str
    doc: dict
    st: dict  # its [study] table
    budgets: dict  # its [budgets.NAME] tables
    data_dir: object


def _budget_study(c: Checker, f: _File, budget: str) -> Study:
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
    tuning_runs = _budget_study(c, f, tuner)
    same_runs(c, study, tuning_runs)
    return replace(study, tuned_by=tuning_runs.budget, tuning_runs_sha256=runs_sha256(tuning_runs))


def _budget_checks(c: Checker, f: _File, budget: str) -> tuple[Budget, str | None, dict]:
    """(the budget, the budget tuning it, the Study fields of its tables), each independent table
    and cross-table check in a part of its own (in the order a first mistake is found)."""
    doc, st = f.doc, f.st
    tuner = None
    with c.part():
        tuner = tuned_by(c, st, f.budgets, budget)
    b = _overrides(c, budget, f.budgets.get(budget, {}))
    with c.part() as arm_tables_:
        optimizers_doc, schedules_doc = _arm_tables(c, doc)
    parts, info = {}, None
    with c.part():
        parts, info = _components(c, doc, b)
    with c.part():
        parts.update(_evaluation(c, st, b, info))
    with c.part():
        parts.update(_study_table(c, st, b))
    c.need(arm_tables_)
    arm_tables = spec_tables.arm_optimizer_tables(schedules_doc, optimizers_doc)
    names_opt, names_sched = [], []
    with c.part() as names:
        names_opt, names_sched = spec_tables.chosen(c, b, optimizers_doc, schedules_doc, arm_tables)
    optimizers = {}
    with c.part() as settings:
        optimizers = spec_tables.optimizers(c, optimizers_doc, b, names_opt)
    every_arm = {}
    with c.part() as every:
        every_arm = spec_tables.every_arm(c, schedules_doc, optimizers_doc)
    with c.part():
        c.need(every)  # an arm left out would read as an undefined baseline
        parts["baseline"] = spec_arms.baseline(c, st, every_arm)
    arms = {}
    with c.part() as chosen_arms:
        c.need(names, every)
        arms = spec_tables.arms(c, every_arm, names_sched, schedules_doc)
    parts["arm_optimizers"] = {n: s for n, s in optimizers.items() if n in arm_tables}
    optimizers = {n: s for n, s in optimizers.items() if n not in arm_tables}
    with c.part():
        c.need(settings, chosen_arms)
        spec_arms.settings_at_fixed_lr(c, optimizers, arms)
    with c.part():
        parts.update(_lengths(c, st, b))
        c.need(chosen_arms)
        _arms_at_lengths(c, arms, parts["curve_epochs"])
    with c.part():
        parts.update(regime(c, st, b.over, b.name, str(parts.get("primary_metric", st["primary_metric"]))))
    with c.part():
        parts["measured"] = measured(c, b.over, b.name)
    return b, tuner, {**parts, "optimizers": optimizers, "schedules": arms}


def _read(path: Path, doc: dict | None) -> tuple[dict, str]:
    """The study's tables and the sha256 of what they came from."""
    if doc is None:
        return _parse(path)
    return doc, hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _parse(path: Path) -> tuple[dict, str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(path, "(file)", MISSING, f"cannot read: {e.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(path, "(syntax)", MISSING, f"not valid TOML: {e}") from None


def _top(c: Checker, doc) -> dict:
    """The file's top-level keys and its [study] table's; returns that table."""
    c.keys(doc, "", TOP_KEYS, required=("spec_version", "study", "model", "dataset",
                                         "optimizers", "schedules"))
    if doc["spec_version"] != SPEC_VERSION:
        c.fail("spec_version", doc["spec_version"], f"this annealbench reads spec_version {SPEC_VERSION}")
    st = doc["study"]
    c.keys(st, "study", STUDY_KEYS, required=("name", "epochs", "batch_size", "seeds", "primary_metric"))
    return st


def _budgets(c: Checker, doc: dict, st: dict, budget: str, device_type: str):
    """(the [budgets.*] tables, the name of the one being loaded, a Part failed where it is not
    defined), each table's keys checked."""
    budgets = doc.get("budgets", {})
    if not isinstance(budgets, dict):
        c.fail("budgets", budgets, "must be a table of [budgets.NAME] tables")
    for bname, b in budgets.items():
        with c.part():
            c.keys(b, f"budgets.{bname}", BUDGET_KEYS)
    default = None
    with c.part():
        default = default_budget(c, st, budgets)
    if budget == "auto":
        budget = auto_budget(budgets, device_type, default)
    with c.part() as defined:
        if budgets and budget not in budgets:
            c.fail("budgets", budget, f"no such budget; defined: {', '.join(sorted(budgets))}")
    return budgets, budget, defined


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
            "precision": c.str_(st.get("precision", "auto"), "study.precision", set(PRECISIONS))}


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


def find_study(name_or_path: str, experiments_dir: Path = Path("experiments")) -> Path:
    """``smoke`` -> experiments/smoke.toml; an existing path is used as given."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    candidate = experiments_dir / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    known = sorted(q.stem for q in experiments_dir.glob("*.toml")) if experiments_dir.is_dir() else []
    raise SpecError(candidate, "(file)", name_or_path,
                    f"no such study; known: {', '.join(known) or 'none'} (or pass a path to a .toml)")
