"""Averaged weights of a run's own trajectory, evaluated beside its weights (the averaging arms
riding on it: config ``averages`` = {arm: rule}, annealbench.spec.arms.evaluate).

- ``ema``: starts at the initial weights; after every optimizer step avg <- decay * avg +
  (1 - decay) * weights.
- ``uniform`` (the tail average of SWA): the mean of the weights after every step later than its
  start (annealbench.spec.arms.start_step); before its first such step it is the run's weights.

At each evaluation the averaged parameters go into a copy of the model (the run's buffers with
them), whose BatchNorm statistics are recomputed over ``bn_batches`` training batches of a fixed
order of its own (the batches of epoch 0, which no run trains on), under a forked RNG: the run's
model, buffers, RNG and data order, and so its own records, are untouched. The averages are part of
the checkpoint and of the states kept for forks; their rows go to the run's ``averages.csv``.
"""

from __future__ import annotations

import copy

import torch

from annealbench.precision import autocast
from annealbench.spec.arms import start_step
from annealbench.store import RunDir

BN_EPOCH = 0  # train_batches(epoch 0, seed): an order of the training set no epoch trains on
_BN = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d, torch.nn.SyncBatchNorm)


class Average:
    """One averaging rule's running average of a model's parameters."""

    def __init__(self, rule: dict, model: torch.nn.Module, start: int | None):
        self.rule = rule
        self.start = start  # None: an EMA
        self.params = [p.detach().clone() for p in model.parameters()]
        self.n = 0  # steps averaged (uniform)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """After optimizer step ``step`` (1 = the run's first)."""
        params = [p.detach() for p in model.parameters()]
        if self.start is None:
            torch._foreach_lerp_(self.params, params, 1.0 - self.rule["decay"])
        elif step > self.start:
            self.n += 1
            for a, p in zip(self.params, params):
                a.add_(p - a, alpha=1.0 / self.n) if self.n > 1 else a.copy_(p)

    def weights(self, model: torch.nn.Module) -> list[torch.Tensor]:
        if self.start is not None and self.n == 0:
            return [p.detach() for p in model.parameters()]
        return self.params

    def state_dict(self) -> dict:
        return {"params": [p.clone() for p in self.params], "n": self.n}

    def load_state_dict(self, d: dict) -> None:
        if len(d["params"]) != len(self.params):
            raise ValueError("averaged state of another model")
        for a, p in zip(self.params, d["params"]):
            a.copy_(p)
        self.n = int(d["n"])


class Averages:
    """The averages a run carries, by arm."""

    def __init__(self, by_arm: dict[str, Average]):
        self.by_arm = by_arm

    @classmethod
    def of(cls, cfg: dict, model: torch.nn.Module, steps_per_epoch: int) -> Averages | None:
        """None for a run that carries none (the common case: nothing per step)."""
        rules = cfg.get("averages") or {}
        if not rules:
            return None
        return cls({arm: Average(rule, model, start_step(rule, cfg["epochs"], steps_per_epoch))
                    for arm, rule in sorted(rules.items())})

    def update(self, model: torch.nn.Module, step: int) -> None:
        for a in self.by_arm.values():
            a.update(model, step)

    def state_dict(self) -> dict:
        return {arm: a.state_dict() for arm, a in self.by_arm.items()}

    def load_state_dict(self, d: dict) -> None:
        if set(d) != set(self.by_arm):
            raise ValueError(f"averaged state of arms {sorted(d)}, this run carries {sorted(self.by_arm)}")
        for arm, a in self.by_arm.items():
            a.load_state_dict(d[arm])

    def model(self, s, model: torch.nn.Module, arm: str) -> torch.nn.Module:
        """A copy of ``model`` with ``arm``'s averaged parameters, BatchNorm recomputed
        (``s``: the run's annealbench.training.epoch.Setting)."""
        a = self.by_arm[arm]
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p, w in zip(m.parameters(), a.weights(model)):
                p.copy_(w)
        recompute_bn(s, m, a.rule["bn_batches"])
        return m


def recompute_bn(s, model: torch.nn.Module, batches: int) -> None:
    """BatchNorm running statistics of ``model`` as the plain mean over ``batches`` training
    batches of the fixed order BN_EPOCH (none: its buffers stay as they are)."""
    bns = [m for m in model.modules() if isinstance(m, _BN)]
    if not bns or batches <= 0:
        return
    momenta = {}
    for bn in bns:
        bn.reset_running_stats()
        momenta[bn] = bn.momentum
        bn.momentum = None  # a cumulative mean over the batches
    was_training = model.training
    devices = [s.device] if s.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        model.train()
        for i, batch in enumerate(s.task.train_batches(BN_EPOCH, s.cfg["seed"])):
            if i >= batches:
                break
            with autocast(*s.amp):
                s.task.train_loss(model, batch)
    for bn in bns:
        bn.momentum = momenta[bn]
    model.train(was_training)


def record(s, averages: Averages | None, model: torch.nn.Module, evaluate, examples=None) -> dict:
    """Evaluate every average at this evaluation of the run and append the rows to its
    averages.csv (rows of later epochs, left by an attempt a resume dropped, are replaced).
    ``evaluate(model) -> rows``: the run's own evaluation (same epoch, splits, lr);
    ``examples(model) -> {split: {name: array}}`` its per-example outcomes ({} at an epoch no
    verdict judges). Returns those of each average, {arm: outcomes}, for heldout.npz: the same
    two-way interval as any arm's needs them."""
    if averages is None:
        return {}
    new, outcomes = [], {}
    for arm in averages.by_arm:
        averaged = averages.model(s, model, arm)
        new += [(arm, r) for r in evaluate(averaged)]
        got = examples(averaged) if examples is not None else {}
        if got:
            outcomes[arm] = got
    epoch = new[0][1].epoch
    run: RunDir = s.run
    run.write_averages([(a, r) for a, r in run.read_averages() if r.epoch < epoch] + new)
    return outcomes
