"""The schedule-free optimizers (the ``schedulefree`` package) as study optimizer types: what a study
may set, the train/eval mode helpers the runner calls, and a resume that continues bit for bit.
"""

from __future__ import annotations

import io

import pytest
import schedulefree
import torch

from annealbench import optim
from annealbench.errors import SpecError
from annealbench.spec.load import load_study

SF = ("schedulefree-adamw", "schedulefree-sgd")
LR = {"schedulefree-adamw": 0.01, "schedulefree-sgd": 0.5}
KWARGS = {"schedulefree-adamw": {"betas": [0.9, 0.99], "weight_decay": 0.01, "warmup_steps": 3},
          "schedulefree-sgd": {"momentum": 0.8, "weight_decay": 0.001, "warmup_steps": 3}}

_X = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
_Y = torch.randn(16, 1, generator=torch.Generator().manual_seed(2))


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _steps(model, opt, first: int, last: int) -> None:
    """Training steps first..last-1 on batches of their own (a slice of the data per step)."""
    optim.train_mode(opt)
    for i in range(first, last):
        rows = slice(i % 4 * 4, i % 4 * 4 + 4)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(_X[rows]), _Y[rows]).backward()
        opt.step()


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


# -- the registry ------------------------------------------------------------------------------------


def test_types_build_the_package_classes_with_their_kwargs():
    for type_, cls in zip(SF, (schedulefree.AdamWScheduleFree, schedulefree.SGDScheduleFree)):
        assert optim.REGISTRY.find_problem(type_, KWARGS[type_]) is None
        opt = optim.build_optimizer(type_, _model().parameters(), LR[type_], KWARGS[type_])
        assert type(opt) is cls
        group = opt.param_groups[0]
        assert group["lr"] == LR[type_] and group["warmup_steps"] == 3
    adamw = optim.build_optimizer("schedulefree-adamw", _model().parameters(), 0.01, {"betas": [0.9, 0.99]})
    assert adamw.param_groups[0]["betas"] == (0.9, 0.99)


@pytest.mark.parametrize("type_,kwargs,field,phrase", [
    ("schedulefree-sgd", {"betas": [0.9, 0.99]}, "betas",
     "schedulefree-sgd takes momentum, r, warmup_steps, weight_decay, weight_lr_power"),
    ("schedulefree-adamw", {"momentum": 0.9}, "momentum",
     "schedulefree-adamw takes betas, eps, r, warmup_steps, weight_decay, weight_lr_power"),
    ("schedulefree-adamw", {"amsgrad": True}, "amsgrad", "schedulefree-adamw takes"),
    ("schedulefree-adamw", {"foreach": False}, "foreach", "schedulefree-adamw takes"),
    # its eval() divides by momentum / beta1: 0 would be a ZeroDivisionError at the first evaluation
    ("schedulefree-sgd", {"momentum": 0.0}, "momentum", "must be a number > 0 and < 1"),
    ("schedulefree-adamw", {"betas": [0.0, 0.999]}, "betas",
     "must be two numbers, the first in (0, 1), the second in [0, 1)"),
    ("schedulefree-sgd", {"warmup_steps": 2.5}, "warmup_steps", "must be an int >= 0"),
    ("schedulefree-sgd", {"warmup_steps": -1}, "warmup_steps", "must be an int >= 0"),
    ("schedulefree-adamw", {"r": -1}, "r", "must be a finite number >= 0"),
    ("schedulefree-adamw", {"weight_lr_power": float("inf")}, "weight_lr_power",
     "must be a finite number >= 0"),
    ("schedulefree-sgd", {"weight_decay": -0.1}, "weight_decay", "must be a number >= 0"),
])
def test_each_type_takes_only_its_own_kwargs_with_valid_values(type_, kwargs, field, phrase):
    problem = optim.REGISTRY.find_problem(type_, kwargs)
    assert problem is not None and problem.field == field and problem.phrase.startswith(phrase)


def test_is_schedule_free_names_exactly_the_schedule_free_types():
    assert [t for t in optim.BUILTIN if optim.is_schedule_free(t)] == list(SF)
    assert not optim.is_schedule_free("torch.optim:RAdam") and not optim.is_schedule_free("lion")


def test_the_other_optimizers_keep_their_rules():
    assert optim.REGISTRY.find_problem("sgd", {"momentum": 0.0, "nesterov": False}) is None
    assert optim.REGISTRY.find_problem("adam", {"betas": [0.0, 0.999]}) is None
    assert optim.REGISTRY.find_problem("sgd", {"momentum": 1.0}).phrase == "must be a number >= 0 and < 1"
    assert optim.REGISTRY.find_problem("sgd", {"warmup_steps": 3}).phrase.startswith("sgd takes dampening")
    assert "schedulefree-adamw, schedulefree-sgd" in optim.REGISTRY.find_problem("lion", {}).phrase


def _study(tmp_path, table: str):
    path = tmp_path / "sf.toml"
    path.write_text(f"""
spec_version = 1

[study]
name = "sf"
primary_metric = "accuracy"
epochs = 2
batch_size = 32
seeds = [0]

[model]
name = "airbench-cnn"
widths = [8]

[dataset]
name = "synthetic-images"
n_train = 64
n_val = 32
n_test = 32

[optimizers.sf]
{table}

[schedules.constant]
""")
    return path


def test_a_study_names_them_and_a_bad_value_is_one_line(tmp_path):
    study = load_study(_study(tmp_path, 'type = "schedulefree-adamw"\nlrs = [0.01]\nwarmup_steps = 5'))
    setting = study.optimizers["sf"]
    assert setting.type == "schedulefree-adamw" and setting.kwargs == {"warmup_steps": 5}
    path = _study(tmp_path, 'type = "schedulefree-sgd"\nlrs = [0.5]\nmomentum = 0')
    with pytest.raises(SpecError) as e:
        load_study(path)
    assert str(e.value) == f"{path}: optimizers.sf.momentum = 0: must be a number > 0 and < 1"


# -- train / eval modes --------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", SF)
def test_step_in_eval_mode_raises_and_the_helpers_prevent_it(type_):
    model = _model()
    opt = optim.build_optimizer(type_, model.parameters(), LR[type_], KWARGS[type_])
    torch.nn.functional.mse_loss(model(_X), _Y).backward()
    with pytest.raises(Exception, match="not in train mode"):  # a fresh one starts in eval mode
        opt.step()
    _steps(model, opt, 0, 3)
    optim.eval_mode(opt)  # an evaluation
    with pytest.raises(Exception, match="not in train mode"):
        opt.step()
    _steps(model, opt, 3, 6)  # train_mode first: no exception
    assert opt.param_groups[0]["k"] == 6


@pytest.mark.parametrize("type_", SF)
def test_eval_mode_moves_the_parameters_to_the_average_and_train_mode_back(type_):
    model = _model()
    opt = optim.build_optimizer(type_, model.parameters(), LR[type_], KWARGS[type_])
    _steps(model, opt, 0, 5)
    y = _params(model)
    optim.eval_mode(opt)
    x = _params(model)
    assert all(not torch.equal(a, b) for a, b in zip(x, y))
    optim.eval_mode(opt)  # idempotent: a second evaluation at the same point sees the same weights
    assert all(torch.equal(a, b) for a, b in zip(x, _params(model)))
    optim.train_mode(opt)
    assert all(torch.allclose(a, b, rtol=0, atol=1e-6) for a, b in zip(y, _params(model)))


def test_the_helpers_leave_optimizers_without_modes_alone():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    _steps(model, opt, 0, 2)
    before = _params(model)
    optim.eval_mode(opt)
    optim.train_mode(opt)
    assert all(torch.equal(a, b) for a, b in zip(before, _params(model)))
    opt.step()  # still steps


def test_applied_lr_includes_the_schedule_free_warmup():
    model = _model()
    opt = optim.build_optimizer("schedulefree-sgd", model.parameters(), 0.4, {"warmup_steps": 4})
    optim.train_mode(opt)
    used = []
    for _ in range(6):
        lr = opt.param_groups[0]["lr"]
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(_X), _Y).backward()
        opt.step()
        used.append(optim.applied_lr(opt, lr))
    assert used == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.4, 0.4], rel=1e-12)
    plain = torch.optim.SGD(_model().parameters(), lr=0.3)
    assert optim.applied_lr(plain, 0.3) == 0.3


# -- checkpoints -------------------------------------------------------------------------------------


def _checkpoint(model, opt) -> dict:
    """What the runner saves, through bytes and torch.load(weights_only=True) as its resume reads it."""
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, buf)
    buf.seek(0)
    return torch.load(buf, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("type_", SF)
def test_a_resume_from_an_eval_mode_checkpoint_continues_bit_for_bit(type_):
    """The runner evaluates, then checkpoints (both in eval mode), then trains on: a fresh model and
    optimizer that load that checkpoint and train on end with the uninterrupted run's weights."""
    model = _model()
    opt = optim.build_optimizer(type_, model.parameters(), LR[type_], KWARGS[type_])
    _steps(model, opt, 0, 5)
    optim.eval_mode(opt)
    ck = _checkpoint(model, opt)
    _steps(model, opt, 5, 12)
    optim.eval_mode(opt)
    uninterrupted = _params(model)

    group = ck["optimizer"]["param_groups"][0]
    assert group["k"] == 5 and group["weight_sum"] > 0 and group["lr_max"] == LR[type_]
    assert group["train_mode"] is False

    resumed = _model(seed=1)  # other initial weights: everything must come from the checkpoint
    fresh = optim.build_optimizer(type_, resumed.parameters(), LR[type_], KWARGS[type_])
    resumed.load_state_dict(ck["model"])
    fresh.load_state_dict(ck["optimizer"])
    for key in ("k", "weight_sum", "lr_max", "train_mode"):
        assert fresh.param_groups[0][key] == group[key]
    _steps(resumed, fresh, 5, 12)
    optim.eval_mode(fresh)
    assert all(torch.equal(a, b) for a, b in zip(uninterrupted, _params(resumed)))

    # the optimizer's state is what carries the run: loading only the weights does not continue it
    lost = _model(seed=1)
    lost.load_state_dict(ck["model"])
    _steps(lost, optim.build_optimizer(type_, lost.parameters(), LR[type_], KWARGS[type_]), 5, 12)
    assert not all(torch.allclose(a, b) for a, b in zip(uninterrupted, _params(lost)))
