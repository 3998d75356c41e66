"""A user's model, data set, optimizer and Task by import path, end to end: validated on a tiny
input, trained with the same pairing as the built-in pieces, found beside the study file by this
process and by the processes it starts."""

from __future__ import annotations

import csv
import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from annealbench import api
from annealbench.cli import main
from annealbench.errors import SpecError
from annealbench.models import build_model
from annealbench.options import RunOptions
from annealbench.spec import preflight
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.training.runner import epoch_seed

KIT = Path(__file__).parent / "user-kit" / "abkit.py"
CPU = torch.device("cpu")

STUDY = """
spec_version = 1

[study]
name = "mine"
primary_metric = "{metric}"
epochs = 2
batch_size = {batch}
seeds = [0]

[model]
name = "{model}"
{model_kwargs}

[dataset]
name = "{dataset}"
{dataset_kwargs}

[optimizers.opt]
type = "{optimizer}"
lrs = [{lr}]
{optimizer_kwargs}

[schedules.constant]

[schedules.step]
step_size = 1
gamma = 0.5
"""


def write(folder: Path, *, model="abkit:tiny_net", model_kwargs="", dataset="abkit:images",
          dataset_kwargs="", optimizer="sgd", optimizer_kwargs="", lr=0.1, batch=16,
          metric="accuracy") -> Path:
    """A study and the user's module beside it, as a user keeps them."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(KIT, folder / "abkit.py")
    path = folder / "mine.toml"
    path.write_text(STUDY.format(model=model, model_kwargs=model_kwargs, dataset=dataset,
                                 dataset_kwargs=dataset_kwargs, optimizer=optimizer,
                                 optimizer_kwargs=optimizer_kwargs, lr=lr,
                                 batch=batch, metric=metric))
    return path


@pytest.fixture(autouse=True)
def _restore_search_path(monkeypatch):
    # load_study puts the study folder on sys.path and PYTHONPATH: keep that inside each test
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("abkit", None)
    yield
    sys.modules.pop("abkit", None)


def _rows(root: Path, run_key: str) -> list[dict]:
    rows = []
    for f in sorted((root / "runs" / run_key / "epochs").glob("*.csv")):
        rows += list(csv.DictReader(open(f)))
    return rows


def _val(rows: list[dict], metric: str) -> dict[str, float]:
    """The validation ``metric`` of a run's records, by epoch."""
    return {r["epoch"]: float(r["value"]) for r in rows if r["split"] == "val" and r["metric"] == metric}


def _run(path: Path, out: Path, *extra) -> int:
    return main(["run", str(path), "--out", str(out), "--device", "cpu", "--no-progress", *extra])


def test_resnet18_by_import_path_validates_and_trains_a_dry_run(write_study, tmp_path, capsys):
    torchvision = pytest.importorskip("torchvision")
    # resnet18 takes num_classes only through **kwargs: the study sets it, no shape is passed
    assert "num_classes" not in inspect.signature(torchvision.models.resnet18).parameters
    path = write_study(replace={'name = "airbench-cnn"\nwidths = [8, 16]':
                                'name = "torchvision.models:resnet18"\nnum_classes = 10',
                                "n_train = 256\nn_val = 128\nn_test = 128":
                                "n_train = 128\nn_val = 32\nn_test = 32"})
    out = tmp_path / "out"
    assert main(["validate", str(path)]) == 0
    assert _run(path, out, "--dry-run") == 0
    log = capsys.readouterr().out
    assert "tiny: 4 runs" in log and "4 completed" in log and "epoch 1/3" in log
    assert not out.exists()  # a dry run writes nothing


def test_a_factory_receives_only_the_shapes_its_signature_names():
    seen = {}

    def names_one(num_classes, width=3):
        seen["names_one"] = num_classes
        return torch.nn.Linear(width, num_classes)

    def takes_any(**kwargs):
        seen["takes_any"] = dict(kwargs)
        return torch.nn.Linear(2, 2)

    mod = type(sys)("abshapes")
    mod.names_one, mod.takes_any = names_one, takes_any
    sys.modules["abshapes"] = mod
    try:
        shapes = {"num_classes": 7, "in_channels": 3, "image_size": 16}
        assert build_model("abshapes:names_one", {}, **shapes).out_features == 7
        build_model("abshapes:takes_any", {"num_classes": 5}, **shapes)
    finally:
        del sys.modules["abshapes"]
    assert seen == {"names_one": 7, "takes_any": {"num_classes": 5}}


def test_user_model_data_and_optimizer_train_end_to_end_paired(tmp_path):
    path = write(tmp_path / "study", optimizer="abkit:HalfSGD", optimizer_kwargs="momentum = 0.9",
                 dataset_kwargs='dtype = "float32"\nn_train = 256', model_kwargs="width = 6", lr=0.5)
    study = load_study(path)
    assert study.optimizers["opt"].type == "abkit:HalfSGD" and study.model_kwargs == {"width": 6}
    assert study.optimizers["opt"].kwargs == {"momentum": 0.9}
    assert _run(path, tmp_path / "out") == 0
    root = tmp_path / "out" / "mine"
    grid = expand(study, "cpu")
    assert len(grid) == 2 and all((root / "runs" / c["run_key"] / "status.json").exists() for c in grid)
    first, second = (_rows(root, c["run_key"]) for c in grid)
    # same seed, same initial weights: the evaluation before training is identical in both arms
    epoch0 = [(r["metric"], r["value"]) for r in first if r["epoch"] == "0"]
    assert epoch0 and epoch0 == [(r["metric"], r["value"]) for r in second if r["epoch"] == "0"]
    # the optimizer is the user's: the applied LR is the base LR (HalfSGD halves the gradient)
    steps = [r for r in first if r["metric"] == "step_loss"]
    assert steps and float(steps[0]["lr"]) == 0.5
    val = _val(first, "accuracy")
    assert val["2"] > 0.9 > val["0"]  # brightness classes are learnt in two short epochs


def test_a_text_data_set_and_a_stateless_model_by_path(tmp_path):
    path = write(tmp_path / "study", model="abkit:bigram", dataset="abkit:tokens",
                 dataset_kwargs="bptt = 16", metric="bpc", lr=1.0, batch=8)
    study = load_study(path)
    assert study.metric_directions == {"loss": "min", "bpc": "min"}
    assert _run(path, tmp_path / "out") == 0
    rows = _rows(tmp_path / "out" / "mine", expand(study, "cpu")[0]["run_key"])
    bpc = _val(rows, "bpc")
    assert bpc["2"] < bpc["0"] - 0.5


def test_word_level_text_reports_perplexity(tmp_path):
    path = write(tmp_path / "study", model="abkit:bigram", dataset="abkit:tokens",
                 dataset_kwargs='level = "word"\nbptt = 16', metric="ppl", lr=1.0, batch=8)
    assert load_study(path).metric_directions == {"loss": "min", "ppl": "min"}


def test_a_task_subclass_by_path(tmp_path):
    path = write(tmp_path / "study", model="abkit:linear", dataset="abkit:Regression",
                 dataset_kwargs="n = 128", metric="mae", lr=0.1, batch=32)
    study = load_study(path)
    assert study.metric_directions == {"loss": "min", "mae": "min"}
    assert _run(path, tmp_path / "out") == 0
    rows = _rows(tmp_path / "out" / "mine", expand(study, "cpu")[0]["run_key"])
    mae = _val(rows, "mae")
    assert mae["2"] < mae["0"]


def test_the_data_callable_is_called_once_per_process_for_validation_and_training(tmp_path):
    path = write(tmp_path / "study")
    study = load_study(path)
    import abkit

    from annealbench.execution.study import run_study

    run_study(study, RunOptions(tmp_path / "out", CPU, None, log=lambda m: None))
    assert abkit.CALLS["images"] == 1


def test_the_study_folder_is_found_by_a_fresh_process_from_anywhere(tmp_path):
    """No install: the folder of the study file is searched, also by the processes it starts."""
    path = write(tmp_path / "study")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = subprocess.run([sys.executable, "-m", "annealbench", "validate", str(path)], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    load_study(path)
    child = subprocess.run([sys.executable, "-c", "import abkit; print(abkit.__file__)"], cwd="/",
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0 and child.stdout.strip() == str(tmp_path / "study" / "abkit.py")


@pytest.mark.timeout(300)
def test_ray_workers_import_the_users_pieces(tmp_path):
    ray = pytest.importorskip("ray")
    from annealbench.execution.study import run_study

    study = load_study(write(tmp_path / "study"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # each Ray worker computes with one thread; so does the reference
    try:
        local = run_study(study, RunOptions(tmp_path / "local", CPU, None, log=lambda m: None))
        ray.init(num_cpus=2, include_dashboard=False, configure_logging=False,
                 runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
        try:
            remote = run_study(study, RunOptions(tmp_path / "ray", CPU, None, log=lambda m: None,
                                                 executor="ray"))
        finally:
            ray.shutdown()
    finally:
        torch.set_num_threads(threads)
    assert [o.status for o in remote] == ["completed"] * len(local)
    def values(root, key):
        return [(r["epoch"], r["metric"], r["value"]) for r in _rows(root / "mine", key)
                if r["metric"] != "throughput"]

    for o in local:
        assert values(tmp_path / "local", o.run_key) == values(tmp_path / "ray", o.run_key)


def test_seed_bound_is_what_torch_accepts_after_the_runner_reseeds():
    for epochs in (1, 30, 10_000):
        top = preflight.max_seed(epochs)
        torch.manual_seed(epoch_seed(top, epochs))  # the last epoch of the largest seed: accepted
        with pytest.raises((RuntimeError, ValueError, OverflowError)):
            torch.manual_seed(epoch_seed(top + 1, epochs))
    torch.manual_seed(0)


def test_api_loads_a_dict_like_the_file(tmp_path, monkeypatch):
    import tomllib

    path = write(tmp_path / "study")
    monkeypatch.chdir(tmp_path / "study")  # a dict's user code is looked up in the cwd
    doc = tomllib.loads(path.read_text())
    from_dict = api.load(doc)
    assert from_dict.file == api.DICT_SOURCE
    assert [c["run_key"] for c in expand(from_dict, "cpu")] == \
        [c["run_key"] for c in expand(load_study(path), "cpu")]
    doc["optimizers"]["opt"]["lrs"] = [-1.0]
    with pytest.raises(SpecError, match=r"^<dict>: optimizers\.opt\.lrs = -1\.0"):
        api.load(doc)
    with pytest.raises(SpecError, match="only tables, lists"):
        api.load({**doc, "study": {"name": object()}})
