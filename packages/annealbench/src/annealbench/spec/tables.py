"""Checks of a study's [model], [dataset], [optimizers.NAME] and [schedules.NAME] tables, for load_study,
and which of them a budget runs.

Each takes a registered name or a user's "package.module:attribute" import path; for a path, the
object's own signature says which keys the table may hold.
"""

from __future__ import annotations

from dataclasses import replace

from annealbench.errors import MISSING, WHOLE, Problem
from annealbench.spec import arms as spec_arms
from annealbench.spec.arms import ARM_KEYS, Arm
from annealbench.spec.budgets import Budget
from annealbench.spec.checker import Checker, did_you_mean
from annealbench.spec.study import OptimizerSetting
from annealbench.user_code import Registry, is_path

OPTIMIZER_KEYS = {"type", "lrs", "clip_grad_norm", "article_lr"}  # the rest of the table: kwargs


def schedule_problem(c: Checker, where: str, type_: str, kwargs: dict, problem: Problem):
    """Raise the SpecError of a [schedules.NAME] arm at the field its problem names."""
    from annealbench import schedules

    key = problem.field
    if key is None:
        c.fail(f"{where}.type", type_, problem.phrase + _hint(type_, schedules.available()))
    if key == WHOLE:
        c.fail(where, kwargs, problem.phrase)
    if key not in kwargs:  # a required kwarg the arm lacks
        c.fail(f"{where}.{key}", MISSING, f"{type_} {problem.phrase}")
    c.fail(f"{where}.{key}", kwargs[key], f"{type_}: {problem.phrase}")


def optimizer(c: Checker, table, where, keys: set) -> tuple:
    """(type, lrs, kwargs, clip_grad_norm, article_lr) of one [optimizers.NAME] table: a built-in
    by name or a torch.optim.Optimizer subclass by import path, both looked up and checked by
    ``optim.REGISTRY``; a class by path then takes one step on a tiny parameter at each LR.

    ``keys``: the table keys that are not optimizer kwargs."""
    from annealbench import optim

    path = isinstance(table, dict) and is_path(table.get("type"))
    # a class by path: its signature says which kwargs it takes; a built-in: the registry's list
    # for its type (any built-in's while the type is not one)
    builtin = optim.BUILTIN.get(table.get("type")) if isinstance(table, dict) and \
        isinstance(table.get("type"), str) else None
    kwargs_ = builtin.kwargs if builtin else set().union(*(e.kwargs for e in optim.BUILTIN.values()))
    allowed = set(table) if path else keys | kwargs_
    c.keys(table, where, allowed, required=("type", "lrs"))
    type_ = c.str_(table["type"], f"{where}.type")
    kwargs = {k: v for k, v in table.items() if k not in keys}
    if path:  # the LRs first: the one-step trial takes a step at each
        lrs = c.lrs(table["lrs"], f"{where}.lrs")
        _fail_at(c, where, type_, kwargs, optim.REGISTRY.find_problem(type_, kwargs)
                 or optim.step_problem(type_, kwargs, lrs))
    else:
        _fail_at(c, where, type_, kwargs, optim.REGISTRY.find_problem(type_, kwargs))
        lrs = c.lrs(table["lrs"], f"{where}.lrs")
    clip = table.get("clip_grad_norm")
    article = table.get("article_lr")
    return (type_, lrs, kwargs,
            None if clip is None else c.pos_float(clip, f"{where}.clip_grad_norm"),
            None if article is None else c.pos_float(article, f"{where}.article_lr"))


def _fail_at(c: Checker, where: str, type_: str, kwargs: dict, problem: Problem | None) -> None:
    """Raise the SpecError of an [optimizers.NAME] table at the field its problem names (None: the
    type; a kwarg the table lacks is a required one)."""
    from annealbench import optim

    if problem is not None and problem.field is None:
        c.fail(f"{where}.type", type_, problem.phrase + _hint(type_, optim.BUILTIN))
    if problem is not None:
        c.fail(f"{where}.{problem.field}", kwargs.get(problem.field, MISSING), problem.phrase)


def _hint(name: str, registered) -> str:
    """The did-you-mean of a misspelt registered name (none for an import path)."""
    return "" if is_path(name) else did_you_mean(name, registered)


def component(c: Checker, table, where, registry: Registry, override=(), override_where=""):
    """A [model] or [dataset] table: a registered ``name`` or a "package.module:callable" import
    path (both looked up and checked by ``registry``), plus that component's kwargs.

    ``override``: keys the budget set (``override_where``), so a message names the field written.
    """
    def field_(k):
        return f"{override_where}.{k}" if k in override else f"{where}.{k}"

    if not isinstance(table, dict) or "name" not in table:
        c.fail(where, table, "must be a table with a 'name'")
    name = c.str_(table["name"], field_("name"))
    kwargs = {k: v for k, v in table.items() if k != "name"}
    if is_path(name):  # the user's callable: its signature says what it takes
        problem = registry.find_problem(name, kwargs)
        if problem is not None and problem.field is None:
            c.fail(field_("name"), name, problem.phrase)
        if problem is not None:  # a kwarg the table lacks is a required one
            c.fail(field_(problem.field), kwargs.get(problem.field, MISSING), f"{name} {problem.phrase}")
        return name, kwargs
    if name not in registry.entries:
        c.fail(field_("name"), name, f"allowed: {', '.join(sorted(registry.entries))}, or a "
                                     f"'package.module:callable' import path{_hint(name, registry.entries)}")
    for k, v in kwargs.items():  # one key at a time, so the message names the field
        problem = registry.check(name, {k: v})
        if problem:
            c.fail(field_(k), v, f"{name} {problem}")
    problem = registry.check(name, kwargs)
    if problem:
        c.fail(where, kwargs, f"{name} {problem}")
    return name, kwargs


def arm_optimizer_tables(schedules_doc: dict, optimizers_doc: dict) -> set:
    """The [optimizers.NAME] tables an arm names in ``optimizer``: an arm's, not settings."""
    return {t["optimizer"] for t in schedules_doc.values()
            if isinstance(t, dict) and isinstance(t.get("optimizer"), str)} & set(optimizers_doc)


def chosen(c: Checker, b: Budget, optimizers_doc: dict, schedules_doc: dict,
           arm_tables: set) -> tuple[list, list]:
    """The optimizer settings and arms the budget runs (default: all), with the optimizer tables
    of the chosen arms."""
    settings = [n for n in optimizers_doc if n not in arm_tables]
    where = f"budgets.{b.name}.optimizers"
    names_opt, names_sched = [], []
    with c.part():
        names_opt = _settings_chosen(c, b, where, optimizers_doc, arm_tables, settings)
    with c.part():
        if not settings:
            c.fail("optimizers", sorted(optimizers_doc), "must define at least one setting: an "
                   "[optimizers.NAME] table that no arm names in optimizer")
    with c.part():
        names_sched = c.names(b.over["schedules"], f"budgets.{b.name}.schedules", schedules_doc) \
            if "schedules" in b.over else list(schedules_doc)
    own = {schedules_doc[n].get("optimizer") for n in names_sched if isinstance(schedules_doc[n], dict)}
    return names_opt + sorted(arm_tables & own), names_sched


def _settings_chosen(c: Checker, b: Budget, where: str, optimizers_doc: dict, arm_tables: set,
                     settings: list) -> list:
    """The optimizer settings the budget names (default: all), none of them an arm's optimizer."""
    names = c.names(b.over["optimizers"], where, optimizers_doc) if "optimizers" in b.over else settings
    for n in names:
        if n in arm_tables:
            c.fail(where, n, f"[optimizers.{n}] is an arm's optimizer (a [schedules.NAME] table names it "
                   f"in optimizer), not a setting; settings: {', '.join(settings) or 'none'}")
    return names


def optimizers(c: Checker, optimizers_doc: dict, b: Budget, chosen: list) -> dict[str, OptimizerSetting]:
    """Every [optimizers.NAME] table validated (the budget's LRs over its own), the chosen returned."""
    with c.part():
        c.keys(b.over.get("lrs", {}), f"budgets.{b.name}.lrs", set(optimizers_doc))
    # A budget may leave the article's untuned row to other budgets (issue 15's reference: the
    # row costs a third more runs when article_lr is outside the grid worth tuning over).
    article_row = b.over.get("article_row", True)
    with c.part():
        if not isinstance(article_row, bool):
            c.fail(f"budgets.{b.name}.article_row", article_row,
                   "must be true (train the article's untuned LR row) or false (leave it out)")
    optimizers = {}
    for n in optimizers_doc:  # validate every table, run only the budget's
        with c.part():
            _setting(c, optimizers_doc, b, n, optimizers if n in chosen else {})
    return optimizers


def _setting(c: Checker, optimizers_doc: dict, b: Budget, n: str, into: dict) -> None:
    """One [optimizers.NAME] table (the budget's LRs over its own), put ``into`` when valid."""
    lr_over = b.over.get("lrs", {})
    setting = OptimizerSetting(*optimizer(c, optimizers_doc[n], f"optimizers.{n}", OPTIMIZER_KEYS))
    if n in lr_over:
        setting = replace(setting, lrs=c.lrs(lr_over[n], f"budgets.{b.name}.lrs.{n}"))
    if b.over.get("article_row", True) is False:
        setting = replace(setting, article_lr=None)
    if setting.article_lr is not None and setting.article_lr not in setting.lrs:
        where = f"budgets.{b.name}.lrs.{n}" if n in lr_over else f"optimizers.{n}.lrs"
        c.fail(where, list(setting.lrs), f"must include article_lr {setting.article_lr:g} "
               "(the article's own LR is compared untuned, from the same runs)")
    into[n] = setting


def every_arm(c: Checker, schedules_doc: dict, optimizers_doc: dict) -> dict[str, Arm]:
    """Every [schedules.NAME] arm of the file, validated."""
    arms = {}
    for n in schedules_doc:
        with c.part():
            arms[n] = _arm(c, n, schedules_doc[n], f"schedules.{n}", optimizers_doc)
    return arms


def arms(c: Checker, every: dict, chosen: list, schedules_doc: dict) -> dict[str, Arm]:
    """The arms the budget runs; each averaging arm among them has its host."""
    chosen_arms = {n: arm for n, arm in every.items() if n in chosen}
    for n, arm in chosen_arms.items():
        if arm.evaluate is not None and spec_arms.host_of(arm, chosen_arms) is None:
            c.fail(f"schedules.{n}.evaluate", schedules_doc[n]["evaluate"],
                   "averages the weights of a plain arm with the same schedule and optimizer (its "
                   "host), and the runs have none: add one (the same keys without evaluate and role)")
    return chosen_arms


def _arm(c: Checker, name: str, table, where: str, optimizers_doc: dict) -> Arm:
    from annealbench import schedules

    if not isinstance(table, dict):
        c.fail(where, table, "must be a table")
    type_ = table.get("type", name)
    c.str_(type_, f"{where}.type")
    interval = table.get("interval", None)
    kwargs = {k: v for k, v in table.items() if k not in {"type", "interval", *ARM_KEYS}}
    problem = schedules.find_problem(type_, kwargs)
    if problem is not None:
        schedule_problem(c, where, type_, kwargs, problem)
    if interval is None:
        interval = schedules.default_interval(type_)
    c.str_(interval, f"{where}.interval", set(schedules.INTERVALS))
    problem = schedules.check(type_, kwargs, interval=interval)  # e.g. plateau stepped per step
    if problem:
        c.fail(f"{where}.interval", interval, problem)
    return Arm(name, type_, kwargs, interval, **spec_arms.arm_keys(c, table, where, optimizers_doc))
