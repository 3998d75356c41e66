"""The CUDA side on a CPU machine: fakes for torch.cuda, monkeypatched loads and injected CUDA
errors stand in for a GPU (what only a GPU can measure is in docs/devices.md)."""

from __future__ import annotations

import json

import pytest
import torch

from annealbench import resume
from annealbench.spec import load_study
from annealbench.store import RunDir
from annealbench.study import run_study

CPU = torch.device("cpu")
ONE_SEED = {"seeds = [0, 1]": "seeds = [0]"}


def _quiet(_msg):
    pass


def _finished_run(write_study, tmp_path):
    """A tiny study trained on the CPU; its first run made unfinished, its checkpoint kept."""
    study = load_study(write_study(replace=ONE_SEED))
    outcomes = run_study(study, tmp_path / "out", CPU, None, log=_quiet)
    rd = RunDir(tmp_path / "out" / "tiny" / "runs" / outcomes[0].run_key)
    rd.status.unlink()
    return study, rd


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    RuntimeError("CUDA error: out of memory"),
    MemoryError()])
def test_a_device_error_while_loading_keeps_the_checkpoint(write_study, tmp_path, monkeypatch,
                                                          error):
    study, rd = _finished_run(write_study, tmp_path)
    before = rd.checkpoint.read_bytes()
    epochs = sorted(p.name for p in rd.epochs.iterdir())

    def load(*a, **k):
        raise error

    monkeypatch.setattr(torch, "load", load)
    got = run_study(study, tmp_path / "out", CPU, None, log=_quiet)[0]
    assert got.status == "failed" and got.epochs_trained == 0
    assert rd.checkpoint.read_bytes() == before  # not taken for a corrupt file and deleted
    assert sorted(p.name for p in rd.epochs.iterdir()) == epochs
    monkeypatch.undo()
    again = run_study(study, tmp_path / "out", CPU, None, log=_quiet)[0]
    assert again.status == "completed" and again.epochs_trained == 0  # resumed, nothing redone


def test_checkpoints_load_onto_the_cpu_and_adam_steps_stay_there(write_study, tmp_path):
    """Loaded with map_location=<the GPU>, Adam's step counters would land on the GPU (and each
    step of a resumed run would read every one back). Here a CUDA device on a CPU machine: a load
    straight onto it fails, one through the CPU works."""
    study, rd = _finished_run(write_study, tmp_path)
    cfg = json.loads(rd.config.read_text())
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    resume.save_checkpoint(rd, model, opt, sched, cfg["epochs"], 7, 1.0)
    model2 = torch.nn.Linear(2, 2)
    opt2 = torch.optim.Adam(model2.parameters())
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda e: 1.0)
    logged = []
    got = resume.load_checkpoint(rd, torch.device("cuda"), model2, opt2, sched2, logged.append,
                                 cfg["epochs"])
    assert got == (cfg["epochs"], 7, 1.0), logged
    assert all(s["step"].device.type == "cpu" for s in opt2.state.values())
    assert torch.equal(model2.weight, model.weight)
