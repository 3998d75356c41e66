"""The validated, budget-applied study that ``load_study`` returns: what the grid expands, what
study.json records, and what the tuning file is checked against."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from annealbench.spec import arms as spec_arms
from annealbench.spec.arms import Arm


@dataclass(frozen=True)
class OptimizerSetting:
    type: str
    lrs: tuple[float, ...]
    kwargs: dict
    clip_grad_norm: float | None = None
    article_lr: float | None = None  # the article's own base LR: its untuned comparison row


JUDGED_ON = ("test", "val")


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
    schedules: dict[str, Arm] = field(default_factory=dict)
    plateau: float | None = None  # spec_regime: the fixed LR's largest gain per epoch at a plateau
    reference: dict | None = None  # spec_regime: {level, text, source} of a converged model
    precision: str = "auto"  # asked for; each run's config holds what it resolved to
    tuned_by: str | None = None  # the budget whose seeds chose this budget's base LRs
    tuning: dict | None = None  # that choice: the tuning file's content (annealbench.spec.tuning)
    tuning_runs_sha256: str | None = None  # budgets.runs_sha256 of that tuning budget
    baseline: str | None = None  # the arm every other is compared with (spec.arms.baseline)
    arm_optimizers: dict[str, OptimizerSetting] = field(default_factory=dict)  # arms' own optimizers
    measured: dict | None = None  # spec.measured: the per-epoch time this budget was measured at
    judged_on: str = "test"  # the held-out split the verdicts are judged on (JUDGED_ON)

    def to_dict(self) -> dict:
        d = {**asdict(self), "schedules": {n: a.plain() for n, a in self.schedules.items()},
             **self.arms_description()}
        for optional in ("arm_optimizers", "measured"):  # only where set: other studies' study.json as before
            if not d[optional]:
                del d[optional]
        return d

    def arms_description(self) -> dict:
        """{"baseline": NAME, "arms": {NAME: {role, optimizer, evaluate, anytime}}} (study.json)."""
        return spec_arms.description(self.baseline, self.schedules, self.arm_optimizers)

    def optimizer_of(self, setting: str, arm: Arm) -> OptimizerSetting:
        """What ``arm`` trains with in optimizer setting ``setting``: its own table, else the setting."""
        return self.arm_optimizers[arm.optimizer] if arm.optimizer else self.optimizers[setting]

    def training_arms(self) -> list[Arm]:
        """The arms with runs of their own (an arm with ``evaluate`` rides on its host's)."""
        return [a for a in self.schedules.values() if a.evaluate is None]

    def riders(self, host: Arm) -> dict[str, dict]:
        """{arm: resolved evaluate rule} of the averaging arms riding on ``host``'s runs."""
        return {n: a.evaluate for n, a in self.schedules.items() if host.hosts(a)}

    def host(self, arm: Arm) -> Arm:
        """The arm whose runs an arm is measured on: its host for an averaging arm, else itself."""
        return arm if arm.evaluate is None else spec_arms.host_of(arm, self.schedules)
