"""The runner: records per step and per epoch, skip finished, resume without redoing, divergence, locks."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.load import load_study
from annealbench.store import RunDir, RunLock
from annealbench.training import runner

CPU = torch.device("cpu")


def _quiet(_msg):
    pass


def _run(study, out, **kw):
    return run_study(study, RunOptions(out, CPU, None, log=_quiet, **kw))


def _rows(run_dir: Path) -> list[dict]:
    rows = []
    for f in sorted((run_dir / "epochs").glob("*.csv")):
        with open(f, newline="") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def _comparable(rows):
    # wall time and throughput are measurements of the machine, not of the optimisation
    return [(r["epoch"], r["step"], r["split"], r["metric"], r["value"], r["lr"])
            for r in rows if r["metric"] != "throughput"]


def test_study_writes_config_epochs_checkpoint_status(write_study, tmp_path):
    study = load_study(write_study())
    outcomes = _run(study, tmp_path / "out")
    assert [o.status for o in outcomes] == ["completed"] * 8
    root = tmp_path / "out" / "tiny"
    assert json.loads((root / "study.json").read_text())["name"] == "tiny"
    meta = json.loads((root / "meta.json").read_text())
    assert meta["torch"] == torch.__version__ and meta["outcomes"] == {"completed": 8}
    for o in outcomes:
        rd = root / "runs" / o.run_key
        cfg = json.loads((rd / "config.json").read_text())
        assert cfg["run_key"] == o.run_key
        status = json.loads((rd / "status.json").read_text())
        assert status["status"] == "completed" and status["epochs_done"] == 3
        assert sorted(p.name for p in (rd / "epochs").iterdir()) == [
            "00000.csv", "00001.csv", "00002.csv", "00003.csv"]
        rows = _rows(rd)
        steps = [r for r in rows if r["metric"] == "step_loss"]
        spe = cfg["steps_per_epoch"]
        assert [int(r["step"]) for r in steps] == list(range(1, 3 * spe + 1))
        assert {(r["split"], r["metric"]) for r in rows if r["epoch"] == "3"} >= {
            ("train", "loss"), ("train", "throughput"), ("val", "loss"), ("val", "accuracy"),
            ("test", "loss"), ("test", "accuracy")}
        # test is evaluated only after the last epoch under eval_test = "final"
        assert {r["epoch"] for r in rows if r["split"] == "test"} == {"3"}
        times = [float(r["wall_time_s"]) for r in steps]
        assert times == sorted(times) and times[0] > 0


def test_meta_lists_every_call_that_built_the_study(write_study, tmp_path):
    """A study folder built by several calls keeps each finished call's time in ``calls`` (the
    report sums them); meta.json's own wall_time_s is the last call's."""
    _run(load_study(write_study(replace={"seeds = [0, 1]": "seeds = [0]"})), tmp_path / "out")
    _run(load_study(write_study()), tmp_path / "out")  # seed 1 added: seed 0's runs are skipped
    meta = json.loads((tmp_path / "out" / "tiny" / "meta.json").read_text())
    calls = meta["calls"]
    assert [c["outcomes"] for c in calls] == [{"completed": 4}, {"completed": 4, "skipped": 4}]
    assert calls[-1]["wall_time_s"] == meta["wall_time_s"] and calls[-1]["started_at"] == meta["started_at"]
    # stamps are whole seconds, so two quick calls may share one
    assert calls[0]["started_at"] == meta["first_started_at"] <= meta["started_at"]
    assert all(c["wall_time_s"] > 0 and c["budget"] == meta["budget"] for c in calls)


def test_recorded_lr_is_the_schedule(write_study, tmp_path):
    study = load_study(write_study())
    outcomes = _run(study, tmp_path / "out")
    for o in outcomes:
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        cfg = json.loads((rd / "config.json").read_text())
        lrs = [float(r["lr"]) for r in _rows(rd) if r["metric"] == "step_loss"]
        spe = cfg["steps_per_epoch"]
        if cfg["schedule"] == "constant":
            assert lrs == [0.05] * len(lrs)
        elif cfg["schedule"] == "step":  # step_size = round(0.34 * 3) = 1 epoch, gamma 0.1
            expected = [0.05 * 0.1 ** (i // spe) for i in range(3 * spe)]
            assert lrs == pytest.approx(expected, rel=1e-12)
        elif cfg["schedule"] == "onecycle":
            assert max(lrs) == pytest.approx(0.05, rel=1e-2) and lrs[-1] < 1e-4 * 0.05  # peak between steps


def test_rerun_skips_finished_runs(write_study, tmp_path):
    study = load_study(write_study())
    _run(study, tmp_path / "out")
    files = sorted((tmp_path / "out").rglob("*.csv"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = _run(study, tmp_path / "out")
    assert {o.status for o in again} == {"skipped"}
    assert [f.stat().st_mtime_ns for f in files] == stamps


def test_resume_matches_uninterrupted_and_redoes_no_epoch(write_study, tmp_path, monkeypatch):
    study = load_study(write_study(replace={"seeds = [0, 1]": "seeds = [3]"}))
    _run(study, tmp_path / "straight")

    real_save = runner._save_checkpoint
    saves = []

    def save_then_die(run, model, opt, sched, epoch, step, wall, *rest):
        real_save(run, model, opt, sched, epoch, step, wall, *rest)
        saves.append(epoch)
        if epoch == 2 and len(saves) < 10:
            raise KeyboardInterrupt  # stands in for a kill right after epoch 2 was saved

    monkeypatch.setattr(runner, "_save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        _run(study, tmp_path / "resumed")
    monkeypatch.setattr(runner, "_save_checkpoint", real_save)
    trained = []
    outcomes = run_study(study, RunOptions(tmp_path / "resumed", CPU, None,
                         log=lambda m: trained.append(m) if " epoch " in m else None))
    # the interrupted run resumes at epoch 3: epochs 1-2 are not trained again
    first_key = outcomes[0].run_key
    assert [m for m in trained if first_key in m][0].split(" epoch ")[1].startswith("3/3")
    for o in outcomes:
        a = _rows(tmp_path / "straight" / "tiny" / "runs" / o.run_key)
        b = _rows(tmp_path / "resumed" / "tiny" / "runs" / o.run_key)
        assert _comparable(a) == _comparable(b)


def test_cpu_runs_are_deterministic(write_study, tmp_path):
    study = load_study(write_study(replace={"seeds = [0, 1]": "seeds = [5]"}))
    first = _run(study, tmp_path / "a")
    _run(study, tmp_path / "b")
    for o in first:
        assert _comparable(_rows(tmp_path / "a" / "tiny" / "runs" / o.run_key)) == _comparable(
            _rows(tmp_path / "b" / "tiny" / "runs" / o.run_key))


def test_schedules_share_init_and_data_order(write_study, tmp_path):
    """Paired design: for one seed every schedule starts from the same weights and data."""
    study = load_study(write_study(replace={"seeds = [0, 1]": "seeds = [0]"}))
    outcomes = _run(study, tmp_path / "out")
    first_steps = set()
    for o in outcomes:
        rows = _rows(tmp_path / "out" / "tiny" / "runs" / o.run_key)
        e0 = [r["value"] for r in rows if r["epoch"] == "0"]
        first = next(r for r in rows if r["metric"] == "step_loss")
        first_steps.add((tuple(e0), first["value"]))
    # epoch-0 evaluation and the first step's loss (before any LR difference acts) are identical
    assert len(first_steps) == 1


def test_divergence_is_recorded_and_the_study_continues(write_study, tmp_path):
    study = load_study(write_study(replace={"lrs = [0.05]": "lrs = [0.05, 1e6]",
                                            "seeds = [0, 1]": "seeds = [0]"}))
    outcomes = _run(study, tmp_path / "out")
    by_lr = {}
    for o in outcomes:
        cfg = json.loads((tmp_path / "out" / "tiny" / "runs" / o.run_key / "config.json").read_text())
        by_lr.setdefault(cfg["base_lr"], []).append(o)
    assert {o.status for o in by_lr[0.05]} == {"completed"}
    assert "diverged" in {o.status for o in by_lr[1e6]}
    for o in by_lr[1e6]:
        if o.status != "diverged":
            continue
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        status = json.loads((rd / "status.json").read_text())
        # Where an LR this large breaks the model depends on the CPU's rounding: a step loss, or
        # the evaluation after an epoch's last step. Either way the records, in the order written,
        # end with the first non-finite value, at the step status.json names.
        rows = _rows(rd)
        assert status["diverged_step"] == int(rows[-1]["step"])
        assert not torch.isfinite(torch.tensor(float(rows[-1]["value"])))
        assert all(torch.isfinite(torch.tensor(float(r["value"]))) for r in rows[:-1])


def test_a_run_locked_elsewhere_is_left_alone(write_study, tmp_path):
    study = load_study(write_study(replace={"seeds = [0, 1]": "seeds = [0]"}))
    from annealbench.spec.grid import expand
    cfg = expand(study, "cpu")[2]  # onecycle: no run forks from it (see test_prefix for donors)
    rd = RunDir(tmp_path / "out" / "tiny" / "runs" / cfg["run_key"])
    holder = RunLock(rd)
    assert holder.acquire()
    try:  # --no-wait: left to the process holding it (waiting would block on this very lock)
        outcomes = _run(study, tmp_path / "out", wait=False)
        assert outcomes[2].status == "busy" and not rd.status.exists()
        assert {o.status for i, o in enumerate(outcomes) if i != 2} == {"completed"}
    finally:
        holder.release()
    assert _run(study, tmp_path / "out")[2].status == "completed"


def test_truncated_checkpoint_restarts_the_run_cleanly(write_study, tmp_path):
    study = load_study(write_study(replace={"seeds = [0, 1]": "seeds = [0]"}))
    outcomes = _run(study, tmp_path / "out")
    rd = RunDir(tmp_path / "out" / "tiny" / "runs" / outcomes[0].run_key)
    good = _comparable(_rows(rd.root))
    rd.status.unlink()
    rd.checkpoint.write_bytes(rd.checkpoint.read_bytes()[:100])
    (rd.epochs / "00003.csv").unlink()
    assert _run(study, tmp_path / "out")[0].status == "completed"
    assert _comparable(_rows(rd.root)) == good


def test_dry_run_writes_nothing(write_study, tmp_path):
    study = load_study(write_study())
    outcomes = _run(study, tmp_path / "out", dry_run=True)
    assert {o.status for o in outcomes} == {"completed"} and len(outcomes) == 4
    assert not (tmp_path / "out").exists()


def test_runs_evaluate_test_at_each_budget_curve_epoch_they_pass(write_study, tmp_path):
    path = write_study(replace={"seeds = [0, 1]": "seeds = [0]\nbudget_curve = [0.5]",
                                "epochs = 3": "epochs = 4"})
    full = load_study(path)
    study = dataclasses.replace(full, schedules={"constant": full.schedules["constant"]})
    outcomes = _run(study, tmp_path / "out")
    assert [o.status for o in outcomes] == ["completed"] * 2
    tested = {}
    for o in outcomes:
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        cfg = json.loads((rd / "config.json").read_text())
        tested[cfg["epochs"]] = sorted({int(r["epoch"]) for r in _rows(rd) if r["split"] == "test"})
    assert tested == {2: [2], 4: [2, 4]}
    # the fixed LR does not depend on the run's length: the 4-epoch run measured at epoch 2
    # exactly what the 2-epoch run measured
    rows = {}
    for o in outcomes:
        rd = tmp_path / "out" / "tiny" / "runs" / o.run_key
        epochs = json.loads((rd / "config.json").read_text())["epochs"]
        rows[epochs] = _comparable(r for r in _rows(rd) if int(r["epoch"]) <= 2)
    assert rows[2] == rows[4]


def test_a_call_cut_short_keeps_its_time_to_its_last_finished_run(write_study, tmp_path, monkeypatch):
    """A call killed before its end (here: before its summary) has listed itself in meta.json after
    each finished run, with finished_at null; the next call keeps that entry and adds its own."""
    from annealbench.execution import study as study_mod

    def killed(self, outcomes):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(study_mod._Invocation, "finish", killed)
        with pytest.raises(KeyboardInterrupt):
            _run(load_study(write_study(replace={"seeds = [0, 1]": "seeds = [0]"})), tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "tiny" / "meta.json").read_text())
    (cut,) = meta["calls"]
    assert cut["finished_at"] is None and cut["outcomes"] == {"completed": 4} and cut["wall_time_s"] > 0
    assert meta["finished_at"] is None and meta["wall_time_s"] is None
    _run(load_study(write_study()), tmp_path / "out")
    calls = json.loads((tmp_path / "out" / "tiny" / "meta.json").read_text())["calls"]
    assert calls[0] == cut and calls[1]["finished_at"] is not None
    assert calls[1]["outcomes"] == {"completed": 4, "skipped": 4}
