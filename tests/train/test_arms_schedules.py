"""The annealing alternatives' schedules do what they declare: warmup-stable-decay ("wsd", linear or
1 - sqrt cooldown) and linear decay to zero.

The applied LR is read back from the parameter change of each real optimizer step of real runs (plain
SGD without momentum moves each parameter by exactly -lr * grad, as in test_applied_lr.py) and
compared with closed forms written out here; the fixed-LR prefix of a wsd run is what prefix
sharing forks from the fixed run.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from test_applied_lr import _measure_applied_lrs
from testkit import synthetic_cnn, tiny_study

from annealbench import cli
from annealbench.errors import SpecError
from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.schedules import build, resolve
from annealbench.schedules.trapezoid import trapezoid_factor
from annealbench.sharing import plan as prefix
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study

CPU = torch.device("cpu")

# 4 epochs of 256 / 64 = 4 steps: T = 16 updates per run
ARMS = """
[schedules.wsd-linear]
type = "wsd"
cooldown = { frac = 0.5 }

[schedules.wsd-sqrt]
type = "wsd"
cooldown = { frac = 0.5 }
shape = "sqrt"

[schedules.wsd-linear-warmup]
type = "wsd"
warmup = { frac = 0.25 }
cooldown = { frac = 0.5 }

[schedules.wsd-sqrt-warmup]
type = "wsd"
warmup = { frac = 0.25 }
cooldown = { frac = 0.5 }
shape = "sqrt"
final_factor = 0.1

[schedules.linear-to-zero]
type = "linear"
final_factor = 0.0
"""


def wsd_closed_form(t: int, warmup: int, cooldown: int, total: int, shape: str, final: float) -> float:
    """Hägele et al. 2024: warmup from ~0, hold, cooldown 1 - p or 1 - sqrt(p) with
    p = (t - (total - cooldown)) / cooldown, down to final."""
    if t < warmup:
        return (t + 1) / (warmup + 1)
    p = min(1.0, max(0.0, (t - (total - cooldown)) / cooldown))
    return final + (1 - final) * (1 - (p if shape == "linear" else math.sqrt(p)))


def _rows(run_dir):
    rows = []
    for f in sorted((run_dir / "epochs").glob("*.csv")):
        with open(f, newline="") as fh:
            rows += [r for r in csv.DictReader(fh) if r["metric"] == "step_loss"]
    return rows


def test_applied_lr_of_wsd_and_linear_to_zero_is_the_closed_form(write_study, tmp_path, monkeypatch):
    # every run trains all of its steps itself, so the hooks see each of them
    monkeypatch.setenv(prefix.ENV, "0")
    text = tiny_study().split("[schedules.constant]")[0] + ARMS
    study = load_study(write_study(text=text, replace={
        "momentum = 0.9": "momentum = 0.0", "seeds = [0, 1]": "seeds = [0]", "epochs = 3": "epochs = 4"}))
    applied, *hooks = _measure_applied_lrs()
    try:
        outcomes = run_study(study, RunOptions(tmp_path / "out", CPU, None, log=lambda _m: None))
    finally:
        for h in hooks:
            h.remove()
    assert [o.status for o in outcomes] == ["completed"] * 5
    base, spe, total = 0.05, 4, 16
    expected = {
        "wsd-linear": [wsd_closed_form(t, 0, 8, total, "linear", 0.0) for t in range(total)],
        "wsd-sqrt": [wsd_closed_form(t, 0, 8, total, "sqrt", 0.0) for t in range(total)],
        "wsd-linear-warmup": [wsd_closed_form(t, 4, 8, total, "linear", 0.0) for t in range(total)],
        "wsd-sqrt-warmup": [wsd_closed_form(t, 4, 8, total, "sqrt", 0.1) for t in range(total)],
        # per epoch, the article's LambdaLR(1 - (1 - f) t / T) with f = 0: 1, 3/4, 1/2, 1/4
        "linear-to-zero": [1 - (t // spe) / 4 for t in range(total)],
    }
    seen = 0
    checked = set()
    for o in outcomes:
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        cfg = json.loads((rd / "config.json").read_text())
        recorded = [float(r["lr"]) for r in _rows(rd)]
        mine = applied[seen:seen + len(recorded)]
        seen += len(recorded)
        want = [base * f for f in expected[cfg["schedule"]]]
        assert cfg["steps_per_epoch"] == spe and len(recorded) == total
        for step, (w, rec, got) in enumerate(zip(want, recorded, mine)):
            assert rec == pytest.approx(w, rel=1e-12), f"{cfg['schedule']} step {step}: recorded {rec}"
            # float32 updates read back by least squares (see test_applied_lr.py)
            assert got == pytest.approx(w, rel=1e-3, abs=1e-5 * base), \
                f"{cfg['schedule']} step {step}: applied {got}, closed form {w}"
        checked.add(cfg["schedule"])
    assert seen == len(applied) and checked == set(expected)


@pytest.mark.parametrize("type_,kwargs,interval,end", [
    ("linear", {"final_factor": 0.0}, "epoch", 0.0),
    ("linear", {"final_factor": 0.0}, "step", 0.0),
    ("wsd", {}, "step", 0.0),
    ("wsd", {"shape": "sqrt", "warmup": 3}, "step", 0.0),
    ("wsd", {"shape": "sqrt", "final_factor": 0.25}, "step", 0.25),
])
def test_the_lr_reaches_the_final_factor_exactly_at_the_end_of_the_run(type_, kwargs, interval, end):
    """After the last update of a run of T scheduler steps the LR is exactly final_factor x base
    (0.0 for linear-to-zero and a wsd to 0), and every update before it used more."""
    epochs, spe, base = 6, 5, 0.1
    resolved = resolve(type_, kwargs, epochs=epochs, steps_per_epoch=spe, interval=interval)
    param = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.SGD([param], lr=base)
    sched = build(type_, resolved, opt, interval=interval, epochs=epochs, steps_per_epoch=spe).scheduler
    length = epochs * spe if interval == "step" else epochs
    used = []
    for _ in range(length):
        used.append(opt.param_groups[0]["lr"])
        param.grad = torch.ones(2)
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == base * end
    assert min(used) > base * end


def test_trapezoid_is_wsd_linear_to_zero_bit_for_bit():
    """trapezoid now reads wsd's closed form: the same floats as its own former formula."""
    for warmup, decay, total in [(0, 7, 35), (2, 7, 35), (7, 14, 35), (1, 3, 7), (0, 35, 35)]:
        for t in range(total + 3):
            old = ((t + 1) / (warmup + 1) if t < warmup else 1.0 if t < total - decay
                   else max(0.0, (total - t) / decay))
            assert trapezoid_factor(t, warmup, decay, total) == old


SHARING = """
spec_version = 1

[study]
name = "share"
primary_metric = "accuracy"
epochs = 10
batch_size = 32
seeds = [0]
budget_curve = [0.6, 1.0]

""" + synthetic_cnn(128, 64, 8) + """[schedules.constant]

[schedules.wsd]
type = "wsd"

[schedules.wsd-sqrt]
type = "wsd"
shape = "sqrt"

[schedules.wsd-warmup]
type = "wsd"
warmup = { frac = 0.1 }
"""


def test_wsd_forks_from_the_fixed_lr_run_for_its_whole_constant_phase(tmp_path):
    path = tmp_path / "share.toml"
    path.write_text(SHARING)
    grid = expand(load_study(path), "cpu")
    spe = 7
    plan = prefix.plan(grid, spe, "all")
    cfg = {c["run_key"]: c for c in grid}
    checked = 0
    for c in grid:
        if c["schedule_type"] != "wsd":
            continue
        total = c["epochs"] * spe
        cooldown = round(0.2 * total)
        warmup = round(0.1 * total) if c["schedule"] == "wsd-warmup" else 0
        shape = "sqrt" if c["schedule"] == "wsd-sqrt" else "linear"
        factors = [wsd_closed_form(t, warmup, cooldown, total, shape, 0.0) for t in range(total)]
        # the whole epochs at the base LR: up to and including the cooldown's first update (g = 1)
        constant = next(e for e in range(c["epochs"] + 1)
                        if any(f != 1.0 for f in factors[e * spe:(e + 1) * spe]))
        fork = plan.forks.get(c["run_key"])
        if warmup:
            assert constant == 0 and fork is None
        else:
            # 10 epochs: cooldown 14 of 70 steps, 57 at the base LR; 6 epochs: 8 of 42, 35
            assert constant == {10: 8, 6: 5}[c["epochs"]]
            assert fork is not None and fork.epochs == constant
            assert cfg[fork.donor]["schedule_type"] == "constant"
        checked += 1
    assert checked == 6


@pytest.mark.parametrize("line,field,allowed", [
    ('shape = "cos"', "schedules.wsd.shape = 'cos'", "wsd: shape must be one of 'linear', 'sqrt', got 'cos'"),
    ("final_factor = 1.5", "schedules.wsd.final_factor = 1.5", "wsd: final_factor must be in [0, 1)"),
    ("cooldown = { frac = 0 }", "schedules.wsd.cooldown = {'frac': 0}",
     "wsd: cooldown must be a positive int"),
    ("warmup = { frac = 0.9 }", "schedules.wsd.warmup = {'frac': 0.9}",
     "wsd: warmup + cooldown must fit in the run; got fracs 0.9 + 0.2 > 1"),
    ("total_iters = 100", "schedules.wsd.total_iters = 100", "wsd: total_iters is the run length"),
])
def test_a_bad_wsd_value_is_one_line_naming_field_value_and_what_is_allowed(tmp_path, line, field, allowed):
    path = tmp_path / "share.toml"
    arm = '[schedules.wsd]\ntype = "wsd"\n'
    path.write_text(SHARING.replace(arm, f"{arm}{line}\n"))
    with pytest.raises(SpecError) as e:
        load_study(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{path}: {field}: {allowed}"), message


def test_the_schedules_command_lists_wsd(capsys):
    assert cli.main(["schedules"]) == 0
    assert "wsd              stepped per step" in capsys.readouterr().out.splitlines()
