"""A schedule-free arm in the runner: train mode for every training step, eval mode (the averaged
point x) for every evaluation and checkpoint, BatchNorm recomputed at x without touching the
training trajectory, and resumes and forks that continue bit for bit (param-group state included).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from testkit import load_text, run_rows, synthetic_cnn

from annealbench.errors import SpecError
from annealbench.execution.study import run_study
from annealbench.options import RunOptions, TrainOptions
from annealbench.sharing import plan as prefix
from annealbench.spec.grid import expand, run_key
from annealbench.store import RunDir
from annealbench.tasks import make_task
from annealbench.training.runner import run_one

CPU = torch.device("cpu")
QUIET = TrainOptions(log=lambda m: None)
SPE = 4  # 128 images / batch 32
STUDY = """
spec_version = 1

[study]
name = "sf"
primary_metric = "accuracy"
epochs = 4
batch_size = 32
seeds = [0]
budget_curve = [0.5, 1.0]

""" + synthetic_cnn(128, 64, 8) + """[optimizers.sf-sgd]
type = "schedulefree-sgd"
lrs = [0.5]
warmup_steps = 3

[schedules.constant]

[schedules.stepped-decay]
step_size = { frac = 0.5 }
gamma = 0.5

[schedules.schedule-free]
type = "constant"
optimizer = "sf-sgd"
evaluate = { bn_batches = 2 }
"""


def _study(tmp_path: Path, text: str = STUDY):
    return load_text(tmp_path, text, "sf.toml")


def _task(study):
    return make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=study.batch_size)


def _sf(grid: list[dict], epochs: int = 4) -> dict:
    return next(c for c in grid if c["schedule"] == "schedule-free" and c["epochs"] == epochs)


def _rekeyed(cfg: dict, **changes) -> dict:
    dropped = {k for k, v in changes.items() if v is None} | {"run_key"}
    out = {k: v for k, v in {**cfg, **changes}.items() if k not in dropped}
    return {**out, "run_key": run_key(out)}


def _checkpoint(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)


def _same_state(a: dict, b: dict) -> None:
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    for i, st in a["optimizer"]["state"].items():
        for k, v in st.items():
            assert torch.equal(v, b["optimizer"]["state"][i][k]), (i, k)


def _train(cfg, root: Path, task, how=QUIET, share=prefix.NO_SHARE):
    return run_one(cfg, RunDir(root / cfg["run_key"]), task, CPU, how, share)


# -- the spec ----------------------------------------------------------------------------------------


def test_the_arm_is_an_anytime_alternative_with_its_own_bn_batches_in_the_run_config(tmp_path):
    study = _study(tmp_path)
    arm = study.arms_description()["arms"]["schedule-free"]
    assert arm == {"role": "alternative", "optimizer": "sf-sgd", "evaluate": None, "anytime": True}
    assert study.schedules["schedule-free"].bn_batches == 2
    grid = expand(study, "cpu")
    cfg = _sf(grid)
    assert cfg["bn_batches"] == 2 and cfg["optimizer_type"] == "schedulefree-sgd"
    assert all("bn_batches" not in c for c in grid if c["schedule"] != "schedule-free")


@pytest.mark.parametrize("old,new,field,phrase", [
    ("evaluate = { bn_batches = 2 }", "evaluate = { bn_batches = -1 }",
     "schedules.schedule-free.evaluate.bn_batches", "must be an integer >= 0"),
    ("evaluate = { bn_batches = 2 }", 'evaluate = { bn_batches = "2" }',
     "schedules.schedule-free.evaluate.bn_batches", "must be an integer >= 0"),
    ('type = "constant"\noptimizer = "sf-sgd"', 'type = "cosine"\noptimizer = "sf-sgd"',
     "schedules.schedule-free.type", "must be 'constant' with optimizer 'sf-sgd'"),
    ('[schedules.stepped-decay]\n', '[schedules.stepped-decay]\nevaluate = { bn_batches = 2 }\n',
     "schedules.stepped-decay.evaluate", "needs average"),
    ('type = "sgd"', 'type = "schedulefree-sgd"', "optimizers.sgd.type", "runs at a fixed LR"),
])
def test_bad_schedule_free_arms_are_one_line(tmp_path, old, new, field, phrase):
    assert old in STUDY
    with pytest.raises(SpecError) as e:
        _study(tmp_path, STUDY.replace(old, new, 1))
    assert e.value.field == field and phrase in str(e.value) and "\n" not in str(e.value)


# -- the runner --------------------------------------------------------------------------------------


def test_recorded_lrs_include_the_warmup_and_checkpoints_hold_the_evaluated_point(tmp_path):
    study = _study(tmp_path)
    cfg, task = _sf(expand(study, "cpu")), _task(study)
    assert _train(cfg, tmp_path, task).status == "completed"
    lrs = [float(r[5]) for r in run_rows(tmp_path / cfg["run_key"]) if r[3] == "step_loss"]
    assert lrs[:4] == pytest.approx([0.5 / 3, 1.0 / 3, 0.5, 0.5])  # warmup_steps = 3
    groups = _checkpoint(tmp_path / cfg["run_key"])["optimizer"]["param_groups"]
    assert groups[0]["train_mode"] is False and groups[0]["k"] == 4 * SPE


def test_bn_recomputation_changes_the_evaluation_and_nothing_else(tmp_path):
    study = _study(tmp_path)
    task = _task(study)
    with_bn = _sf(expand(study, "cpu"))
    without = _rekeyed(with_bn, bn_batches=None)
    for cfg in (with_bn, without):
        assert _train(cfg, tmp_path, task).status == "completed"
    a, b = (run_rows(tmp_path / c["run_key"]) for c in (with_bn, without))
    train = [r for r in a if r[2] == "train"]
    assert train == [r for r in b if r[2] == "train"] and len(train) == 4 * (SPE + 1)
    assert [r for r in a if r[2] == "val"] != [r for r in b if r[2] == "val"]
    # buffers included: the train-time BatchNorm statistics are put back after each evaluation
    _same_state(_checkpoint(tmp_path / with_bn["run_key"]), _checkpoint(tmp_path / without["run_key"]))


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    study = _study(tmp_path)
    cfg, task = _sf(expand(study, "cpu")), _task(study)
    _train(cfg, tmp_path / "whole", task)
    cut = dataclasses.replace(QUIET, max_epochs=2)
    _train(cfg, tmp_path / "resumed", task, cut)
    assert _checkpoint(tmp_path / "resumed" / cfg["run_key"])["epoch"] == 2
    RunDir(tmp_path / "resumed" / cfg["run_key"]).status.unlink()  # a cut run says completed
    assert _train(cfg, tmp_path / "resumed", task).epochs_trained == 2
    assert run_rows(tmp_path / "resumed" / cfg["run_key"]) == run_rows(tmp_path / "whole" / cfg["run_key"])
    _same_state(_checkpoint(tmp_path / "resumed" / cfg["run_key"]),
                _checkpoint(tmp_path / "whole" / cfg["run_key"]))


def test_a_partial_fork_carries_the_param_group_state(tmp_path):
    """A schedule-free run forked after 2 epochs of a donor whose schedule is the same up to there:
    its records and state equal those of the run trained alone. With fresh param groups (k = 0)
    the average would restart at the fork."""
    study = _study(tmp_path)
    grid = expand(study, "cpu")
    donor = _sf(grid)
    step = next(c for c in grid if c["schedule"] == "stepped-decay" and c["epochs"] == 4)
    fork = _rekeyed(donor, **{k: step[k] for k in ("schedule", "schedule_type", "schedule_kwargs",
                                                    "schedule_interval")})
    plan = prefix.plan([donor, fork], SPE, "all")
    assert plan.share(fork["run_key"]).fork.epochs == 2
    task, root = _task(study), tmp_path / "shared"
    assert _train(donor, root, task, share=plan.share(donor["run_key"])).status == "completed"
    got = _train(fork, root, task, share=plan.share(fork["run_key"]))
    assert got.epochs_trained == 2 and (root / fork["run_key"] / "prefix.json").exists()
    _train(fork, tmp_path / "alone", task)
    assert run_rows(root / fork["run_key"]) == run_rows(tmp_path / "alone" / fork["run_key"])
    _same_state(_checkpoint(root / fork["run_key"]), _checkpoint(tmp_path / "alone" / fork["run_key"]))


def test_the_budget_curve_trains_one_whole_length_run(tmp_path):
    """budget_curve [0.5, 1.0]: the 2-epoch schedule-free run is the 4-epoch run's first half,
    shared whole; only the 4 epochs of one run are trained."""
    study = _study(tmp_path)
    only = dataclasses.replace(study, schedules={"schedule-free": study.schedules["schedule-free"]})
    out = run_study(only, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None, workers=1))
    assert sorted((o.status, o.epochs_trained) for o in out) == [("completed", 0), ("completed", 4)]
    alone = run_study(only, RunOptions(tmp_path / "alone", CPU, None, log=lambda m: None, workers=1,
                                       share_prefix=False))
    assert sum(o.epochs_trained for o in alone) == 6
    for cfg in expand(only, "cpu"):
        rel = Path("sf") / "runs" / cfg["run_key"]
        assert run_rows(tmp_path / "out" / rel) == run_rows(tmp_path / "alone" / rel)
