"""LR schedules: the LR each update actually uses, against closed forms written out here.

The simulation drives a BuiltSchedule exactly as the runner does (read param_groups[g]["lr"] before
optimizer.step(); step the scheduler per its interval; plateau gets the val loss at epoch end), and
the expectations are computed independently with numpy/math from the schedule's definition, never
by asking a scheduler. Scheduler UserWarnings (e.g. "lr_scheduler.step() before optimizer.step()")
are errors here, because they mean the runner's call order and the scheduler disagree.
"""

from __future__ import annotations

import io
import json
import math
import sys

import numpy as np
import pytest
import torch

from annealbench.schedules import (
    INTERVALS,
    BuiltSchedule,
    available,
    build,
    check,
    default_interval,
    resolve,
)

EPOCHS, SPE, BASE = 7, 5, 0.1
N = EPOCHS * SPE  # optimizer updates in a simulated run
RTOL = 1e-9

pytestmark = pytest.mark.filterwarnings("error")


# -- a runner-shaped simulation -------------------------------------------------------------------

_X = torch.randn(8, 3, generator=torch.Generator().manual_seed(1))
_Y = torch.randn(8, 1, generator=torch.Generator().manual_seed(2))


def _model_and_opt(lrs=(BASE,), kind="sgd"):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    groups = [{"params": model[0].parameters(), "lr": lrs[0]}]
    groups.append({"params": model[2].parameters(), "lr": lrs[1] if len(lrs) > 1 else lrs[0]})
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=0.9)
    else:
        opt = torch.optim.Adam(groups, lr=lrs[0])
    return model, opt


class Sim:
    """One run: model, optimizer, scheduler; records what every update used."""

    def __init__(self, type_, kwargs, *, interval=None, lrs=(BASE,), kind="sgd", epochs=EPOCHS):
        self.interval = interval or default_interval(type_)
        self.epochs = epochs
        self.resolved = resolve(type_, kwargs, epochs=epochs, steps_per_epoch=SPE, interval=self.interval)
        self.model, self.opt = _model_and_opt(lrs, kind)
        self.built = build(
            type_, self.resolved, self.opt, interval=self.interval, epochs=epochs, steps_per_epoch=SPE
        )
        self.lr = []  # per update, per param group
        self.momentum = []  # per update, group 0 (SGD momentum or Adam beta1)

    def run_epochs(self, first, last, val=None):
        sched = self.built.scheduler
        for e in range(first, last):
            for _ in range(SPE):
                g0 = self.opt.param_groups[0]
                self.lr.append([float(g["lr"]) for g in self.opt.param_groups])
                self.momentum.append(float(g0["momentum"] if "momentum" in g0 else g0["betas"][0]))
                self.opt.zero_grad()
                torch.nn.functional.mse_loss(self.model(_X), _Y).backward()
                self.opt.step()
                if self.built.interval == "step":
                    sched.step()
            if self.built.interval == "epoch":
                if self.built.needs_metric:
                    sched.step(val[e])
                else:
                    sched.step()
        return self

    def lrs(self, group=0):
        return np.array([row[group] for row in self.lr])


def simulate(type_, kwargs, *, interval=None, val=None, **kw):
    sim = Sim(type_, kwargs, interval=interval, **kw)
    return sim.run_epochs(0, sim.epochs, val)


# -- independent closed forms -------------------------------------------------------------------------


def t_of(interval):
    """Scheduler time of each update: the update index, or its epoch."""
    n = np.arange(N)
    return n if interval == "step" else n // SPE


def cos_half(p):
    return (1 + np.cos(np.pi * p)) / 2


def onecycle_ref(t, total, pct, div, final_div, strategy="cos", peak=BASE, lo=0.85, hi=0.95):
    """OneCycle (Smith & Topin): initial -> peak until pct*total - 1, then peak -> min at total - 1."""
    init = peak / div
    low = init / final_div
    e1 = pct * total - 1
    lr, mom = np.empty(len(t)), np.empty(len(t))
    for i, s in enumerate(t):
        if s <= e1:
            a, b, p, ma, mb = init, peak, s / e1, hi, lo
        else:
            a, b, p, ma, mb = peak, low, (s - e1) / (total - 1 - e1), lo, hi
        w = cos_half(p) if strategy == "cos" else 1 - p
        lr[i] = b + (a - b) * w
        mom[i] = mb + (ma - mb) * w
    return lr, mom


def restarts_ref(t, t0, mult, eta_min):
    out = []
    for s in t:
        start, period = 0, t0
        while s >= start + period:
            start, period = start + period, period * mult
        out.append(eta_min + (BASE - eta_min) * cos_half((s - start) / period))
    return np.array(out)


def trapezoid_ref(t, w, d, total):
    return BASE * np.array(
        [(s + 1) / (w + 1) if s < w else 1.0 if s < total - d else max(0.0, (total - s) / d) for s in t]
    )


def wsd_ref(t, w, c, total, shape="linear", final=0.0):
    """Warmup to the base LR, hold, then from total - c: 1 - p or 1 - sqrt(p) down to final."""
    out = []
    for s in t:
        if s < w:
            out.append((s + 1) / (w + 1))
            continue
        p = min(1.0, max(0.0, (s - (total - c)) / c))
        out.append(final + (1 - final) * (1 - (p if shape == "linear" else math.sqrt(p))))
    return BASE * np.array(out)


def warmup_cosine_ref(t, w, start_factor, total, eta_min=0.0):
    return np.array(
        [
            BASE * (start_factor + (1 - start_factor) * s / w)
            if s < w
            else eta_min + (BASE - eta_min) * cos_half((s - w) / (total - w))
            for s in t
        ]
    )


# Plateau: LR in force during each epoch, derived by hand from ReduceLROnPlateau's documented rule
# (reduce when the count of non-improving epochs exceeds patience; cooldown epochs do not count).
# A: patience 1, factor 0.5. Bad epochs: e2 (1), e3 (2 > 1: reduce, applies from e4), e5, e6.
PLATEAU_A_VAL = [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]
PLATEAU_A_EPOCH_LR = [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05]
# B: patience 0, cooldown 1, min_lr 0.02, loss always worse: reduce after e1, e3, e5 (cooldown skips
# e2, e4); the third reduction is floored at min_lr.
PLATEAU_B_VAL = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
PLATEAU_B_EPOCH_LR = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02]

STEP_T, EPOCH_T = t_of("step"), t_of("epoch")

# (id, type, kwargs, interval override or None, expected LR per update, val losses)
CASES = [
    ("constant", "constant", {}, None, np.full(N, BASE), None),
    ("step", "step", {"step_size": 2, "gamma": 0.5}, None, BASE * 0.5 ** (EPOCH_T // 2), None),
    # frac of a per-step run: 0.2 * 35 = 7 updates
    (
        "step-frac-per-step",
        "step",
        {"step_size": {"frac": 0.2}, "gamma": 0.5},
        "step",
        BASE * 0.5 ** (STEP_T // 7),
        None,
    ),
    (
        "multistep",
        "multistep",
        {"milestones": [2, 5]},
        None,
        BASE * 0.1 ** ((EPOCH_T >= 2).astype(int) + (EPOCH_T >= 5)),
        None,
    ),
    # 0.25 * 35 = 8.75 -> 9, 0.6 * 35 = 21
    (
        "multistep-frac-per-step",
        "multistep",
        {"milestones": {"frac": [0.25, 0.6]}, "gamma": 0.5},
        "step",
        BASE * 0.5 ** ((STEP_T >= 9).astype(int) + (STEP_T >= 21)),
        None,
    ),
    ("exponential", "exponential", {"gamma": 0.8}, None, BASE * 0.8**EPOCH_T, None),
    # total decay over the run must equal 0.9 per epoch over 14 epochs: 0.9 ** (14 * n / 35)
    (
        "exponential-ref-epochs-per-step",
        "exponential",
        {"gamma": {"value": 0.9, "ref_epochs": 14}},
        "step",
        BASE * 0.9 ** (14 * STEP_T / N),
        None,
    ),
    ("linear", "linear", {}, None, BASE * (1 - 0.9 * EPOCH_T / EPOCHS), None),
    # decay to 0 over the first 0.6 * 35 = 21 updates, then held
    (
        "linear-frac-per-step",
        "linear",
        {"final_factor": 0.0, "total_iters": {"frac": 0.6}},
        "step",
        BASE * (1 - np.minimum(STEP_T, 21) / 21),
        None,
    ),
    (
        "stepped-decay",
        "stepped-decay",
        {"step_size": 3, "gamma": 0.5},
        None,
        BASE * 0.5 ** (EPOCH_T // 3),
        None,
    ),
    ("cosine", "cosine", {}, None, BASE * cos_half(STEP_T / N), None),
    (
        "cosine-per-epoch",
        "cosine",
        {"eta_min": 0.01},
        "epoch",
        0.01 + (BASE - 0.01) * cos_half(EPOCH_T / EPOCHS),
        None,
    ),
    (
        "cosine-restarts",
        "cosine-restarts",
        {"T_0": 10, "T_mult": 2, "eta_min": 0.001},
        None,
        restarts_ref(STEP_T, 10, 2, 0.001),
        None,
    ),
    (
        "cosine-restarts-frac",
        "cosine-restarts",
        {"T_0": {"frac": 0.2}},
        None,
        BASE * cos_half((STEP_T % 7) / 7),
        None,
    ),
    ("onecycle", "onecycle", {}, None, onecycle_ref(STEP_T, N, 0.3, 25.0, 1e4)[0], None),
    (
        "onecycle-linear",
        "onecycle",
        {"anneal_strategy": "linear", "pct_start": 0.4, "div_factor": 10.0, "final_div_factor": 100.0},
        None,
        onecycle_ref(STEP_T, N, 0.4, 10.0, 100.0, "linear")[0],
        None,
    ),
    ("onecycle-per-epoch", "onecycle", {}, "epoch", onecycle_ref(EPOCH_T, EPOCHS, 0.3, 25.0, 1e4)[0], None),
    (
        "plateau",
        "plateau",
        {"patience": 1, "factor": 0.5},
        None,
        np.repeat(PLATEAU_A_EPOCH_LR, SPE),
        PLATEAU_A_VAL,
    ),
    (
        "plateau-cooldown-min-lr",
        "plateau",
        {"patience": 0, "factor": 0.5, "cooldown": 1, "min_lr": 0.02},
        None,
        np.repeat(PLATEAU_B_EPOCH_LR, SPE),
        PLATEAU_B_VAL,
    ),
    (
        "warmup-cosine",
        "warmup-cosine",
        {"warmup": {"frac": 0.2}, "start_factor": 0.1},
        None,
        warmup_cosine_ref(STEP_T, 7, 0.1, N),
        None,
    ),
    # defaults: warmup 0.05 * 35 = 1.75 -> 2 updates from 0.01 * base
    ("warmup-cosine-defaults", "warmup-cosine", {}, None, warmup_cosine_ref(STEP_T, 2, 0.01, N), None),
    (
        "warmup-cosine-per-epoch",
        "warmup-cosine",
        {"warmup": 2, "eta_min": 0.001},
        "epoch",
        warmup_cosine_ref(EPOCH_T, 2, 0.01, EPOCHS, 0.001),
        None,
    ),
    (
        "trapezoid",
        "trapezoid",
        {"warmup": {"frac": 0.2}, "decay": {"frac": 0.4}},
        None,
        trapezoid_ref(STEP_T, 7, 14, N),
        None,
    ),
    # defaults: warmup 1.75 -> 2, decay 0.2 * 35 = 7
    ("trapezoid-defaults", "trapezoid", {}, None, trapezoid_ref(STEP_T, 2, 7, N), None),
    (
        "trapezoid-per-epoch",
        "trapezoid",
        {"warmup": 1, "decay": 3},
        "epoch",
        trapezoid_ref(EPOCH_T, 1, 3, EPOCHS),
        None,
    ),
    # defaults: no warmup, cooldown 0.2 * 35 = 7 updates, linear to 0
    ("wsd-defaults", "wsd", {}, None, wsd_ref(STEP_T, 0, 7, N), None),
    # warmup round(3.5) = 4, cooldown 0.4 * 35 = 14, 1 - sqrt down to 0.1 of the base LR
    (
        "wsd-sqrt-warmup",
        "wsd",
        {"warmup": {"frac": 0.1}, "cooldown": {"frac": 0.4}, "shape": "sqrt", "final_factor": 0.1},
        None,
        wsd_ref(STEP_T, 4, 14, N, "sqrt", 0.1),
        None,
    ),
    (
        "wsd-per-epoch",
        "wsd",
        {"cooldown": 3, "shape": "sqrt"},
        "epoch",
        wsd_ref(EPOCH_T, 0, 3, EPOCHS, "sqrt"),
        None,
    ),
]
CASE_IDS = [c[0] for c in CASES]


def test_every_registered_schedule_has_a_trajectory_case():
    assert available() == sorted(
        [
            "constant",
            "step",
            "multistep",
            "exponential",
            "linear",
            "stepped-decay",
            "cosine",
            "cosine-restarts",
            "onecycle",
            "plateau",
            "warmup-cosine",
            "trapezoid",
            "wsd",
        ]
    )
    assert {c[1] for c in CASES} == set(available())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_applied_lr_matches_closed_form(case):
    _, type_, kwargs, interval, expected, val = case
    assert check(type_, kwargs, interval=interval) is None
    sim = simulate(type_, kwargs, interval=interval, val=val)
    assert sim.built.interval == (interval or default_interval(type_))
    np.testing.assert_allclose(sim.lrs(), expected, rtol=RTOL, atol=1e-15)
    # the second param group (same base LR here) follows the same schedule
    np.testing.assert_allclose(sim.lrs(1), expected, rtol=RTOL, atol=1e-15)


def test_default_intervals_and_metric_flag():
    per_step = {"cosine", "cosine-restarts", "onecycle", "warmup-cosine", "trapezoid", "wsd"}
    for name in available():
        assert default_interval(name) == ("step" if name in per_step else "epoch"), name
    assert INTERVALS == ("epoch", "step")
    built = Sim("plateau", {}).built
    assert isinstance(built, BuiltSchedule) and built.needs_metric
    assert isinstance(built.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert not Sim("step", {"step_size": 1}).built.needs_metric


def test_stepped_decay_and_trapezoid_are_lrscheduler_subclasses():
    for name, kw in [("stepped-decay", {"step_size": 2}), ("trapezoid", {}), ("wsd", {})]:
        sched = Sim(name, kw).built.scheduler
        cls = type(sched)
        assert issubclass(cls, torch.optim.lr_scheduler.LRScheduler)
        # its own closed form, or the one it specialises (trapezoid is wsd's linear case)
        assert cls.get_lr is not torch.optim.lr_scheduler.LRScheduler.get_lr, \
            f"{cls.__name__} must override get_lr"


def test_onecycle_cycles_sgd_momentum_and_peaks_at_each_groups_base_lr():
    sim = simulate("onecycle", {}, lrs=(0.1, 0.02))
    lr0, mom = onecycle_ref(STEP_T, N, 0.3, 25.0, 1e4)
    lr1, _ = onecycle_ref(STEP_T, N, 0.3, 25.0, 1e4, peak=0.02)
    np.testing.assert_allclose(sim.lrs(0), lr0, rtol=RTOL)
    np.testing.assert_allclose(sim.lrs(1), lr1, rtol=RTOL)
    np.testing.assert_allclose(sim.momentum, mom, rtol=RTOL)
    # each group's peak is its own base LR (the peak itself falls between updates 9 and 10)
    np.testing.assert_allclose(sim.lrs(1) / sim.lrs(0), 0.2, rtol=1e-12)


def test_onecycle_cycle_momentum_false_leaves_momentum_and_adam_betas_alone():
    sim = simulate("onecycle", {"cycle_momentum": False})
    assert set(sim.momentum) == {0.9}
    adam = simulate("onecycle", {"cycle_momentum": False}, kind="adam")
    assert set(adam.momentum) == {0.9}
    np.testing.assert_allclose(adam.lrs(), onecycle_ref(STEP_T, N, 0.3, 25.0, 1e4)[0], rtol=RTOL)
    # PyTorch's default with Adam: beta1 cycles between 0.95 and 0.85 like SGD momentum
    cycled = simulate("onecycle", {}, kind="adam")
    np.testing.assert_allclose(cycled.momentum, onecycle_ref(STEP_T, N, 0.3, 25.0, 1e4)[1], rtol=RTOL)


# -- resume ------------------------------------------------------------------------------------------


def _checkpoint(sim):
    buf = io.BytesIO()
    torch.save(
        {
            "model": sim.model.state_dict(),
            "optimizer": sim.opt.state_dict(),
            "scheduler": sim.built.scheduler.state_dict(),
        },
        buf,
    )
    buf.seek(0)
    # the runner loads checkpoints with the safe loader; scheduler state must be plain data
    return torch.load(buf, weights_only=True)


def _assert_resume_identical(type_, kwargs, interval=None, val=None, stop=3):
    full = simulate(type_, kwargs, interval=interval, val=val)

    first = Sim(type_, kwargs, interval=interval).run_epochs(0, stop, val)
    ckpt = _checkpoint(first)

    # a fresh process: new model and optimizer, scheduler built on them, then state loaded
    second = Sim(type_, kwargs, interval=interval)
    second.model.load_state_dict(ckpt["model"])
    second.opt.load_state_dict(ckpt["optimizer"])
    second.built.scheduler.load_state_dict(ckpt["scheduler"])
    second.run_epochs(stop, EPOCHS, val)

    resumed = np.array(first.lr + second.lr)
    np.testing.assert_allclose(resumed, np.array(full.lr), rtol=1e-12, atol=0)
    np.testing.assert_allclose(first.momentum + second.momentum, full.momentum, rtol=1e-12, atol=0)
    for a, b in zip(second.model.parameters(), full.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    return full


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(case):
    _, type_, kwargs, interval, expected, val = case
    full = _assert_resume_identical(type_, kwargs, interval, val)
    np.testing.assert_allclose(full.lrs(), expected, rtol=RTOL, atol=1e-15)


def test_resume_mid_warmup_and_after_the_warmup_handover():
    # epoch boundaries at updates 5 and 10: inside the warmup (W = 7) and after the switch to cosine
    for stop in (1, 2):
        _assert_resume_identical("warmup-cosine", {"warmup": {"frac": 0.2}}, stop=stop)


# -- resolve -------------------------------------------------------------------------------------------


def test_resolve_frac_is_relative_to_run_length_in_interval_units():
    kw = {"step_size": {"frac": 0.3}}
    assert resolve("step", kw, epochs=10, steps_per_epoch=4, interval="epoch") == {
        "step_size": 3,
        "gamma": 0.1,
    }
    assert resolve("step", kw, epochs=10, steps_per_epoch=4, interval="step")["step_size"] == 12
    # never 0, whatever the budget
    assert (
        resolve("step", {"step_size": {"frac": 0.01}}, epochs=10, steps_per_epoch=4, interval="epoch")[
            "step_size"
        ]
        == 1
    )
    assert (
        resolve("step", {"step_size": {"frac": 1}}, epochs=10, steps_per_epoch=4, interval="step")[
            "step_size"
        ]
        == 40
    )


def test_resolve_milestone_fracs():
    kw = {"milestones": {"frac": [0.5, 0.75]}}
    assert resolve("multistep", kw, epochs=8, steps_per_epoch=3, interval="epoch")["milestones"] == [4, 6]
    assert resolve("multistep", kw, epochs=8, steps_per_epoch=3, interval="step")["milestones"] == [12, 18]
    with pytest.raises(ValueError, match="collapse"):
        resolve(
            "multistep", {"milestones": {"frac": [0.1, 0.12]}}, epochs=5, steps_per_epoch=1, interval="epoch"
        )


def test_resolve_ref_epochs_rate_keeps_total_decay():
    kw = {"gamma": {"value": 0.9, "ref_epochs": 30}}
    per_epoch = resolve("exponential", kw, epochs=10, steps_per_epoch=4, interval="epoch")["gamma"]
    assert per_epoch == pytest.approx(0.729, rel=1e-12)  # 0.9 ** (30 / 10)
    per_step = resolve("exponential", kw, epochs=10, steps_per_epoch=4, interval="step")["gamma"]
    assert per_step == pytest.approx(0.729**0.25, rel=1e-12)
    assert per_step ** (10 * 4) == pytest.approx(0.9**30, rel=1e-9)
    # a plain rate is taken as per interval unit, as written
    assert resolve("exponential", {"gamma": 0.95}, epochs=10, steps_per_epoch=4, interval="step") == {
        "gamma": 0.95
    }


def test_resolve_fills_run_length_and_defaults():
    r = dict(epochs=7, steps_per_epoch=5)
    assert resolve("cosine", {}, interval="step", **r) == {"T_max": 35, "eta_min": 0.0}
    assert resolve("cosine", {}, interval="epoch", **r) == {"T_max": 7, "eta_min": 0.0}
    assert resolve("cosine", {"T_max": {"frac": 0.5}}, interval="epoch", **r)["T_max"] == 4  # round(3.5) -> 4
    assert resolve("linear", {}, interval="epoch", **r) == {"final_factor": 0.1, "total_iters": 7}
    assert resolve("onecycle", {}, interval="step", **r)["total_steps"] == 35
    assert resolve("onecycle", {}, interval="epoch", **r)["total_steps"] == 7
    assert resolve("warmup-cosine", {}, interval="step", **r) == {
        "warmup": 2,
        "start_factor": 0.01,
        "eta_min": 0.0,
        "total_iters": 35,
    }
    assert resolve("trapezoid", {}, interval="step", **r) == {"warmup": 2, "decay": 7, "total_iters": 35}
    assert resolve("wsd", {}, interval="step", **r) == {
        "warmup": 0, "cooldown": 7, "shape": "linear", "final_factor": 0.0, "total_iters": 35}
    assert resolve("plateau", {}, interval="epoch", **r) == {
        "factor": 0.1,
        "patience": 10,
        "threshold": 1e-4,
        "threshold_mode": "rel",
        "cooldown": 0,
        "min_lr": 0.0,
        "eps": 1e-8,
    }
    # writing a default out, or writing it as an int, gives the same config (and run key)
    a = resolve("step", {"step_size": 2}, interval="epoch", **r)
    b = resolve("step", {"step_size": 2, "gamma": 0.1}, interval="epoch", **r)
    assert a == b and json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = resolve("step", {"step_size": 2, "gamma": 1}, interval="epoch", **r)
    assert c["gamma"] == 1.0 and isinstance(c["gamma"], float)


def _plain(v):
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    return type(v) in (int, float, bool, str)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_resolved_kwargs_are_plain_json(case):
    _, type_, kwargs, interval, _, _ = case
    r = resolve(
        type_, kwargs, epochs=EPOCHS, steps_per_epoch=SPE, interval=interval or default_interval(type_)
    )
    assert json.loads(json.dumps(r)) == r
    assert all(_plain(v) for v in r.values()), r


def test_resolve_rejects_what_does_not_fit_the_run():
    r = dict(epochs=7, steps_per_epoch=5)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        resolve("step", {"step_size": 1, "gamma": 0}, interval="epoch", **r)
    with pytest.raises(ValueError, match="warmup"):
        resolve("warmup-cosine", {"warmup": 35}, interval="step", **r)
    with pytest.raises(ValueError, match="exceed total_iters"):
        resolve("trapezoid", {"warmup": 4, "decay": 4}, interval="epoch", **r)
    with pytest.raises(ValueError, match=r"warmup \+ cooldown \(4 \+ 4\) exceed the run \(7 epochs\)"):
        resolve("wsd", {"warmup": 4, "cooldown": 4}, interval="epoch", **r)
    # OneCycleLR would divide by zero with an empty warm-up phase (0.3 * 3 - 1 < 0)
    with pytest.raises(ValueError, match="empty phase"):
        resolve("onecycle", {}, epochs=3, steps_per_epoch=5, interval="epoch")
    with pytest.raises(ValueError, match="interval must be 'epoch'"):
        resolve("plateau", {}, interval="step", **r)


def test_build_refuses_unresolved_or_stale_kwargs():
    _, opt = _model_and_opt()
    with pytest.raises(ValueError, match="not resolved"):
        build(
            "step",
            {"step_size": {"frac": 0.5}, "gamma": 0.1},
            opt,
            interval="epoch",
            epochs=7,
            steps_per_epoch=5,
        )
    # OneCycleLR raises once stepped past total_steps, so a config resolved for a shorter run must not build
    resolved = resolve("onecycle", {}, epochs=7, steps_per_epoch=5, interval="step")
    with pytest.raises(ValueError, match="do not match this run"):
        build("onecycle", resolved, opt, interval="step", epochs=8, steps_per_epoch=5)
    with pytest.raises(ValueError, match="interval must be 'epoch'"):
        build(
            "plateau",
            resolve("plateau", {}, epochs=7, steps_per_epoch=5, interval="epoch"),
            opt,
            interval="step",
            epochs=7,
            steps_per_epoch=5,
        )


# -- check -------------------------------------------------------------------------------------------


def test_check_accepts_every_case():
    for _, type_, kwargs, interval, _, _ in CASES:
        assert check(type_, kwargs, interval=interval) is None, (type_, kwargs)


def test_check_unknown_schedule_lists_allowed():
    msg = check("cosin", {})
    assert msg == (
        "unknown schedule 'cosin'; allowed: constant, cosine, cosine-restarts, exponential, linear, "
        "multistep, onecycle, plateau, step, stepped-decay, trapezoid, warmup-cosine, wsd "
        "or 'package.module:Class'"
    )


def test_check_unknown_kwarg_says_what_is_taken():
    assert check("step", {"step_size": 2, "stepsize": 3}) == (
        "takes step_size, gamma; got 'stepsize' (did you mean 'step_size'?)"
    )
    assert check("constant", {"gamma": 0.1}).startswith("takes no arguments; got 'gamma'")
    assert check("step", {}) == "requires step_size"
    assert check("exponential", {}) == "requires gamma"


@pytest.mark.parametrize("gamma", [-0.1, 0, float("nan"), True, "0.1"])
def test_check_bad_gamma(gamma):
    assert check("step", {"step_size": 2, "gamma": gamma}) == f"gamma must be > 0, got {gamma!r}"


@pytest.mark.parametrize(
    "value",
    [{"frac": 1.5}, {"frac": 0}, {"frac": -0.2}, {"fraction": 0.5}, {"frac": 0.5, "x": 1}, 0, 2.5, "3", True],
)
def test_check_bad_length(value):
    msg = check("step", {"step_size": value})
    assert msg == f"step_size must be a positive int or {{frac = x}} with 0 < x <= 1, got {value!r}"


def test_check_value_sanity():
    assert check("plateau", {"factor": 1.0}) == "factor must be in (0, 1), got 1.0"
    assert check("plateau", {"patience": -1}).startswith("patience must be an int >= 0 or {frac = x}")
    assert check("plateau", {"patience": 0}) is None
    assert check("plateau", {"mode": "max"}).startswith("mode is fixed to 'min'")
    assert check("multistep", {"milestones": [5, 3]}).startswith(
        "milestones must be a non-empty increasing list"
    )
    assert check("multistep", {"milestones": [0, 3]}) is not None
    assert check("multistep", {"milestones": []}) is not None
    assert check("multistep", {"milestones": {"frac": [0.6, 0.3]}}) is not None
    assert check("exponential", {"gamma": {"value": 0.9}}).startswith(
        "gamma must be > 0 or {value = g, ref_epochs = R}"
    )
    assert check("exponential", {"gamma": {"value": 0.9, "ref_epochs": 0}}) is not None
    assert check("onecycle", {"pct_start": 1.0}) == "pct_start must be in (0, 1), got 1.0"
    assert check("onecycle", {"anneal_strategy": "cosine"}) == (
        "anneal_strategy must be one of 'cos', 'linear', got 'cosine'"
    )
    assert check("onecycle", {"cycle_momentum": "no"}) == "cycle_momentum must be true or false, got 'no'"
    assert check("cosine-restarts", {"T_0": 5, "T_mult": 1.5}) == "T_mult must be an int >= 1, got 1.5"
    assert check("warmup-cosine", {"warmup": {"frac": 1.0}}).startswith("warmup must leave room")
    assert check("warmup-cosine", {"start_factor": 0}) == "start_factor must be in (0, 1], got 0"
    assert check("trapezoid", {"warmup": {"frac": 0.5}, "decay": {"frac": 0.6}}).startswith(
        "warmup + decay must fit"
    )
    assert check("trapezoid", {"warmup": 0}) is None
    assert check("wsd", {"warmup": {"frac": 0.9}}) == (
        "warmup + cooldown must fit in the run; got fracs 0.9 + 0.2 > 1")
    assert check("wsd", {"warmup": {"frac": 0.5}, "cooldown": {"frac": 0.5}}) is None
    assert check("wsd", {"shape": "cosine"}) == "shape must be one of 'linear', 'sqrt', got 'cosine'"
    assert check("wsd", {"final_factor": 1.0}) == "final_factor must be in [0, 1), got 1.0"
    assert check("wsd", {"cooldown": 0}).startswith("cooldown must be a positive int or {frac = x}")


def test_check_run_length_kwargs_only_as_frac():
    assert check("cosine", {"T_max": 100}).startswith("T_max is the run length, filled in by the runner")
    assert check("cosine", {"T_max": {"frac": 0.5}}) is None
    assert check("linear", {"total_iters": 10}).startswith("total_iters is the run length")
    assert check("linear", {"total_iters": {"frac": 0.8}}) is None
    assert check("trapezoid", {"total_iters": 10}).startswith("total_iters is the run length")
    assert check("wsd", {"total_iters": {"frac": 0.5}}).startswith("total_iters is the run length")
    assert check("onecycle", {"max_lr": 0.1}) == "max_lr is the run's base LR (set base_lr instead)"
    assert check("onecycle", {"total_steps": 1000}).startswith("total_steps is the run length")
    assert check("onecycle", {"total_steps": {"frac": 1.0}}).startswith("total_steps is the run length")
    assert check("warmup-cosine", {"total_iters": {"frac": 0.5}}).startswith("total_iters is the run length")


def test_check_interval_and_kwargs_shape():
    assert check("cosine", {}, interval="hourly") == "interval must be one of epoch, step, got 'hourly'"
    assert check("plateau", {}, interval="step").endswith("its interval must be 'epoch'")
    assert check("plateau", {}, interval="epoch") is None
    assert check("cosine", {}, interval="epoch") is None
    assert check("step", [("step_size", 2)]).startswith("schedule kwargs must be a table")


# -- custom classes by import path --------------------------------------------------------------------

CUSTOM_MODULE = "annealbench_test_custom_sched"
CUSTOM_SOURCE = '''
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau


class HalvingLR(LRScheduler):
    """base * max(floor, 0.5 ** (t // period))"""

    def __init__(self, optimizer, period, floor=0.0, last_epoch=-1):
        self.period = period
        self.floor = floor
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        f = max(self.floor, 0.5 ** (self.last_epoch // self.period))
        return [b * f for b in self.base_lrs]


class GentlePlateau(ReduceLROnPlateau):
    def __init__(self, optimizer, patience=1):
        super().__init__(optimizer, mode="min", factor=0.5, patience=patience)


def not_a_scheduler(optimizer):
    return None
'''


@pytest.fixture
def custom_module(tmp_path, monkeypatch):
    (tmp_path / f"{CUSTOM_MODULE}.py").write_text(CUSTOM_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, CUSTOM_MODULE, raising=False)
    yield CUSTOM_MODULE
    sys.modules.pop(CUSTOM_MODULE, None)


def test_custom_class_check(custom_module):
    path = f"{custom_module}:HalvingLR"
    assert check(path, {"period": 3}) is None
    assert check(path, {"period": {"frac": 0.4}, "floor": 0.2}) is None
    assert check(path, {"perod": 3}) == "takes period, floor; got 'perod' (did you mean 'period'?)"
    assert check(path, {}) == "requires period"
    assert check(path, {"period": {"frac": 2}}).startswith("period must be a positive int or {frac = x}")
    assert check(path, {"period": 3, "last_epoch": 4}).startswith("last_epoch is set by the runner")
    assert default_interval(path) == "epoch"
    msg = check(f"{custom_module}:Nope", {})
    # the same words as a model or data set by path (annealbench.user_code)
    assert msg == (f"cannot import '{custom_module}:Nope': module '{custom_module}' has no "
                   "attribute 'Nope'")
    assert check(f"{custom_module}:not_a_scheduler", {}) == (
        f"'{custom_module}:not_a_scheduler' is not an LRScheduler or ReduceLROnPlateau subclass"
    )


def test_custom_class_that_does_not_import():
    assert check("annealbench_no_such_pkg.sched:Nope", {}) == (
        "cannot import 'annealbench_no_such_pkg.sched:Nope' "
        "(ModuleNotFoundError: No module named 'annealbench_no_such_pkg')"
    )
    assert check(":Nope", {}) == "':Nope' is not of the form 'package.module:Class'"


def test_custom_class_trajectory_and_resume(custom_module):
    path = f"{custom_module}:HalvingLR"
    kwargs = {"period": {"frac": 0.4}, "floor": 0.2}  # 0.4 * 35 = 14 updates per halving
    assert resolve(path, kwargs, epochs=EPOCHS, steps_per_epoch=SPE, interval="step") == {
        "period": 14,
        "floor": 0.2,
    }
    expected = BASE * np.maximum(0.2, 0.5 ** (STEP_T // 14))
    sim = simulate(path, kwargs, interval="step")
    assert not sim.built.needs_metric and sim.built.interval == "step"
    np.testing.assert_allclose(sim.lrs(), expected, rtol=RTOL)
    _assert_resume_identical(path, kwargs, interval="step")


def test_custom_plateau_subclass_needs_metric(custom_module):
    path = f"{custom_module}:GentlePlateau"
    assert check(path, {}) is None
    assert check(path, {}, interval="step").endswith("its interval must be 'epoch'")
    sim = simulate(path, {}, val=PLATEAU_A_VAL)
    assert sim.built.needs_metric
    np.testing.assert_allclose(sim.lrs(), np.repeat(PLATEAU_A_EPOCH_LR, SPE), rtol=RTOL)
    _assert_resume_identical(path, {}, val=PLATEAU_A_VAL)


def test_closed_form_helpers_are_themselves_sane():
    # guards against a reference that agrees with the scheduler for the wrong reason
    assert warmup_cosine_ref([0, 7, 34], 7, 0.1, 35)[1] == pytest.approx(BASE)
    assert trapezoid_ref([0, 6, 7, 20, 21, 34], 7, 14, 35).tolist() == pytest.approx(
        [BASE / 8, BASE * 7 / 8, BASE, BASE, BASE, BASE / 14]
    )
    assert wsd_ref([0, 27, 28, 29, 34, 35, 40], 0, 7, 35, "sqrt", 0.1).tolist() == pytest.approx(
        BASE * np.array([1, 1, 1, 0.1 + 0.9 * (1 - math.sqrt(1 / 7)), 0.1 + 0.9 * (1 - math.sqrt(6 / 7)),
                         0.1, 0.1])
    )
    lr, mom = onecycle_ref([0, 34], 35, 0.3, 25.0, 1e4)
    assert lr.tolist() == pytest.approx([BASE / 25, BASE / 25 / 1e4])
    assert mom.tolist() == pytest.approx([0.95, 0.95])
    assert restarts_ref([0, 9, 10, 29, 30], 10, 2, 0.0)[[0, 2, 4]].tolist() == pytest.approx([BASE] * 3)
    assert math.isclose(0.9 ** (14 * 35 / N), 0.9**14)
