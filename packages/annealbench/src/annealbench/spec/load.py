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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from annealbench.errors import MISSING, SpecError
from annealbench.precision import PRECISIONS
from annealbench.spec import tables as spec_tables
from annealbench.spec.budgets import (
    auto_budget,
    budget_curve,
    check_lengths,
    runs_sha256,
    same_runs,
    tuned_by,
)
from annealbench.spec.checker import Checker
from annealbench.spec.regime import REGIME_BUDGET_KEYS, REGIME_STUDY_KEYS, regime

SPEC_VERSION = 1
BUDGET_KEYS = {"epochs", "seeds", "schedules", "optimizers", "batch_size", "dataset", "model", "lrs",
               "target", "budget_curve", "tuned_by", "article_row"}
STUDY_KEYS = {"name", "description", "primary_metric", "epochs", "batch_size", "seeds",
              "eval_test", "target", "notes", "min_effect", "budget_curve", "precision"}
OPTIMIZER_KEYS = {"type", "lrs", "clip_grad_norm", "article_lr"}
TOP_KEYS = {"spec_version", "study", "model", "dataset", "optimizers", "schedules", "budgets"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STUDY_KEYS |= REGIME_STUDY_KEYS  # the training regime (plateau, reference): spec_regime.py
BUDGET_KEYS |= REGIME_BUDGET_KEYS


@dataclass(frozen=True)
class OptimizerSetting:
    type: str
    lrs: tuple[float, ...]
    kwargs: dict
    clip_grad_norm: float | None = None
    article_lr: float | None = None  # the article's own base LR: its untuned comparison row


@dataclass(frozen=True)
class ScheduleArm:
    type: str
    kwargs: dict
    interval: str


@dataclass(frozen=True)
class Study:
    file: str
    spec_sha256: str
    name: str
    description: str
    notes: str
    budget: str
    primary_metric: str
    metric_directions: dict
    target: float | None
    min_effect: float | None  # smallest effect of interest, in primary-metric units
    budget_curve: tuple[float, ...]  # fractions of the run each schedule is also annealed to
    curve_epochs: tuple[int, ...]  # those fractions as epochs (the last is ``epochs``)
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    eval_test: str
    model: str
    model_kwargs: dict
    dataset: str
    dataset_kwargs: dict
    optimizers: dict[str, OptimizerSetting] = field(default_factory=dict)
    schedules: dict[str, ScheduleArm] = field(default_factory=dict)
    plateau: float | None = None  # spec_regime: the fixed LR's largest gain per epoch at a plateau
    reference: dict | None = None  # spec_regime: {level, text, source} of a converged model
    precision: str = "auto"  # asked for; each run's config holds what it resolved to
    tuned_by: str | None = None  # the budget whose seeds chose this budget's base LRs
    tuning: dict | None = None  # that choice: the tuning file's content (annealbench.spec.tuning)
    tuning_runs_sha256: str | None = None  # budgets.runs_sha256 of that tuning budget

    def to_dict(self) -> dict:
        return asdict(self)


def _parse(path: Path) -> tuple[dict, str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(path, "(file)", MISSING, f"cannot read: {e.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(path, "(syntax)", MISSING, f"not valid TOML: {e}") from None


def _optimizer(c: Checker, name, table, where) -> OptimizerSetting:
    return OptimizerSetting(*spec_tables.optimizer(c, table, where, OPTIMIZER_KEYS))


def _schedule(c: Checker, name, table, where) -> ScheduleArm:
    from annealbench import schedules

    if not isinstance(table, dict):
        c.fail(where, table, "must be a table")
    type_ = table.get("type", name)
    c.str_(type_, f"{where}.type")
    interval = table.get("interval", None)
    kwargs = {k: v for k, v in table.items() if k not in {"type", "interval"}}
    problem = schedules.find_problem(type_, kwargs)
    if problem is not None:
        spec_tables.schedule_problem(c, where, type_, kwargs, problem)
    if interval is None:
        interval = schedules.default_interval(type_)
    c.str_(interval, f"{where}.interval", set(schedules.INTERVALS))
    problem = schedules.check(type_, kwargs, interval=interval)  # e.g. plateau stepped per step
    if problem:
        c.fail(f"{where}.interval", interval, problem)
    return ScheduleArm(type_, kwargs, interval)


def load_study(path, budget: str = "quick", data_dir=None, *, doc: dict | None = None,
               device_type: str = "cpu", with_tuning: bool = True) -> Study:
    """Read, validate and apply ``budget`` ("quick", "full", or any budget the file defines;
    "auto": see ``annealbench.spec.budgets.auto_budget``, for ``device_type``).

    A budget with ``tuned_by`` also gets its tuning file's choices (``with_tuning``; a missing or
    stale file raises TuningError), so that its grid holds the chosen base LRs only.

    ``doc``: the study's tables as a dict instead of reading ``path`` (which then only names it
    in messages). ``data_dir``: where a data set by import path reads from (default as ``run``).
    """
    from annealbench import models, user_code
    from annealbench import tasks as datasets
    from annealbench.models import MODELS
    from annealbench.spec import preflight
    from annealbench.tasks import DATASETS

    path = Path(path)
    if doc is None:
        doc, sha = _parse(path)
    else:
        sha = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
    c = Checker(path)
    if isinstance(doc, dict) and preflight.uses_user_code(doc):
        user_code.add_search_folder(path.parent)  # user code next to the study is found (user_code.py)
    c.keys(doc, "", TOP_KEYS, required=("spec_version", "study", "model", "dataset",
                                         "optimizers", "schedules"))
    if doc["spec_version"] != SPEC_VERSION:
        c.fail("spec_version", doc["spec_version"], f"this annealbench reads spec_version {SPEC_VERSION}")
    st = doc["study"]
    c.keys(st, "study", STUDY_KEYS, required=("name", "epochs", "batch_size", "seeds", "primary_metric"))

    budgets = doc.get("budgets", {})
    if not isinstance(budgets, dict):
        c.fail("budgets", budgets, "must be a table of [budgets.NAME] tables")
    for bname, b in budgets.items():
        c.keys(b, f"budgets.{bname}", BUDGET_KEYS)
    if budget == "auto":
        budget = auto_budget(budgets, device_type)
    if budgets and budget not in budgets:
        c.fail("budgets", budget, f"no such budget; defined: {', '.join(sorted(budgets))}")
    over = budgets.get(budget, {})
    tuner = tuned_by(c, st, budgets, budget)
    for part in ("model", "dataset", "lrs"):
        if part in over and not isinstance(over[part], dict):
            c.fail(f"budgets.{budget}.{part}", over[part], "must be a table (keys override the study's)")

    optimizers_doc = doc["optimizers"]
    if not isinstance(optimizers_doc, dict) or not optimizers_doc:
        c.fail("optimizers", optimizers_doc, "must define at least one [optimizers.NAME] table")
    schedules_doc = doc["schedules"]
    if not isinstance(schedules_doc, dict) or not schedules_doc:
        c.fail("schedules", schedules_doc, "must define at least one [schedules.NAME] table")

    model_doc = {**doc["model"], **over.get("model", {})} if isinstance(doc["model"], dict) else doc["model"]
    dataset_doc = ({**doc["dataset"], **over.get("dataset", {})}
                   if isinstance(doc["dataset"], dict) else doc["dataset"])
    dataset, dataset_kwargs = spec_tables.component(c, dataset_doc, "dataset", datasets.REGISTRY,
                                                    over.get("dataset", {}), f"budgets.{budget}.dataset")
    info = DATASETS.get(dataset)  # None for a data set by import path: preflight reads it
    if info is not None and isinstance(model_doc, dict) and model_doc.get("name") in MODELS and \
            model_doc["name"] not in info.models:
        c.fail("model.name", model_doc["name"], f"{dataset} works with {', '.join(sorted(info.models))}")
    model, model_kwargs = spec_tables.component(c, model_doc, "model", models.REGISTRY,
                                                over.get("model", {}), f"budgets.{budget}.model")

    directions = dict(info.metrics) if info is not None else {}
    primary = c.str_(st["primary_metric"], "study.primary_metric",
                     set(directions) if info is not None else None)
    # what counts as converged depends on how long a budget trains, so a budget may set its own
    target_field = f"budgets.{budget}.target" if "target" in over else "study.target"
    target = over.get("target", st.get("target"))
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                               or target != target or abs(target) == float("inf")):
        c.fail(target_field, target, "must be a finite number (the validation value of the primary "
                                     "metric that counts as converged)")
    eval_test = c.str_(st.get("eval_test", "final"), "study.eval_test", {"final", "every"})
    precision = c.str_(st.get("precision", "auto"), "study.precision", set(PRECISIONS))

    names_opt = c.names(over["optimizers"], f"budgets.{budget}.optimizers", optimizers_doc) \
        if "optimizers" in over else list(optimizers_doc)
    names_sched = c.names(over["schedules"], f"budgets.{budget}.schedules", schedules_doc) \
        if "schedules" in over else list(schedules_doc)
    lr_over = over.get("lrs", {})
    c.keys(lr_over, f"budgets.{budget}.lrs", set(optimizers_doc))

    # A budget may leave the article's untuned row to other budgets (issue 15's reference: the
    # row costs a third more runs when article_lr is outside the grid worth tuning over).
    article_row = over.get("article_row", True)
    if not isinstance(article_row, bool):
        c.fail(f"budgets.{budget}.article_row", article_row,
               "must be true (train the article's untuned LR row) or false (leave it out)")
    optimizers = {}
    for n in optimizers_doc:  # validate every table, run only the budget's
        setting = _optimizer(c, n, optimizers_doc[n], f"optimizers.{n}")
        if n in lr_over:
            setting = replace(setting, lrs=c.lrs(lr_over[n], f"budgets.{budget}.lrs.{n}"))
        if article_row is False:
            setting = replace(setting, article_lr=None)
        if setting.article_lr is not None and setting.article_lr not in setting.lrs:
            where = f"budgets.{budget}.lrs.{n}" if n in lr_over else f"optimizers.{n}.lrs"
            c.fail(where, list(setting.lrs), f"must include article_lr {setting.article_lr:g} "
                   "(the article's own LR is compared untuned, from the same runs)")
        if n in names_opt:
            optimizers[n] = setting
    arms = {}
    for n in schedules_doc:
        arm = _schedule(c, n, schedules_doc[n], f"schedules.{n}")
        if n in names_sched:
            arms[n] = arm

    epochs_where = f"budgets.{budget}.epochs" if "epochs" in over else "study.epochs"
    epochs = c.int_(over.get("epochs", st["epochs"]), epochs_where, 1)
    curve, curve_epochs = budget_curve(c, st, over, budget, epochs)
    for e in curve_epochs:
        check_lengths(c, arms, e)
    min_effect = st.get("min_effect")
    if min_effect is not None:
        min_effect = c.pos_float(min_effect, "study.min_effect")
    batch_where = f"budgets.{budget}.batch_size" if "batch_size" in over else "study.batch_size"
    seeds_where = f"budgets.{budget}.seeds" if "seeds" in over else "study.seeds"
    name = c.str_(st["name"], "study.name", pattern=NAME_RE)
    for key in ("description", "notes"):
        if key in st:
            c.str_(st[key], f"study.{key}")
    study = Study(
        file=str(path), spec_sha256=sha, name=name, description=st.get("description", ""),
        notes=st.get("notes", ""), budget=budget, primary_metric=primary,
        metric_directions=directions, target=None if target is None else float(target),
        min_effect=min_effect, budget_curve=curve, curve_epochs=curve_epochs, epochs=epochs,
        batch_size=c.int_(over.get("batch_size", st["batch_size"]), batch_where, 1),
        seeds=c.seeds(over.get("seeds", st["seeds"]), seeds_where),
        eval_test=eval_test, model=model, model_kwargs=model_kwargs, dataset=dataset,
        dataset_kwargs=dataset_kwargs, optimizers=optimizers, schedules=arms, precision=precision,
    )
    study = replace(study, **regime(c, st, over, budget, primary))
    overrides = {part: set(over.get(part, {})) for part in ("model", "dataset")}
    study = preflight.check(c, study, data_dir, preflight.Fields(budget, batch_where, seeds_where, overrides))
    if tuner is None:
        return study
    tuning_runs = load_study(path, tuner, data_dir, doc=doc, device_type=device_type)
    same_runs(c, study, tuning_runs)
    study = replace(study, tuned_by=tuner, tuning_runs_sha256=runs_sha256(tuning_runs))
    if with_tuning:
        from annealbench.spec import tuning

        study = replace(study, tuning=tuning.read(study))
    return study


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
