"""python -m annealbench.estimate: one run timed per epoch, the budget's epochs from the planner."""

from __future__ import annotations

import json

import pytest
import torch

from annealbench import estimate
from annealbench.api import load
from annealbench.sharing import plan as prefix
from annealbench.spec.grid import expand
from annealbench.tasks import make_task


def test_estimate_counts_the_planned_epochs_and_divides_by_the_speedup(root):
    study = load(root / "experiments" / "smoke.toml", "quick")
    dev = torch.device("cpu")
    e = estimate.estimate(study, dev, None, epochs=2, speedup=2.5, dry_run=True)
    grid = expand(study, "cpu")
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=dev,
                     batch_size=study.batch_size)
    plan = prefix.plan(grid, task.steps_per_epoch(), prefix.mode("cpu"))
    assert e["runs"] == len(grid)
    assert e["epochs_total"] == sum(c["epochs"] for c in grid) == plan.epochs_total()
    assert e["epochs_to_train"] == plan.epochs_total() - plan.epochs_shared()
    assert len(e["epoch_seconds"]) == 2 and all(s > 0 for s in e["epoch_seconds"])
    assert e["steady_epoch_s"] == e["epoch_seconds"][1]  # the first epoch is warm-up
    assert e["serial_s"] == pytest.approx(e["epochs_to_train"] * e["steady_epoch_s"], abs=0.06)
    assert e["predicted_s"] == pytest.approx(e["serial_s"] / 2.5, abs=0.06)
    assert e["timed_run"]["epochs"] == max(c["epochs"] for c in grid)


def test_cli_writes_json_and_refuses_bad_numbers(root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(root)
    out = tmp_path / "e.json"
    assert estimate.main(["smoke", "--budget", "quick", "--device", "cpu", "--epochs", "2",
                          "--dry-run", "--json", str(out)]) == 0
    assert "smoke (quick budget, cpu" in capsys.readouterr().out
    assert json.loads(out.read_text())["dry_run"] is True
    for bad in (["--epochs", "1"], ["--speedup", "0"]):
        assert estimate.main(["smoke", "--budget", "quick", "--device", "cpu", *bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and bad[0] in err[0]
