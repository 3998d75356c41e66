"""Arms: the protocols a study compares. An arm is a [schedules.NAME] table: a schedule (type,
kwargs, interval), and optionally the optimizer it trains with (``optimizer = "TABLE"``), how it is
evaluated (``evaluate = {...}``: averaged weights of its host's trajectory) and which question it
answers (``role``).

The fixed LR every other arm is compared with is one declared arm, ``[study] baseline``
(:func:`baseline`), so no code compares a schedule's type with the fixed LR's own elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from annealbench.errors import MISSING
from annealbench.spec.checker import Checker

FIXED_TYPE = "constant"  # the registered schedule type of the fixed LR
ARM_KEYS = ("optimizer", "evaluate", "role")  # keys of a [schedules.NAME] table that are not the schedule's
ROLES = ("anneal", "alternative")
# Each average's keys besides ``average``, with their defaults.
AVERAGES = {"ema": {"decay": 0.999, "bn_batches": 16},
            "uniform": {"start": {"frac": 0.5}, "bn_batches": 16}}
# Optimizer types whose evaluated point at a fixed LR needs no annealing: one full-length run is
# evaluated at every length (the optimizer registry names them).
SCHEDULE_FREE_TYPES = ("schedulefree-adamw", "schedulefree-sgd")


@dataclass(frozen=True)
class Arm:
    name: str
    type: str
    kwargs: dict
    interval: str
    optimizer: str | None = None  # an [optimizers.TABLE] trained instead of the setting's
    evaluate: dict | None = None  # resolved averaging rule: the arm rides on its host's runs
    role: str = "anneal"
    bn_batches: int = 0  # a schedule-free arm's own evaluated point: BatchNorm recomputed over N batches

    @property
    def length_independent(self) -> bool:
        """Whether the arm's evaluated point at an epoch does not depend on the run's length: one
        full-length run holds every shorter run's measurements. An average that starts at a
        fraction of the run (SWA's second half) does depend on it: at epoch 6 of a 12-epoch run it
        has only just begun, while a 6-epoch run has averaged since epoch 3."""
        start = (self.evaluate or {}).get("start")
        return self.type == FIXED_TYPE and not isinstance(start, dict)

    def plain(self) -> dict:
        """What makes the arm's runs (study.json, the tuning file's runs_sha256); the arm keys only
        where set, so a study without them hashes as before."""
        d = {"type": self.type, "kwargs": self.kwargs, "interval": self.interval}
        d.update({k: getattr(self, k) for k in ("optimizer", "evaluate") if getattr(self, k) is not None})
        if self.bn_batches:
            d["bn_batches"] = self.bn_batches
        return d

    def hosts(self, rider: Arm) -> bool:
        """Whether ``rider``'s averaged weights come from this arm's runs: this arm trains plain
        weights with the same schedule and optimizer."""
        return self.evaluate is None and rider.evaluate is not None and \
            (self.type, self.kwargs, self.interval, self.optimizer) == \
            (rider.type, rider.kwargs, rider.interval, rider.optimizer)


def host_of(rider: Arm, arms: dict) -> Arm | None:
    return next((a for a in arms.values() if a.hosts(rider)), None)


def arm_keys(c: Checker, table: dict, where: str, optimizers_doc: dict) -> dict:
    """The arm keys of one [schedules.NAME] table, checked, with their defaults."""
    out = {}
    if "optimizer" in table:
        v = table["optimizer"]
        if not isinstance(v, str) or v not in optimizers_doc:
            c.fail(f"{where}.optimizer", v, "must name an [optimizers.NAME] table of this file; defined: "
                   f"{', '.join(sorted(optimizers_doc))}")
        out["optimizer"] = v
    if isinstance(table.get("evaluate"), dict) and set(table["evaluate"]) == {"bn_batches"}:
        out["bn_batches"] = _own_point(c, table, where, optimizers_doc)
    elif "evaluate" in table:
        out["evaluate"] = evaluate(c, table["evaluate"], f"{where}.evaluate")
    _fixed_lr_only(c, table, where, optimizers_doc)
    default = "alternative" if out else "anneal"
    out["role"] = c.str_(table.get("role", default), f"{where}.role", set(ROLES))
    return out


def _schedule_free(table: dict, optimizers_doc: dict) -> bool:
    opt = optimizers_doc.get(table.get("optimizer"))
    return isinstance(opt, dict) and opt.get("type") in SCHEDULE_FREE_TYPES


def _own_point(c: Checker, table: dict, where: str, optimizers_doc: dict) -> int:
    """``evaluate = { bn_batches = N }``: a schedule-free arm evaluated at its own averaged point
    (no average of its own), BatchNorm statistics recomputed there over N training batches."""
    v = table["evaluate"]
    if not _schedule_free(table, optimizers_doc):
        c.fail(f"{where}.evaluate", v, "needs average = \"ema\" | \"uniform\"; bn_batches alone is for an "
               f"arm whose optimizer table has type {' or '.join(SCHEDULE_FREE_TYPES)}")
    return c.int_(v["bn_batches"], f"{where}.evaluate.bn_batches", 0)


def _fixed_lr_only(c: Checker, table: dict, where: str, optimizers_doc: dict) -> None:
    """A schedule-free optimizer averages its own iterates in place of an LR decay: it runs at
    the fixed LR."""
    type_ = table.get("type", where.split(".", 1)[1])  # where: schedules.NAME
    if _schedule_free(table, optimizers_doc) and type_ != FIXED_TYPE:
        c.fail(f"{where}.type", type_, f"must be {FIXED_TYPE!r} with optimizer {table['optimizer']!r} "
               "(schedule-free: its iterate average replaces the LR decay, so it runs at a fixed LR)")


def settings_at_fixed_lr(c: Checker, settings: dict, arms: dict) -> None:
    """A schedule-free optimizer setting trains every arm without an optimizer of its own: each must
    be at the fixed LR."""
    for n, setting in settings.items():
        decaying = [a.name for a in arms.values() if a.optimizer is None and a.type != FIXED_TYPE]
        if setting.type in SCHEDULE_FREE_TYPES and decaying:
            c.fail(f"optimizers.{n}.type", setting.type, f"runs at a fixed LR, and as a setting it would "
                   f"train {', '.join(decaying)} too: give it to a {FIXED_TYPE} arm instead "
                   f"([schedules.NAME] with optimizer = \"{n}\")")


def evaluate(c: Checker, v, where: str) -> dict:
    """An arm's ``evaluate`` table, resolved: every key of its average, defaults filled in."""
    if not isinstance(v, dict):
        c.fail(where, v, 'must be a table { average = "ema" | "uniform", ... }')
    average = v.get("average", MISSING)
    if average not in AVERAGES:
        c.fail(f"{where}.average", average, f"allowed: {', '.join(AVERAGES)}")
    c.keys(v, where, {"average", *AVERAGES[average]})
    rule = {"average": average, **AVERAGES[average], **v}
    if "decay" in rule:
        d = rule["decay"]
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d < 1:
            c.fail(f"{where}.decay", d, "must be a number in (0, 1) (the weight the average keeps at "
                                        "each step)")
        rule["decay"] = float(d)
    if "start" in rule:
        rule["start"] = _start(c, rule["start"], f"{where}.start")
    c.int_(rule["bn_batches"], f"{where}.bn_batches", 0)
    return {k: rule[k] for k in ("average", *AVERAGES[average])}


def start_step(rule: dict, epochs: int, steps_per_epoch: int) -> int | None:
    """The optimizer step after which a uniform average begins (it averages the weights after every
    later step); None for an EMA, which averages from the initial weights on."""
    start = rule.get("start") if rule["average"] == "uniform" else None
    if start is None:
        return None
    if isinstance(start, int):
        return start * steps_per_epoch
    return int(start["frac"] * epochs * steps_per_epoch)


def _start(c: Checker, v, where: str):
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    f = v.get("frac") if isinstance(v, dict) and set(v) == {"frac"} else None
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
        c.fail(where, v, "must be { frac = F } with F in [0, 1) (a fraction of the run) or an epoch "
                         "(an integer >= 0)")
    return {"frac": float(f)}


def check_starts(c: Checker, arms: dict, shortest: int) -> None:
    """A uniform average that starts at an epoch must start before the shortest run ends."""
    for n, a in arms.items():
        start = (a.evaluate or {}).get("start")
        if isinstance(start, int) and start >= shortest:
            c.fail(f"schedules.{n}.evaluate.start", start, f"must be an epoch < {shortest} (the shortest "
                   "run of the budget curve), or { frac = F } with F in [0, 1)")


def baseline(c: Checker, st: dict, arms: dict) -> str | None:
    """The arm every other is compared with: ``[study] baseline``, else the one fixed-LR arm
    (schedule type constant, no optimizer, no evaluate) of the file, or None where it has none."""
    name = st.get("baseline")
    if name is not None:
        if not isinstance(name, str) or name not in arms:
            c.fail("study.baseline", name, "must name a [schedules.NAME] arm of this file; defined: "
                   f"{', '.join(sorted(arms))}")
        if arms[name].evaluate is not None:
            c.fail("study.baseline", name, "an arm with evaluate has no runs of its own; name an arm "
                                           "that trains")
        return name
    fixed = [n for n, a in arms.items()
             if a.type == FIXED_TYPE and a.optimizer is None and a.evaluate is None]
    if len(fixed) <= 1:  # none: a study of schedules alone, which the report shows without contrasts
        return fixed[0] if fixed else None
    c.fail("study.baseline", MISSING, "required when the file has several fixed-LR arms (type "
           f"{FIXED_TYPE}, no optimizer, no evaluate: {', '.join(fixed)}): name the arm every other "
           "is compared with, e.g. baseline = \"constant\"")


def anytime(arm: Arm, optimizer_type: str) -> bool:
    """One full-length run answers every length: a schedule-free optimizer at the fixed LR."""
    return arm.length_independent and optimizer_type in SCHEDULE_FREE_TYPES


def description(baseline_name: str | None, arms: dict, arm_optimizers: dict) -> dict:
    """{"baseline": NAME, "arms": {NAME: {role, optimizer, evaluate, anytime}}} for study.json."""
    def one(a: Arm) -> dict:
        opt = arm_optimizers.get(a.optimizer)
        return {"role": a.role, "optimizer": a.optimizer, "evaluate": a.evaluate,
                "anytime": opt is not None and anytime(a, opt.type)}

    return {"baseline": baseline_name, "arms": {n: one(a) for n, a in arms.items()}}


# The name the rest of spec/ knew the arm by.
ScheduleArm = Arm
