"""Shared prefixes: forks write exactly the records of runs trained on their own; the plan's k comes
from the schedules' trajectories; sharing off, divergence, a locked donor, policy."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
import torch
from testkit import load_text, run_rows, synthetic_cnn

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.sharing import plan as prefix
from annealbench.spec.grid import expand
from annealbench.store import RunDir, RunLock

CPU = torch.device("cpu")
STUDY = """
spec_version = 1

[study]
name = "pre"
primary_metric = "accuracy"
epochs = 4
batch_size = 32
seeds = [0]
budget_curve = [0.5, 1.0]

""" + synthetic_cnn(128, 64, 8) + """[schedules.constant]

[schedules.stepped-decay]
step_size = { frac = 0.5 }
gamma = 0.5

[schedules.exponential]
gamma = 0.7

[schedules.linear]

[schedules.cosine]

[schedules.plateau]
patience = 0
"""
SPE = 4  # 128 images / batch 32


def _study(tmp_path: Path, text: str = STUDY):
    return load_text(tmp_path, text, "pre.toml")


class Runs:
    """A study trained once with shared prefixes and once with every run on its own."""

    def __init__(self, study, out: Path, **kw):
        self.study, self.out, self.log = study, out, []
        self.shared = run_study(study, RunOptions(out / "shared", CPU, None, log=self.log.append, **kw))
        self.alone = run_study(study, RunOptions(out / "alone", CPU, None, log=lambda m: None,
                               share_prefix=False))
        self.cfg = {c["run_key"]: c for c in expand(study, "cpu")}

    def key(self, schedule: str, epochs: int) -> str:
        return next(k for k, c in self.cfg.items() if (c["schedule"], c["epochs"]) == (schedule, epochs))

    def dir(self, key: str, which: str = "shared") -> Path:
        return self.out / which / self.study.name / "runs" / key

    def shared_with(self, key: str) -> dict | None:
        f = self.dir(key) / "prefix.json"
        return json.loads(f.read_text()) if f.exists() else None

    def trained(self, key: str) -> int:
        return next(o.epochs_trained for o in self.shared if o.run_key == key)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    tmp = tmp_path_factory.mktemp("prefix")
    return Runs(_study(tmp), tmp)


def test_every_forked_run_writes_the_records_of_a_run_trained_alone(runs):
    assert {o.status for o in runs.shared + runs.alone} == {"completed"}
    for key in runs.cfg:
        assert run_rows(runs.dir(key)) == run_rows(runs.dir(key, "alone")), runs.cfg[key]["schedule"]
    # config.json (compared on resume) does not say whether a run was shared
    for key in runs.cfg:
        assert (runs.dir(key) / "config.json").read_bytes() == \
            (runs.dir(key, "alone") / "config.json").read_bytes()


def test_step_decay_forks_from_the_fixed_lr_and_trains_only_the_rest(runs):
    key = runs.key("stepped-decay", 4)  # step_size 2 of 4: epochs 1-2 at the base LR
    assert runs.shared_with(key) == {"donor": runs.key("constant", 4), "epochs": 2, "whole": False}
    assert runs.trained(key) == 2
    # the copied epochs carry the donor's measured training time, the rest this run's own
    donor = runs.dir(runs.key("constant", 4))
    for e in (0, 1, 2):
        name = f"epochs/{e:05d}.csv"
        assert (runs.dir(key) / name).read_bytes() == (donor / name).read_bytes()
    assert (runs.dir(key) / "epochs/00003.csv").read_bytes() != (donor / "epochs/00003.csv").read_bytes()


def test_per_epoch_exponential_and_linear_share_their_first_epoch(runs):
    constant = runs.key("constant", 4)
    for schedule in ("exponential", "linear"):
        key = runs.key(schedule, 4)
        assert runs.shared_with(key) == {"donor": constant, "epochs": 1, "whole": False}
        assert runs.trained(key) == 3
    # linear's slope depends on the run's length: the 2-epoch run shares epoch 1 only
    assert runs.shared_with(runs.key("linear", 2))["epochs"] == 1
    # exponential's gamma does not: the 2-epoch run is the 4-epoch one's prefix, whole
    assert runs.shared_with(runs.key("exponential", 2)) == {
        "donor": runs.key("exponential", 4), "epochs": 2, "whole": True}


def test_whole_length_fixed_lr_fork_copies_the_donor_and_trains_nothing(runs):
    key = runs.key("constant", 2)
    assert runs.shared_with(key) == {"donor": runs.key("constant", 4), "epochs": 2, "whole": True}
    assert runs.trained(key) == 0
    status = json.loads((runs.dir(key) / "status.json").read_text())
    assert status["status"] == "completed" and status["epochs_done"] == 2
    assert not (runs.dir(key) / "checkpoint.pt").exists()
    # what the 2-epoch fixed LR measures is the 4-epoch one's epoch-2 evaluation, test included
    assert {r[0] for r in run_rows(runs.dir(key)) if r[2] == "test"} == {"2"}


def test_cosine_per_step_gets_no_fork(runs):
    for epochs in (2, 4):
        key = runs.key("cosine", epochs)
        assert runs.shared_with(key) is None and runs.trained(key) == epochs


def test_plateau_shares_what_the_recorded_validation_losses_allow(runs):
    """Planned as if validation always improved; the fork steps a fresh ReduceLROnPlateau on the
    donor's recorded losses and shares the epochs before its first cut (a kept state there)."""
    key = runs.key("plateau", 4)
    got = runs.shared_with(key)
    assert got is not None and got["donor"] == runs.key("constant", 4)
    lrs = [float(r[5]) for r in run_rows(runs.dir(key, "alone")) if r[3] == "step_loss"]
    uncut = next((i for i, lr in enumerate(lrs) if lr != lrs[0]), len(lrs)) // SPE
    assert got["epochs"] == (4 if uncut == 4 else max(e for e in (1, 2) if e <= uncut))
    # the 2-epoch plateau run is built alike: certainly the 4-epoch one's prefix
    assert runs.shared_with(runs.key("plateau", 2)) == {"donor": key, "epochs": 2, "whole": True}


def test_meta_counts_what_was_shared_and_donors_drop_their_kept_states(runs):
    meta = json.loads((runs.out / "shared" / "pre" / "meta.json").read_text())
    got = meta["prefix"]
    shared = sum((runs.shared_with(k) or {"epochs": 0})["epochs"] for k in runs.cfg)
    assert got["mode"] == "all" and got["epochs_total"] == 6 * (2 + 4)
    assert got["epochs_shared"] == shared == sum(
        runs.cfg[k]["epochs"] - runs.trained(k) for k in runs.cfg)
    assert got["forks"] == sum(runs.shared_with(k) is not None for k in runs.cfg)
    assert not list((runs.out / "shared").rglob("prefix/*.pt"))  # every fork finished: pruned
    alone = json.loads((runs.out / "alone" / "pre" / "meta.json").read_text())["prefix"]
    assert alone["mode"] == "off" and alone["epochs_shared"] == 0
    assert not list((runs.out / "alone").rglob("prefix.json"))
    assert prefix.saved_share(runs.study, CPU, SPE) == pytest.approx(got["epochs_planned"] / 36)


def test_a_rerun_skips_every_run_forks_included(runs):
    again = run_study(runs.study, RunOptions(runs.out / "shared", CPU, None, log=lambda m: None))
    assert {o.status for o in again} == {"skipped"}


# -- the plan -------------------------------------------------------------------------------

PLAN_STUDY = STUDY.replace("epochs = 4", "epochs = 10").replace(
    "budget_curve = [0.5, 1.0]", "budget_curve = [1.0]").replace(
    """[schedules.stepped-decay]
step_size = { frac = 0.5 }
gamma = 0.5""", """[schedules.step]
step_size = { frac = 0.3 }
gamma = 0.1

[schedules.multistep]
milestones = { frac = [0.5, 0.75] }

[schedules.stepped-decay]
step_size = { frac = 0.3 }
gamma = 0.9

[schedules.onecycle]

[schedules.trapezoid]
warmup = 0
decay = { frac = 0.25 }""")


def test_plan_k_is_derived_from_trajectories_and_matches_closed_forms(tmp_path):
    study = _study(tmp_path, PLAN_STUDY)
    grid = expand(study, "cpu")
    plan = prefix.plan(grid, 7, "all")
    key = {c["schedule"]: c["run_key"] for c in grid}
    k = {s: plan.forks[key[s]].epochs if key[s] in plan.forks else 0 for s in key}
    # closed forms of the first LR change, in whole epochs of 10
    assert k["step"] == 3          # StepLR step_size round(0.3 * 10)
    assert k["stepped-decay"] == 3
    assert k["multistep"] == 5     # first milestone round(0.5 * 10)
    assert k["exponential"] == 1 and k["linear"] == 1  # per epoch: the 2nd epoch already decays
    assert k["cosine"] == 0 and k["onecycle"] == 0     # per step: the 2nd step already differs
    # per step, holding the base LR for 75% of the 70 steps: 52 steps, 7 whole epochs
    assert k["trapezoid"] == (70 - round(0.25 * 70)) // 7 == 7
    assert k["plateau"] == 10      # an upper bound, checked at run time
    assert plan.epochs_shared() == sum(k.values()) - k["plateau"]  # the skips it is sure of
    assert {plan.forks[key[s]].donor for s in key if k[s]} == {key["constant"]}
    assert plan.share(key["constant"]) == prefix.Share(keep_epochs=(1, 3, 5, 7))
    assert plan.after(key["step"]) == key["constant"] and plan.after(key["constant"]) is None
    assert plan.share(key["step"]) == prefix.Share(fork=prefix.Fork(key["constant"], 3))


def test_plan_orders_donors_first_and_keeps_seeds_outermost(tmp_path):
    study = _study(tmp_path, STUDY.replace("seeds = [0]", "seeds = [0, 1]"))
    grid = expand(study, "cpu")
    plan = prefix.plan(grid, SPE, "all")
    order = plan.order(grid)
    assert sorted(c["run_key"] for c in order) == sorted(c["run_key"] for c in grid)
    at = {c["run_key"]: i for i, c in enumerate(order)}
    for key, fork in plan.forks.items():
        assert at[fork.donor] < at[key]
    assert [c["seed"] for c in order] == sorted(c["seed"] for c in grid)
    # forks never cross seeds (or any other field but the schedule and length)
    cfg = {c["run_key"]: c for c in grid}
    assert all(cfg[f.donor]["seed"] == cfg[k]["seed"] for k, f in plan.forks.items())


def test_whole_mode_plans_only_whole_length_forks_and_off_plans_none(tmp_path):
    study = _study(tmp_path)
    grid = expand(study, "cpu")
    whole = prefix.plan(grid, SPE, "whole")
    lengths = {c["run_key"]: c["epochs"] for c in grid}
    assert whole.forks and all(f.epochs == lengths[k] and not f.partial_ok
                               for k, f in whole.forks.items())
    assert not any(whole.share(k).keep_epochs for k in lengths)
    off = prefix.plan(grid, SPE, "off")
    assert not off.forks and off.epochs_shared() == 0 and off.order(grid) == grid


def test_policy_flag_env_and_device(monkeypatch):
    monkeypatch.delenv(prefix.ENV, raising=False)
    assert prefix.mode("cpu") == "all" and prefix.mode("cuda") == "whole"
    assert prefix.mode("cuda", True) == "all" and prefix.mode("cpu", False) == "off"
    monkeypatch.setenv(prefix.ENV, "0")
    assert prefix.mode("cpu") == "off" and prefix.mode("cpu", True) == "all"
    monkeypatch.setenv(prefix.ENV, "1")
    assert prefix.mode("cuda") == "all"
    monkeypatch.setenv(prefix.ENV, "yes")
    with pytest.raises(Exception, match="ANNEALBENCH_SHARE_PREFIX='yes' is not allowed"):
        prefix.mode("cpu")


def test_env_zero_turns_sharing_off_in_a_study(tmp_path, monkeypatch):
    monkeypatch.setenv(prefix.ENV, "0")
    study = _study(tmp_path)
    small = dataclasses.replace(study, schedules={s: study.schedules[s] for s in ("constant",)})
    run_study(small, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None))
    assert not list((tmp_path / "out").rglob("prefix.json"))
    meta = json.loads((tmp_path / "out" / "pre" / "meta.json").read_text())
    assert meta["prefix"]["mode"] == "off"


# -- when a fork cannot share ---------------------------------------------------------------

def test_a_fork_whose_donor_diverged_before_k_trains_itself(tmp_path):
    study = _study(tmp_path, STUDY.replace("lrs = [0.05]", "lrs = [1e30]"))
    small = dataclasses.replace(study, schedules={s: study.schedules[s]
                                                  for s in ("constant", "stepped-decay")})
    runs = Runs(small, tmp_path)
    donor = runs.key("constant", 4)
    assert json.loads((runs.dir(donor) / "status.json").read_text())["status"] == "diverged"
    lines = [m for m in runs.log if "not sharing" in m]
    forks = [runs.key("constant", 2), runs.key("stepped-decay", 4), runs.key("stepped-decay", 2)]
    assert len(lines) == 3 and all("its status is diverged after 0 epochs" in m for m in lines)
    for key in runs.cfg:
        assert runs.shared_with(key) is None
        assert run_rows(runs.dir(key)) == run_rows(runs.dir(key, "alone"))
    assert {o.status for o in runs.shared if o.run_key in forks} == {"diverged"}


def test_a_fork_with_a_missing_kept_state_trains_from_scratch(tmp_path):
    study = _study(tmp_path)
    small = dataclasses.replace(study, schedules={s: study.schedules[s]
                                                  for s in ("constant", "stepped-decay")})
    grid = expand(small, "cpu")
    plan = prefix.plan(grid, SPE, "all")
    donor = next(c for c in grid if c["schedule"] == "constant" and c["epochs"] == 4)
    fork = next(c for c in grid if c["schedule"] == "stepped-decay" and c["epochs"] == 4)
    from annealbench.options import TrainOptions
    from annealbench.tasks import make_task
    from annealbench.training.runner import run_one
    task = make_task(small.dataset, small.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=small.batch_size)
    root = tmp_path / "out" / "pre" / "runs"
    assert run_one(donor, RunDir(root / donor["run_key"]), task, CPU, TrainOptions(log=lambda m: None),
                   plan.share(donor["run_key"])).status == "completed"
    for f in (root / donor["run_key"] / "prefix").glob("*.pt"):
        f.write_bytes(f.read_bytes()[:50])  # truncated
    log = []
    o = run_one(fork, RunDir(root / fork["run_key"]), task, CPU, TrainOptions(log=log.append),
                plan.share(fork["run_key"]))
    assert o.status == "completed" and o.epochs_trained == 4
    assert [m for m in log if "not sharing" in m and "unreadable" in m]
    assert not (root / fork["run_key"] / "prefix.json").exists()
    alone = run_study(small, RunOptions(tmp_path / "alone", CPU, None, log=lambda m: None,
                                        share_prefix=False))
    assert {o.status for o in alone} == {"completed"}
    assert run_rows(root / fork["run_key"]) == run_rows(tmp_path / "alone" / "pre" / "runs" / fork["run_key"])


def test_forks_of_a_donor_another_process_holds_wait_for_it(tmp_path):
    study = _study(tmp_path)
    small = dataclasses.replace(study, schedules={s: study.schedules[s]
                                                  for s in ("constant", "stepped-decay")})
    grid = expand(small, "cpu")
    donor = next(c["run_key"] for c in grid if c["schedule"] == "constant" and c["epochs"] == 4)
    holder = RunLock(RunDir(tmp_path / "out" / "pre" / "runs" / donor))
    assert holder.acquire()
    try:  # --no-wait: the donor and its forks are left to the process holding it
        outcomes = run_study(small, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None,
                                               wait=False))
        busy = {o.run_key: o for o in outcomes if o.status == "busy"}
        plan = prefix.plan(grid, SPE, "all")
        assert set(busy) == {donor} | {k for k, f in plan.forks.items() if f.donor == donor}
        assert all(donor in o.message for k, o in busy.items() if k != donor)
        # waiting: the donor is taken up once the holder lets go, then its forks share from it
        threading.Timer(1.0, holder.release).start()
        outcomes = run_study(small, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None,
                             wait=True))
    finally:
        holder.release()
    assert {o.status for o in outcomes} == {"completed"}
    forks = [k for k, f in plan.forks.items() if f.donor == donor]
    root = tmp_path / "out" / "pre" / "runs"
    assert forks and all((root / k / "prefix.json").exists() for k in forks)


def test_plan_options_cross_process_boundaries(tmp_path):
    # Ray and a process pool pickle what run_one shares
    import pickle
    study = _study(tmp_path)
    grid = expand(study, "cpu")
    plan = prefix.plan(grid, SPE, "all")
    options = [plan.share(c["run_key"]) for c in grid]
    assert any(o.fork for o in options) and any(o.keep_epochs for o in options)
    assert pickle.loads(pickle.dumps(options)) == options


def test_the_fixed_lr_carrying_averages_is_the_donor_of_wsds_trunk(root):
    """A run carrying EMA/SWA averages can fork only from one carrying the same; a WSD run carries
    none, so the fixed LR must be placed first and WSD fork from it at its cooldown's start
    (otherwise WSD trains the trunk a second time)."""
    from annealbench.sharing.plan import plan
    from annealbench.spec import grid as spec_grid
    from annealbench.spec.load import load_study

    study = load_study(root / "experiments" / "shakespeare-lstm.toml", "headline-tuning")
    runs = [c for c in spec_grid.expand(study, "cpu") if c["seed"] == 100 and c["base_lr"] == 0.003]
    p = plan(runs, 980, "all")
    by = {(c["schedule"], c["epochs"]): c["run_key"] for c in runs}
    wsd = p.share(by[("wsd", 12)]).fork
    assert wsd is not None and wsd.donor == by[("constant", 12)] and wsd.epochs == 9
    assert p.share(by[("constant", 12)]).fork is None
