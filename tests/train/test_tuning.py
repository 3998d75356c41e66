"""Base LRs chosen on seeds that are never judged: ``tuned_by``, ``annealbench tune``, the tuning
file, the judged grid it leaves, and the one-line stop when the file is missing or stale."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import tomllib

import pytest
from testkit import tiny_study

from annealbench import api
from annealbench.cli import main
from annealbench.errors import SpecError, TuningError
from annealbench.spec import tuning
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.store import RunDir, atomic_write_json

BUDGETS = """
[budgets.judged]
tuned_by = "tune"
epochs = 2
budget_curve = [0.5, 1.0]
schedules = ["constant", "onecycle"]

[budgets.tune]
seeds = [5, 6]
epochs = 2
budget_curve = [0.5, 1.0]
schedules = ["constant", "onecycle"]
"""
TUNED = tiny_study().replace('lrs = [0.05]', 'lrs = [0.01, 0.05, 0.2]\narticle_lr = 0.01') + BUDGETS
CONTRACT_KEYS = {"study", "judged_budget", "tuning_budget", "seeds", "primary_metric", "direction",
                 "commit", "date", "spec_sha256", "tuning_runs_sha256", "choices"}


def _quiet(_msg):
    pass


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny study tuned once (its tuning runs trained): (study path, out folder, Tuned)."""
    d = tmp_path_factory.mktemp("tuned")
    path = d / "tiny.toml"
    path.write_text(TUNED)
    result = api.tune(path, budget="judged", out=d / "out", device="cpu", log=_quiet, workers=1)
    return path, d / "out", result


def _val(run: RunDir, epoch: int) -> float:
    with open(run.epoch_file(epoch), newline="") as f:
        return next(float(r["value"]) for r in csv.DictReader(f)
                    if r["split"] == "val" and r["metric"] == "accuracy")


def test_tune_writes_the_contract_file_with_the_best_mean_validation_lr(tuned):
    path, out, result = tuned
    assert result.file == path.parent / "tiny.judged.tuning.json"
    content = json.loads(result.file.read_text())
    assert set(content) == CONTRACT_KEYS
    names = (content["study"], content["judged_budget"], content["tuning_budget"])
    assert names == ("tiny", "judged", "tune")
    assert content["seeds"] == [5, 6] and content["direction"] == "max"
    assert content["spec_sha256"] == load_study(path, "tune").spec_sha256
    assert content["tuning_runs_sha256"] == load_study(path, "judged", with_tuning=False).tuning_runs_sha256
    assert [(c["optimizer"], c["schedule"], c["length"]) for c in content["choices"]] == [
        ("sgd", "constant", 1), ("sgd", "constant", 2), ("sgd", "onecycle", 1), ("sgd", "onecycle", 2)]
    # recomputed here from the run folders: the fixed LR at length 1 is its 2-epoch run's epoch 1
    grid = {(c["schedule"], c["base_lr"], c["seed"], c["epochs"]): c["run_key"]
            for c in expand(load_study(path, "tune"), "cpu")}
    for c in content["choices"]:
        assert [r["base_lr"] for r in c["by_lr"]] == [0.01, 0.05, 0.2]
        for r in c["by_lr"]:
            run_len = 2 if c["schedule"] == "constant" else c["length"]
            vals = [_val(RunDir(result.folder / "runs" / grid[(c["schedule"], r["base_lr"], s, run_len)]),
                         c["length"]) for s in (5, 6)]
            assert r["n"] == 2 and r["val_mean"] == pytest.approx(statistics.mean(vals), abs=1e-12)
        best = max(r["val_mean"] for r in c["by_lr"])
        assert c["base_lr"] == min(r["base_lr"] for r in c["by_lr"] if r["val_mean"] == best)
        assert c["edge"] == (c["base_lr"] in (0.01, 0.2))
    assert result.folder == out / "tiny" / "tuning" / "tune"
    assert not (out / "tiny" / "runs").exists()  # the judged study's folder holds no tuning run


def test_judged_grid_trains_the_chosen_lr_and_the_articles_only(tuned):
    path, _, result = tuned
    study = load_study(path, "judged")
    assert study.tuning["file"] == "tiny.judged.tuning.json" and study.tuned_by == "tune"
    chosen = {(c["schedule"], c["length"]): c["base_lr"] for c in result.tuning["choices"]}
    runs = expand(study, "cpu")
    got = {}
    for r in runs:
        got.setdefault((r["schedule"], r["epochs"], r["seed"]), set()).add(r["base_lr"])
    assert set(got) == {(s, b, seed) for s in ("constant", "onecycle") for b in (1, 2) for seed in (0, 1)}
    for (s, b, _), lrs in got.items():
        assert lrs == {chosen[(s, b)], 0.01}
    assert len({r["run_key"] for r in runs}) == len(runs)


def test_run_of_a_tuned_budget_carries_the_tuning_in_study_json(tuned):
    path, out, result = tuned
    assert main(["run", str(path), "--budget", "judged", "--out", str(out), "--device", "cpu",
                 "--no-progress", "--workers", "1"]) == 0
    root = out / "tiny"
    written = json.loads((root / "study.json").read_text())
    assert written["tuning"] == {**result.tuning, "file": "tiny.judged.tuning.json"}
    keys = sorted(c["run_key"] for c in expand(load_study(path, "judged"), "cpu"))
    assert json.loads((root / "meta.json").read_text())["run_keys"] == keys
    assert sorted(p.name for p in (root / "runs").iterdir()) == keys
    # in-study selection: no tuning
    assert json.loads((result.folder / "study.json").read_text())["tuning"] is None


def test_missing_tuning_file_with_no_tune_stops_run_with_one_line_naming_it_and_tune(tuned, tmp_path, capsys):
    """(Without --no-tune, run tunes first: tests/train/test_reproduce.py.)"""
    path = tmp_path / "tiny.toml"
    shutil.copy(tuned[0], path)
    out = tmp_path / "out"
    assert main(["run", str(path), "--budget", "judged", "--out", str(out), "--device", "cpu",
                 "--no-tune"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    file = tmp_path / "tiny.judged.tuning.json"
    assert len(err) == 1 and err[0].startswith(f"annealbench: {file}: missing")
    assert f"annealbench tune {path} --budget judged" in err[0]
    assert not out.exists()


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("[budgets.tune]\nseeds = [5, 6]", "[budgets.tune]\nseeds = [5, 7]"),
    lambda t: t.replace("epochs = 2\nbudget_curve", "epochs = 4\nbudget_curve"),
    lambda t: t.replace("lrs = [0.01, 0.05, 0.2]", "lrs = [0.01, 0.05, 0.3]"),
], ids=["tuning seeds", "length", "LR grid"])
def test_an_edit_to_the_tuning_runs_makes_the_tuning_file_stale(tuned, tmp_path, capsys, edit):
    path = tmp_path / "tiny.toml"
    text = edit(tuned[0].read_text())
    assert text != tuned[0].read_text()
    path.write_text(text)
    shutil.copy(tuned[2].file, tmp_path / tuned[2].file.name)
    assert main(["validate", str(path), "--budget", "judged"]) == 2
    err = capsys.readouterr().err.strip()
    assert "stale" in err and "annealbench tune" in err
    assert main(["grid", str(path), "--budget", "judged"]) == 2


def test_an_edit_that_leaves_the_tuning_runs_keeps_the_tuning_file(tuned, tmp_path, capsys):
    """Comments and the judged seeds are not what the tuning runs are: the choice stands."""
    path = tmp_path / "tiny.toml"
    text = tuned[0].read_text().replace("[budgets.judged]\n", "[budgets.judged]\nseeds = [0, 1, 2]\n")
    path.write_text("# a comment added after tuning\n" + text)
    shutil.copy(tuned[2].file, tmp_path / tuned[2].file.name)
    assert main(["validate", str(path), "--budget", "judged"]) == 0
    study = load_study(path, "judged")
    assert study.tuning["choices"] == tuned[2].tuning["choices"]
    assert study.spec_sha256 != tuned[2].tuning["spec_sha256"]


def test_a_tuning_file_for_another_grid_is_stale(tuned):
    path, _, result = tuned
    study = load_study(path, "judged", with_tuning=False)
    assert tuning.stale(study, result.tuning) is None
    fewer = {**result.tuning, "choices": result.tuning["choices"][1:]}
    assert "no choice for sgd/constant at 1 epochs" in tuning.stale(study, fewer)
    other = json.loads(json.dumps(result.tuning))
    other["choices"][0]["by_lr"] = other["choices"][0]["by_lr"][:2]
    assert "chosen from base LRs [0.01, 0.05]" in tuning.stale(study, other)
    other_budget = {**result.tuning, "judged_budget": "short"}
    assert "written for study tiny, budget short" in tuning.stale(study, other_budget)
    no_choices = {k: v for k, v in result.tuning.items() if k != "choices"}
    assert "'choices' is missing" in tuning.stale(study, no_choices)


def test_tune_needs_a_budget_with_tuned_by(tuned, capsys):
    assert main(["tune", str(tuned[0]), "--budget", "tune", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{tuned[0]}: budgets.tune.tuned_by: budget tune chooses its base LRs inside the study" in err


def test_tune_dry_run_writes_nothing(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TUNED)
    assert main(["tune", str(path), "--budget", "judged", "--dry-run", "--out", str(tmp_path / "out"),
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.toml"]
    assert "would write" in capsys.readouterr().out


def test_a_tuning_budget_of_another_model_is_refused(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TUNED + "[budgets.tune.model]\nwidths = [4, 8]\n")
    with pytest.raises(SpecError) as e:
        load_study(path, "judged")
    assert str(e.value).startswith(f"{path}: budgets.tune.model.widths = [4, 8]: budget judged has [8, 16]")
    load_study(path, "tune")  # by itself, an ordinary budget


def _fake_run(root, cfg, vals: dict, status="completed"):
    """A finished run folder holding validation accuracy ``vals[epoch]``."""
    run = RunDir(root / "runs" / cfg["run_key"])
    run.epochs.mkdir(parents=True)
    for epoch, v in vals.items():
        run.write_epoch(epoch, [(epoch, 1, "val", "accuracy", v, 0.1, 1.0)])
    atomic_write_json(run.status, {"status": status})


def test_choice_known_answer_ties_divergence_and_the_fixed_lrs_full_run(tmp_path):
    """Means by hand: ties go to the smaller LR; an LR where a run diverged is passed over while
    another LR had none; the fixed LR at length 1 is read from its full-length run."""
    path = tmp_path / "tiny.toml"
    path.write_text(TUNED)
    study = load_study(path, "tune")
    grid = expand(study, "cpu")
    root = tmp_path / "t"
    table = {  # (schedule, lr, seed, run length) -> {epoch: val accuracy}
        ("constant", 0.01, 5, 2): {1: 0.25, 2: 0.50}, ("constant", 0.01, 6, 2): {1: 0.50, 2: 0.50},
        ("constant", 0.05, 5, 2): {1: 0.375, 2: 0.75}, ("constant", 0.05, 6, 2): {1: 0.375, 2: 0.25},
        ("constant", 0.2, 5, 2): {1: 0.10, 2: 0.20}, ("constant", 0.2, 6, 2): {1: 0.10, 2: 0.20},
        ("onecycle", 0.01, 5, 1): {1: 0.2}, ("onecycle", 0.01, 6, 1): {1: 0.2},
        ("onecycle", 0.05, 5, 1): {1: 0.3}, ("onecycle", 0.05, 6, 1): {1: 0.3},
        ("onecycle", 0.2, 5, 1): {1: 0.9}, ("onecycle", 0.2, 6, 1): {},  # diverged in epoch 1
        ("onecycle", 0.01, 5, 2): {1: 0.1, 2: 0.7}, ("onecycle", 0.01, 6, 2): {1: 0.1, 2: 0.5},
        ("onecycle", 0.05, 5, 2): {1: 0.1, 2: 0.6}, ("onecycle", 0.05, 6, 2): {1: 0.1, 2: 0.7},
        ("onecycle", 0.2, 5, 2): {1: 0.1, 2: 0.1}, ("onecycle", 0.2, 6, 2): {1: 0.1, 2: 0.1},
    }
    for cfg in grid:
        vals = table.get((cfg["schedule"], cfg["base_lr"], cfg["seed"], cfg["epochs"]))
        if vals is None:  # the fixed LR's 1-epoch runs: never read (garbage on purpose)
            vals = {1: 0.99}
        _fake_run(root, cfg, vals, "diverged" if vals == {} else "completed")
    got = {(c["schedule"], c["length"]): c for c in tuning.choose(study, grid, root)}
    assert got[("constant", 1)]["base_lr"] == 0.01  # 0.375 vs 0.375: the smaller LR
    assert [r["val_mean"] for r in got[("constant", 1)]["by_lr"]] == [0.375, 0.375, 0.10]
    assert got[("constant", 2)]["base_lr"] == 0.01  # 0.50 vs 0.50 vs 0.20
    assert got[("onecycle", 1)]["base_lr"] == 0.05  # 0.2 has the best mean (0.9) but diverged once
    assert got[("onecycle", 1)]["by_lr"][2] == {"base_lr": 0.2, "val_mean": 0.9, "n": 1, "n_diverged": 1}
    assert got[("onecycle", 2)]["base_lr"] == 0.05 and not got[("onecycle", 2)]["edge"]
    assert got[("onecycle", 1)]["edge"] is False and got[("constant", 1)]["edge"] is True


# Budgets shipped before their tuning run has finished (the study file says so): `run` must stop
# with the one-line "missing" error until `annealbench tune` writes the file; then drop them here.
PENDING: set = {("cifar10-cnn", "headline"), ("cifar10-cnn-sgd", "headline")}


def test_shipped_tuning_files_are_current(root):
    """Every shipped budget with tuned_by has a tuning file that matches its study file."""
    for name in ("smoke", "cifar10-cnn", "shakespeare-lstm", "cifar10-cnn-sgd"):
        doc_budgets = tomllib.loads((root / "experiments" / f"{name}.toml").read_text())["budgets"]
        for budget, b in doc_budgets.items():
            if "tuned_by" not in b:
                continue
            path = root / "experiments" / f"{name}.toml"
            if (name, budget) in PENDING:
                assert not (root / "experiments" / f"{name}.{budget}.tuning.json").exists(), \
                    f"{name}.{budget}.tuning.json is shipped now: remove it from PENDING"
                with pytest.raises(TuningError, match="missing.*annealbench tune"):
                    load_study(path, budget)
                continue
            study = load_study(path, budget)
            assert study.tuning["file"] == f"{name}.{budget}.tuning.json"


def test_a_budget_without_the_article_row_trains_the_chosen_lrs_only(tuned, tmp_path):
    """article_row = false: the judged grid holds the chosen base LR per (arm, length) and no
    article row, and the tuning file stays valid (which row is the article's is not a run)."""
    path = tmp_path / "tiny.toml"
    text = tuned[0].read_text()
    path.write_text(text.replace("[budgets.judged]\n", "[budgets.judged]\narticle_row = false\n"))
    shutil.copy(tuned[2].file, tmp_path / tuned[2].file.name)
    study = load_study(path, "judged")
    assert all(o.article_lr is None for o in study.optimizers.values())
    chosen = {(c["optimizer"], c["schedule"], c["length"]): c["base_lr"] for c in study.tuning["choices"]}
    runs = expand(study, "cpu")
    assert {(r["optimizer"], r["schedule"], r["epochs"], r["base_lr"]) for r in runs} == \
        {(*k, lr) for k, lr in chosen.items()}
    assert len(runs) == len(chosen) * len(study.seeds)
    with_row = expand(load_study(tuned[0], "judged"), "cpu")
    assert len(with_row) > len(runs)  # the article's 0.01 where it was not chosen


def test_choice_of_an_averaging_arm_reads_its_hosts_averages_file(tmp_path):
    """An averaging arm has no runs: its values are the host's averages.csv rows of that arm (at each
    length, the full-length fixed-LR run's), never the host's own epoch files or another arm's rows."""
    arms = '[schedules.constant]\n\n[schedules.ema]\ntype = "constant"\nevaluate = { average = "ema" }\n'
    text = TUNED.replace("[schedules.constant]\n", arms).replace(
        'schedules = ["constant", "onecycle"]', 'schedules = ["constant", "ema", "onecycle"]')
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    study = load_study(path, "tune")
    grid = expand(study, "cpu")
    root = tmp_path / "t"
    ema = {0.01: {1: 0.3, 2: 0.2}, 0.05: {1: 0.1, 2: 0.1}, 0.2: {1: 0.2, 2: 0.9}}  # by LR: epoch -> acc
    for cfg in grid:
        host = cfg["schedule"] == "constant" and cfg["epochs"] == 2
        _fake_run(root, cfg, {1: 0.5, 2: 0.5} if host else {1: 0.99, 2: 0.99})
        if host:
            assert cfg["averages"] == {"ema": study.schedules["ema"].evaluate}
            RunDir(root / "runs" / cfg["run_key"]).write_averages(
                [(arm, (e, 1, "val", "accuracy", v + (arm != "ema"), 0.1, 1.0))
                 for arm in ("ema", "other") for e, v in ema[cfg["base_lr"]].items()])
    got = {(c["schedule"], c["length"]): c for c in tuning.choose(study, grid, root)}
    assert [r["val_mean"] for r in got[("ema", 1)]["by_lr"]] == [0.3, 0.1, 0.2]
    assert got[("ema", 1)]["base_lr"] == 0.01 and got[("ema", 2)]["base_lr"] == 0.2
    assert got[("constant", 2)]["base_lr"] == 0.01  # the host's own: all 0.5, the smaller LR


def test_choice_of_an_average_from_a_fraction_of_the_run_reads_the_run_of_that_length(tmp_path):
    """SWA over the second half: at length 1 it is the 1-epoch host run's average (begun at epoch
    0.5), not the 2-epoch run's at epoch 1 (where its average had not begun); an EMA, the same at
    any length, stays read from the full-length run."""
    arms = ('[schedules.constant]\n\n[schedules.swa]\ntype = "constant"\n'
            'evaluate = { average = "uniform", start = { frac = 0.5 } }\n')
    text = TUNED.replace("[schedules.constant]\n", arms).replace(
        'schedules = ["constant", "onecycle"]', 'schedules = ["constant", "swa", "onecycle"]')
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    study = load_study(path, "tune")
    assert not study.schedules["swa"].length_independent and study.schedules["constant"].length_independent
    grid = expand(study, "cpu")
    root = tmp_path / "t"
    # run length -> LR -> accuracy
    swa = {1: {0.01: 0.3, 0.05: 0.6, 0.2: 0.1}, 2: {0.01: 0.2, 0.05: 0.1, 0.2: 0.7}}
    for cfg in grid:
        _fake_run(root, cfg, {1: 0.5, 2: 0.5})
        if cfg["schedule"] == "constant":
            RunDir(root / "runs" / cfg["run_key"]).write_averages(
                [("swa", (e, 1, "val", "accuracy", swa[cfg["epochs"]][cfg["base_lr"]], 0.1, 1.0))
                 for e in range(1, cfg["epochs"] + 1)])
    got = {(c["schedule"], c["length"]): c for c in tuning.choose(study, grid, root)}
    assert [r["val_mean"] for r in got[("swa", 1)]["by_lr"]] == [0.3, 0.6, 0.1]
    assert got[("swa", 1)]["base_lr"] == 0.05 and got[("swa", 2)]["base_lr"] == 0.2
