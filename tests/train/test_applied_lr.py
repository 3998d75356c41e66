"""The LR the runner records is the LR the optimizer applied at that step.

Plain SGD without momentum or weight decay updates each parameter by exactly -lr * grad, so the
applied LR can be read back from each step's parameter change: a scheduler stepped before
optimizer.step() (which the recorded-LR test alone would not catch) shows here as a mismatch.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch
from testkit import tiny_study
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.load import load_study

TINY_STUDY = tiny_study()

SCHEDULES = """
[schedules.step]
step_size = { frac = 0.34 }
gamma = 0.1

[schedules.onecycle]
cycle_momentum = false  # by default it cycles SGD momentum, and momentum 0 is what reads lr back
"""


def _measure_applied_lrs():
    """Hooks on every optimizer step: the LR each step applied, least squares over all params."""
    applied, before = [], {}

    def pre(opt, _args, _kwargs):
        before.clear()
        for group in opt.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    before[p] = (p.detach().double().clone(), p.grad.detach().double().clone())

    def post(_opt, _args, _kwargs):
        num = den = 0.0
        for p, (old, grad) in before.items():
            delta = p.detach().double() - old
            num -= float((delta * grad).sum())
            den += float((grad * grad).sum())
        applied.append(num / den)

    return applied, register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)


@pytest.mark.parametrize("schedule,interval", [("step", "epoch"), ("onecycle", "step")])
def test_recorded_lr_is_the_applied_lr(write_study, tmp_path, schedule, interval):
    text = TINY_STUDY.split("[schedules.constant]")[0] + SCHEDULES
    study = load_study(write_study(text=text, replace={
        "momentum = 0.9": "momentum = 0.0", "seeds = [0, 1]": "seeds = [0]",
        "[study]\n": '[study]\nbaseline = "step"\n'}))  # no fixed-LR arm: one arm is named
    applied, *hooks = _measure_applied_lrs()
    try:
        outcomes = run_study(study, RunOptions(tmp_path / "out", torch.device("cpu"), None,
                                               log=lambda _m: None))
    finally:
        for h in hooks:
            h.remove()
    assert [o.status for o in outcomes] == ["completed"] * 2
    # runs go in the study's order, one process: split the hooks' list by each run's step count
    seen = 0
    for o in outcomes:
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        cfg = json.loads((rd / "config.json").read_text())
        rows = []
        for f in sorted((rd / "epochs").glob("*.csv")):
            with open(f, newline="") as fh:
                rows += [r for r in csv.DictReader(fh) if r["metric"] == "step_loss"]
        recorded = [float(r["lr"]) for r in rows]
        mine = applied[seen:seen + len(recorded)]
        seen += len(recorded)
        if cfg["schedule"] != schedule:
            continue
        assert cfg["schedule_interval"] == interval and len(set(recorded)) > 1
        # float32 updates read back by least squares: relative 1e-3, and at the smallest LRs of a
        # schedule (onecycle ends near 1e-7 of a 0.05 peak) a float32 floor of 1e-5 of the peak.
        # A scheduler stepped one update early misses by far more (0.002 against 0.0175).
        floor = 1e-5 * max(recorded)
        for step, (want, got) in enumerate(zip(recorded, mine), 1):
            assert got == pytest.approx(want, rel=1e-3, abs=floor), \
                f"step {step}: recorded {want}, applied {got}"
    assert seen == len(applied)
