"""Workers and threads (annealbench.execution.workers), precision, the activation option."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from testkit import child_pids

from annealbench import precision
from annealbench.cli import main
from annealbench.errors import AnnealbenchError, SpecError
from annealbench.execution import workers as engine
from annealbench.execution.study import run_study
from annealbench.models import check_model_kwargs
from annealbench.options import RunOptions
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.tasks import make_task

CPU = torch.device("cpu")


def _wt(e: engine.Engine) -> tuple[int, int]:
    return e.workers, e.threads


@pytest.fixture
def machine(monkeypatch):
    """A machine of ``cpus`` CPUs and ``gib`` GiB available, no flags or variables set."""
    def set_(cpus: int, gib: float = 64):
        monkeypatch.setattr(engine, "usable_cpus", lambda: cpus)
        monkeypatch.setattr(engine, "available_memory", lambda: int(gib * 2**30))
    monkeypatch.delenv(engine.ENV_WORKERS, raising=False)
    monkeypatch.delenv(engine.ENV_THREADS, raising=False)
    return set_


def test_default_is_one_single_threaded_run_per_cpu_capped_by_memory(machine):
    machine(2)
    assert _wt(engine.choose("cpu")) == (2, 1)
    machine(16)
    assert _wt(engine.choose("cpu")) == (16, 1)
    machine(16, gib=4.5 * engine.WORKER_BYTES / 2**30)  # room for 4 workers
    e = engine.choose("cpu")
    assert (e.workers, e.threads) == (4, 1) and "memory" in e.why
    machine(1, gib=0.1)
    assert _wt(engine.choose("cpu")) == (1, 1)


def test_threads_stay_one_whatever_the_workers_unless_asked(machine, monkeypatch):
    # a run's numbers depend on its thread count (measured), not on how many runs train beside it
    machine(16)
    assert _wt(engine.choose("cpu", "1")) == (1, 1)
    assert _wt(engine.choose("cpu", 3)) == (3, 1)
    assert _wt(engine.choose("cpu", None, "4")) == (4, 4)  # the CPUs divided by the threads asked
    assert _wt(engine.choose("cpu", "2", "8")) == (2, 8)
    monkeypatch.setenv(engine.ENV_WORKERS, "5")
    monkeypatch.setenv(engine.ENV_THREADS, "2")
    assert _wt(engine.choose("cpu")) == (5, 2)
    assert _wt(engine.choose("cpu", "auto", "auto")) == (16, 1)  # the flag wins over the variable


@pytest.mark.parametrize("flag,env,value,where", [
    ("0", None, None, "--workers: '0'"), ("two", None, None, "--workers: 'two'"),
    (None, engine.ENV_WORKERS, "-1", f"{engine.ENV_WORKERS}: '-1'"),
    (None, engine.ENV_THREADS, "1.5", f"{engine.ENV_THREADS}: '1.5'")])
def test_a_bad_count_is_one_line_naming_where_it_came_from(machine, monkeypatch, flag, env, value,
                                                          where):
    machine(2)
    if env:
        monkeypatch.setenv(env, value)
    with pytest.raises(AnnealbenchError) as e:
        engine.choose("cpu", flag)
    assert str(e.value).startswith(where) and "whole number >= 1 or 'auto'" in str(e.value)


def test_cli_rejects_a_bad_worker_count_before_training(write_study, tmp_path, capsys):
    rc = main(["run", str(write_study()), "--out", str(tmp_path / "out"), "--device", "cpu",
               "--workers", "0"])
    assert rc == 2 and capsys.readouterr().err.startswith("annealbench: --workers: '0'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("text,machine_,native", [
    ("flags\t\t: fpu avx512f avx512_bf16 amx_tile\n", "x86_64", True),
    ("flags\t\t: fpu sse avx2 avx512f\n", "x86_64", False),
    ("Features\t: fp asimd bf16 i8mm\n", "aarch64", True),
    ("Features\t: fp asimd\n", "aarch64", False)])
def test_native_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path, text, machine_, native):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\n" + text)
    monkeypatch.setattr(precision, "CPUINFO", info)
    monkeypatch.setattr(precision.platform, "machine", lambda: machine_)
    precision.cpu_bf16.cache_clear()
    try:
        assert precision.cpu_bf16() is native
    finally:
        precision.cpu_bf16.cache_clear()


def test_auto_is_bf16_where_the_device_computes_it_natively(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16", lambda: True)
    assert precision.resolve("auto", "cpu") == "bf16"
    assert precision.resolve("fp32", "cpu") == "fp32"
    monkeypatch.setattr(precision, "cpu_bf16", lambda: False)
    assert precision.resolve("auto", "cpu") == "fp32"
    assert precision.resolve("bf16", "cpu") == "bf16"  # asked for: emulated, slower, allowed
    with pytest.raises(ValueError, match="one of auto, fp32, bf16"):
        precision.resolve("fp16", "cpu")


def test_precision_is_a_validated_study_key_and_part_of_the_run_key(write_study):
    with pytest.raises(SpecError, match=r"study.precision = 'half': allowed: auto, bf16, fp32"):
        load_study(write_study(replace={'primary_metric = "accuracy"':
                                        'primary_metric = "accuracy"\nprecision = "half"'}))
    keys = {}
    for p in ("fp32", "bf16"):
        study = load_study(write_study(replace={'primary_metric = "accuracy"':
                                                f'primary_metric = "accuracy"\nprecision = "{p}"'}))
        grid = expand(study, "cpu")
        assert {c["precision"] for c in grid} == {p}
        keys[p] = {c["run_key"] for c in grid}
    assert not keys["fp32"] & keys["bf16"]
    assert load_study(write_study()).precision == "auto"


def _step_losses(root) -> list[float]:
    out = []
    for f in sorted(root.glob("runs/*/epochs/*.csv")):
        out += [float(r["value"]) for r in csv.DictReader(open(f)) if r["metric"] == "step_loss"]
    return out


def test_bf16_runs_under_autocast_and_says_so_in_config_and_meta(write_study, tmp_path):
    one = {"seeds = [0, 1]": "seeds = [0]", "epochs = 3": "epochs = 1",
           "[schedules.step]\nstep_size = { frac = 0.34 }\ngamma = 0.1\n\n": "",
           "[schedules.onecycle]\n\n": "", "[schedules.plateau]\npatience = 0\n": ""}
    runs = {}
    for p in ("fp32", "bf16"):
        study = load_study(write_study(replace=one))
        out = tmp_path / p
        outcomes = run_study(dataclasses.replace(study, precision=p), RunOptions(out, CPU, None,
                             log=lambda m: None))
        rd = out / "tiny" / "runs" / outcomes[0].run_key
        assert json.loads((rd / "config.json").read_text())["precision"] == p
        meta = json.loads((out / "tiny" / "meta.json").read_text())
        assert meta["precision"] == {"requested": p, "resolved": [p]}
        runs[p] = _step_losses(out / "tiny")
    assert len(runs["fp32"]) == len(runs["bf16"]) and runs["fp32"] != runs["bf16"]
    # same data and init: bf16 moves the losses, by little
    assert max(abs(a - b) for a, b in zip(runs["fp32"], runs["bf16"])) < 0.1


def test_the_loss_is_fp32_under_bf16_autocast():
    task = make_task("synthetic-images", {"n_train": 64, "n_val": 32, "n_test": 32}, data_dir=None,
                     device=CPU, batch_size=32)
    torch.manual_seed(0)
    model = task.build_model("airbench-cnn", {"widths": [8, 16]})
    with precision.autocast("bf16", "cpu"):
        loss, _ = task.train_loss(model, next(iter(task.train_batches(1, 0))))
        logits = model(next(iter(task.train_batches(1, 0)))[0])
    assert loss.dtype == torch.float32 and logits.dtype == torch.bfloat16
    with precision.autocast("fp32", "cpu"):
        assert model(next(iter(task.train_batches(1, 0)))[0]).dtype == torch.float32


def test_activation_is_an_airbench_option():
    assert check_model_kwargs("airbench-cnn", {"activation": "relu"}) is None
    assert "activation must be one of 'relu', 'gelu'" in check_model_kwargs(
        "airbench-cnn", {"activation": "tanh"})
    assert check_model_kwargs("airbench-cnn", {"activation": ["relu"]}) is not None
    task = make_task("synthetic-images", {"n_train": 64, "n_val": 32, "n_test": 32}, data_dir=None,
                     device=CPU, batch_size=32)
    kinds = {}
    for act in ("relu", "gelu"):
        torch.manual_seed(0)
        model = task.build_model("airbench-cnn", {"widths": [8, 16], "activation": act})
        kinds[act] = {type(m).__name__ for m in model.modules()}
    assert "ReLU" in kinds["relu"] and "GELU" not in kinds["relu"]
    assert "GELU" in kinds["gelu"] and "ReLU" not in kinds["gelu"]



@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_pool_prepares_while_its_workers_start_and_stops_them_if_that_fails(write_study, tmp_path):
    """The caller's set-up runs once the workers are starting (it overlaps their start-up); if it
    raises, no worker outlives the call and nothing was trained."""
    from annealbench.execution.local import TaskSpec
    from annealbench.execution.pool import run_pool

    study = load_study(write_study())
    grid = expand(study, "cpu")
    spec = TaskSpec(study.dataset, dict(study.dataset_kwargs), None, study.batch_size)
    before, seen = set(child_pids()), []

    def prepare():
        seen.append(set(child_pids()) - before)
        raise AnnealbenchError("set-up failed")

    with pytest.raises(AnnealbenchError, match="set-up failed"):
        run_pool(grid, tmp_path, spec, RunOptions(device=CPU, workers=2, threads=1, log=lambda m: None),
                 on_outcome=lambda c, o: None, prepare=prepare)
    assert len(seen) == 1 and len(seen[0]) == 2  # both workers were already starting
    assert set(child_pids()) - before == set()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
