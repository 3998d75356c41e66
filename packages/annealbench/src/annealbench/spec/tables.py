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


def optimizer(c: Checker, table, where, keys: set, builtin: dict) -> tuple:
    """(type, lrs, kwargs, clip_grad_norm, article_lr) of one [optimizers.NAME] table.

    ``keys``: the table keys that are not optimizer kwargs; ``builtin``: name -> the kwargs each
    built-in optimizer takes."""
    if isinstance(table, dict) and is_path(table.get("type")):
        type_, kwargs = _user_optimizer(c, table, where, keys)
    else:
        type_, kwargs = _builtin_optimizer(c, table, where, keys, builtin)
    clip = table.get("clip_grad_norm")
    article = table.get("article_lr")
    return (type_, c.lrs(table["lrs"], f"{where}.lrs"), kwargs,
            None if clip is None else c.pos_float(clip, f"{where}.clip_grad_norm"),
            None if article is None else c.pos_float(article, f"{where}.article_lr"))


def _user_optimizer(c: Checker, table, where, keys) -> tuple[str, dict]:
    """A torch.optim.Optimizer subclass by import path: its kwargs checked against its signature,
    and one step taken on a tiny parameter at each LR."""
    from annealbench.optim import check_user_optimizer

    c.keys(table, where, set(table), required=("type", "lrs"))
    type_ = table["type"]
    kwargs = {k: v for k, v in table.items() if k not in keys}
    problem = check_user_optimizer(type_, kwargs, c.lrs(table["lrs"], f"{where}.lrs"))
    if problem is not None and problem.field is None:
        c.fail(f"{where}.type", type_, problem.phrase)
    if problem is not None:
        c.fail(f"{where}.{problem.field}", kwargs.get(problem.field, MISSING), problem.phrase)
    return type_, kwargs


def _builtin_optimizer(c: Checker, table, where, keys, builtin) -> tuple[str, dict]:
    c.keys(table, where, keys | set().union(*builtin.values()),
           required=("type", "lrs"))
    type_ = c.str_(table["type"], f"{where}.type")
    if type_ not in builtin:
        c.fail(f"{where}.type", type_, f"allowed: {', '.join(sorted(builtin))}, or "
                                      "'package.module:Class' (a torch.optim.Optimizer subclass)")
    kwargs = {k: v for k, v in table.items() if k not in keys}
    for k, v in kwargs.items():
        if k not in builtin[type_]:
            c.fail(f"{where}.{k}", v, f"{type_} takes {', '.join(sorted(builtin[type_]))}")
        if k in {"momentum", "weight_decay", "dampening"} and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1e3
                or (k == "momentum" and v >= 1)):
            c.fail(f"{where}.{k}", v, "must be a number >= 0" + (" and < 1" if k == "momentum" else ""))
        if k in {"nesterov", "amsgrad"} and not isinstance(v, bool):
            c.fail(f"{where}.{k}", v, "must be true or false")
        if k == "eps":
            c.pos_float(v, f"{where}.{k}")
        if k == "betas" and not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in v)):
            c.fail(f"{where}.{k}", v, "must be two numbers in [0, 1)")
    if kwargs.get("nesterov") and not kwargs.get("momentum"):
        c.fail(f"{where}.nesterov", True, "needs momentum > 0")
    return type_, kwargs


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
