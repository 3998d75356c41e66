"""Checks of a study's [model], [dataset], [optimizers.NAME] and [schedules.NAME] tables, for load_study.

Each takes a registered name or a user's "package.module:attribute" import path; for a path, the
object's own signature says which keys the table may hold.
"""

from __future__ import annotations

from annealbench.errors import MISSING, WHOLE, Problem
from annealbench.spec.checker import Checker
from annealbench.user_code import Registry, is_path


def schedule_problem(c: Checker, where: str, type_: str, kwargs: dict, problem: Problem):
    """Raise the SpecError of a [schedules.NAME] arm at the field its problem names."""
    key = problem.field
    if key is None:
        c.fail(f"{where}.type", type_, problem.phrase)
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
    # a class by path: its signature says which kwargs it takes; a built-in: the registry's lists
    allowed = set(table) if path else keys | set().union(*(e.kwargs for e in optim.BUILTIN.values()))
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
    if problem is not None and problem.field is None:
        c.fail(f"{where}.type", type_, problem.phrase)
    if problem is not None:
        c.fail(f"{where}.{problem.field}", kwargs.get(problem.field, MISSING), problem.phrase)


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
                                     "'package.module:callable' import path")
    for k, v in kwargs.items():  # one key at a time, so the message names the field
        problem = registry.check(name, {k: v})
        if problem:
            c.fail(field_(k), v, f"{name} {problem}")
    problem = registry.check(name, kwargs)
    if problem:
        c.fail(where, kwargs, f"{name} {problem}")
    return name, kwargs
