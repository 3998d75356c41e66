"""Weight averaging riding on a host run: EMA and uniform averages against hand computations, BatchNorm
recomputation, averages.csv beside unchanged host records, resume and prefix sharing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from testkit import AVERAGED_ARMS, run_rows

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.sharing.fork import _copy_heldout
from annealbench.sharing.plan import plan
from annealbench.sharing.trajectory import averages_agree
from annealbench.spec.arms import start_step
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.store import AVERAGE_COLUMNS, RunDir, heldout_key
from annealbench.training.averaging import Average, Averages, recompute_bn

CPU = torch.device("cpu")
ARMS = AVERAGED_ARMS
ONE = {"seeds = [0, 1]": "seeds = [0]", "[schedules.step]\nstep_size = { frac = 0.34 }\ngamma = 0.1\n": "",
       "[schedules.onecycle]\n": "", "[schedules.plateau]\npatience = 0\n": ""}


def _with(arms: str) -> dict:
    """The one-seed, one-arm tiny study with ``arms`` riding on its fixed LR."""
    return {**ONE, "[schedules.constant]\n": "[schedules.constant]\n" + arms}


def _run(study, out, **kw):
    return run_study(study, RunOptions(out, CPU, None, log=lambda _m: None, **kw))


def _trajectory(steps: int):
    """A linear model trained ``steps`` SGD steps: (model, its parameters) before the first step
    (step 0) and after each."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 2)
    yield model, [p.detach().clone() for p in model.parameters()]
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
        yield model, [p.detach().clone() for p in model.parameters()]


def test_ema_equals_hand_computation():
    steps = _trajectory(5)
    model, expected = next(steps)
    avg = Average({"average": "ema", "decay": 0.8, "bn_batches": 0}, model, None)  # the initial weights
    for i, (model, params) in enumerate(steps, 1):
        avg.update(model, i)
        expected = [0.8 * e + 0.2 * p for e, p in zip(expected, params)]
    assert not torch.equal(expected[0], params[0])
    for a, e in zip(avg.weights(model), expected):
        torch.testing.assert_close(a, e)


def test_uniform_equals_mean_of_weights_after_start():
    steps = _trajectory(6)
    model, _ = next(steps)
    avg = Average({"average": "uniform", "start": 2, "bn_batches": 0}, model, 2)
    seen = []
    for i, (model, params) in enumerate(steps, 1):
        if i <= 2:  # nothing averaged yet: the weights themselves
            assert all(torch.equal(a, p) for a, p in zip(avg.weights(model), model.parameters()))
        avg.update(model, i)
        if i > 2:
            seen.append(params)
    assert avg.n == 4
    for j, a in enumerate(avg.weights(model)):
        torch.testing.assert_close(a, torch.stack([s[j] for s in seen]).mean(0))
    restored = Average(avg.rule, model, 2)
    restored.load_state_dict(avg.state_dict())
    assert restored.n == 4 and all(torch.equal(a, b) for a, b in zip(restored.params, avg.params))


def test_start_step():
    assert start_step({"average": "uniform", "start": {"frac": 0.5}}, 3, 4) == 6
    assert start_step({"average": "uniform", "start": 2}, 3, 4) == 8
    assert start_step({"average": "ema", "decay": 0.9}, 3, 4) is None


class _BNTask:
    """The part of a task recompute_bn uses: fixed training batches by (epoch, seed)."""

    def __init__(self):
        self.calls = []

    def train_batches(self, epoch, seed):
        self.calls.append((epoch, seed))
        g = torch.Generator().manual_seed(epoch * 1000 + seed)
        for _ in range(10):
            yield torch.randn(16, 4, generator=g) * 3 + 1

    def train_loss(self, model, batch):
        return model(batch).sum(), len(batch)


class _S:
    def __init__(self):
        self.task = _BNTask()
        self.device = CPU
        self.cfg = {"seed": 7, "precision": "fp32"}
        self.amp = ("fp32", "cpu")


def test_bn_recomputation_is_the_mean_over_its_batches_and_leaves_rng_alone():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    s = _S()
    before = torch.random.get_rng_state()
    recompute_bn(s, model, 3)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert s.task.calls == [(0, 7)]
    with torch.no_grad():
        feats = [model[0](b) for _, b in zip(range(3), s.task.train_batches(0, 7))]
    # the plain mean of the batches' statistics (momentum None), not a running one
    torch.testing.assert_close(model[1].running_mean, torch.stack([f.mean(0) for f in feats]).mean(0))
    torch.testing.assert_close(model[1].running_var, torch.stack([f.var(0) for f in feats]).mean(0))
    assert model[1].momentum == 0.1 and model.training
    untouched = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    recompute_bn(s, untouched, 0)
    assert torch.equal(untouched[1].running_mean, torch.zeros(4))


def _averages(run_dir: Path) -> list[dict]:
    with open(run_dir / "averages.csv", newline="") as f:
        return list(csv.DictReader(f))


def _hosts(out: Path) -> dict[str, Path]:
    runs = {}
    for d in sorted((out / "tiny" / "runs").iterdir()):
        cfg = json.loads((d / "config.json").read_text())
        if cfg["schedule"] == "constant":
            runs[cfg["epochs"]] = d
    return runs


def test_host_records_unchanged_and_averages_written(write_study, tmp_path):
    plain = load_study(write_study(replace=ONE))
    averaged = load_study(write_study(replace=_with(ARMS)))
    _run(plain, tmp_path / "plain")
    _run(averaged, tmp_path / "avg")
    (p,) = _hosts(tmp_path / "plain").values()
    (a,) = _hosts(tmp_path / "avg").values()
    assert run_rows(p) == run_rows(a)  # the averaging leaves the host's trajectory alone
    assert not (p / "averages.csv").exists()
    rows = _averages(a)
    assert tuple(rows[0]) == AVERAGE_COLUMNS
    host = {(r[0], r[2], r[3]): r for r in run_rows(a) if r[2] in ("val", "test")}
    assert {r["arm"] for r in rows} == {"constant-ema", "constant-swa"}
    for arm in ("constant-ema", "constant-swa"):
        mine = [(r["epoch"], r["split"], r["metric"]) for r in rows if r["arm"] == arm]
        assert mine == [k for k in host]  # the host's evaluations: epochs, splits, metrics
        for r in rows:  # the host's step and LR
            assert host[(r["epoch"], r["split"], r["metric"])][1] == r["step"]
            assert host[(r["epoch"], r["split"], r["metric"])][5] == r["lr"]
    ema = {(r["epoch"], r["split"], r["metric"]): r["value"] for r in rows if r["arm"] == "constant-ema"}
    assert any(ema[k] != host[k][4] for k in ema if k[0] != "0")  # another model than the host's
    ck = torch.load(a / "checkpoint.pt", weights_only=True)
    assert set(ck["averages"]) == {"constant-ema", "constant-swa"}
    # per-example outcomes of each average beside the host's own, at the judged (last) epoch
    own, mine = RunDir(p).read_heldout(), RunDir(a).read_heldout()
    assert own and all(np.array_equal(own[k], mine[k]) for k in own)
    value = {(r["arm"], r["split"], r["metric"]): float(r["value"]) for r in rows if r["epoch"] == "3"}
    for arm in ("constant-ema", "constant-swa"):
        for split in ("val", "test"):
            loss = mine[heldout_key(split, "loss", 3, arm)].astype(float)
            n = int(mine[heldout_key(split, "n", 3, arm)][0])
            correct = np.unpackbits(mine[heldout_key(split, "correct", 3, arm)])[:n]
            assert loss.mean() == pytest.approx(value[(arm, split, "loss")], rel=2e-3)
            assert correct.mean() == pytest.approx(value[(arm, split, "accuracy")])
    arms = ("constant-ema", "constant-swa")
    assert set(mine) - set(own) == {heldout_key(s, m, 3, arm) for s in ("val", "test")
                                    for m in ("loss", "correct", "n") for arm in arms}


def test_a_fork_copies_the_averaged_outcomes_only_of_the_arms_it_carries(tmp_path):
    donor, fork = RunDir(tmp_path / "donor"), RunDir(tmp_path / "fork")
    donor.root.mkdir()
    fork.root.mkdir()
    one = {"val": {"loss": np.ones(3)}}
    for epoch in (2, 4):
        donor.write_heldout(epoch, one, {"constant-ema": one, "constant-swa": one})
    _copy_heldout(fork, donor, 2, {"constant-ema": {}})
    assert set(fork.read_heldout()) == {"val.loss.00002", "constant-ema+val.loss.00002"}
    _copy_heldout(fork, donor, 4, {})
    assert set(fork.read_heldout()) == {"val.loss.00002", "val.loss.00004"}


def test_bn_recomputation_changes_the_averaged_evaluation(write_study, tmp_path):
    arms = {0: ARMS.replace("bn_batches = 2", "bn_batches = 0"), 2: ARMS}
    got = {}
    for n, text in arms.items():
        study = load_study(write_study(replace=_with(text)))
        _run(study, tmp_path / str(n))
        (d,) = _hosts(tmp_path / str(n)).values()
        got[n] = (run_rows(d), [(r["arm"], r["epoch"], r["metric"], r["value"]) for r in _averages(d)])
    assert got[0][0] == got[2][0]  # the host trains the same either way
    assert got[0][1] != got[2][1]


@pytest.mark.parametrize(("start", "forked"), [("{ frac = 0.5 }", {2}), ("0", {1, 2})])
def test_shorter_hosts_fork_only_where_the_averages_agree(write_study, tmp_path, start, forked):
    """Shorter fixed-LR hosts fork from the longest, copying its averaged evaluations, as far as their
    averages agree: a uniform average starting at half of each run differs from the first half
    of the shorter run's on (the 2-epoch run forks epoch 1, the 1-epoch run none); every host's
    averaged evaluations equal those of the same run trained alone."""
    text = ARMS.replace("{ frac = 0.5 }", start)
    replace = {**ONE, "[schedules.constant]\n": "[schedules.constant]\n" + text,
               "seeds = [0, 1]": "seeds = [0]\nbudget_curve = [0.34, 0.67, 1.0]"}
    study = load_study(write_study(replace=replace))
    _run(study, tmp_path / "shared")
    _run(study, tmp_path / "alone", share_prefix=False)
    shared, alone = _hosts(tmp_path / "shared"), _hosts(tmp_path / "alone")
    assert set(shared) == {1, 2, 3}
    for e in shared:
        assert _strip(shared[e]) == _strip(alone[e])
        assert run_rows(shared[e]) == run_rows(alone[e])
        mine, theirs = RunDir(shared[e]).read_heldout(), RunDir(alone[e]).read_heldout()
        assert any("+" in k for k in mine) and set(mine) == set(theirs)
        assert all(np.array_equal(mine[k], theirs[k]) for k in mine)
    assert {e for e in shared if (shared[e] / "prefix.json").exists()} == forked


def _strip(d: Path):
    return [(r["arm"], r["epoch"], r["split"], r["metric"], r["value"], r["lr"]) for r in _averages(d)]


def test_averages_of_a_config_without_rules_is_none():
    assert Averages.of({"epochs": 3}, torch.nn.Linear(2, 2), 4) is None


def test_averages_agree():
    ema = {"e": {"average": "ema", "decay": 0.9, "bn_batches": 0}}
    swa = {"s": {"average": "uniform", "start": {"frac": 0.5}, "bn_batches": 0}}
    assert averages_agree({"epochs": 2}, {"epochs": 4, "averages": ema}, 4) is None  # carries none
    assert averages_agree({"epochs": 2, "averages": ema}, {"epochs": 4}, 4) == 0
    assert averages_agree({"epochs": 2, "averages": ema}, {"epochs": 4, "averages": swa}, 4) == 0
    assert averages_agree({"epochs": 2, "averages": ema}, {"epochs": 4, "averages": ema}, 4) is None
    # starts after step 4 (of 2 epochs) and 8 (of 4): the first epoch holds no average in either
    assert averages_agree({"epochs": 2, "averages": swa}, {"epochs": 4, "averages": swa}, 4) == 1
    assert averages_agree({"epochs": 4, "averages": swa}, {"epochs": 4, "averages": swa}, 4) is None


def test_plan_a_run_without_averages_forks_from_a_host_not_the_other_way(write_study):
    replace = {k: v for k, v in _with(ARMS).items() if "plateau" not in k}
    grid = expand(load_study(write_study(replace=replace)), "cpu")
    host, = [c for c in grid if c.get("averages")]
    plateau, = [c for c in grid if c["schedule"] == "plateau"]
    p = plan(grid, 4, "all")
    assert p.forks[plateau["run_key"]].donor == host["run_key"]  # same trajectory, no averages
    assert host["run_key"] not in p.forks
    alone = plan([{**plateau, "epochs": 4}, host], 4, "all")  # the host is the shorter one now
    assert host["run_key"] not in alone.forks
