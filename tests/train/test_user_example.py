"""The example in examples/digits (a user's own model and data set, not part of annealbench) runs
its seconds-long budget through the CLI and through the Python API, to equal records and a report."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
import torch

from annealbench import api
from annealbench.spec.grid import expand

pytest.importorskip("sklearn", reason="the example's data set ships with scikit-learn")


@pytest.fixture
def example(root):
    return root / "examples" / "digits" / "digits.toml"


@pytest.fixture(autouse=True)
def _keep_threads():
    threads = torch.get_num_threads()  # api.run sets them as the CLI does
    yield
    torch.set_num_threads(threads)


def _comparable(df):
    """Records without what differs between two runs of the same study: timings."""
    df = df[df["metric"] != "throughput"].drop(columns=["wall_time_s"])
    cols = [c for c in df.columns]
    return df.astype({c: str for c in cols}).sort_values(cols).reset_index(drop=True)


@pytest.mark.timeout(600)
def test_example_through_the_cli_and_the_api_gives_equal_records_and_a_report(example, tmp_path, root):
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    # the CLI as a user runs it, from the repository root, with no install of the example
    run = subprocess.run([sys.executable, "-m", "annealbench", "run", str(example), "--budget", "ci",
                          "--device", "cpu", "--out", str(cli_out), "--no-progress"],
                         cwd=root, capture_output=True, text=True, timeout=500)
    assert run.returncode == 0, run.stderr
    report = subprocess.run([sys.executable, "-m", "annealbench_report", "build", "--out", str(cli_out)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr

    result = api.run(example, budget="ci", out=api_out, device="cpu", log=lambda m: None)
    assert [o.status for o in result.outcomes] == ["completed"] * 6 and not result.failed
    assert result.report == api_out / "digits" / "index.html" and result.report.is_file()
    assert "digits" in result.report.read_text()
    assert (cli_out / "digits" / "index.html").is_file()
    df = result.records
    assert set(df["schedule"].astype(str)) == {"constant", "step", "cosine"}
    assert set(df["dataset"].astype(str)) == {"digits_example.data:digits"}
    cli_df = api.records(cli_out / "digits")
    assert len(df) == len(cli_df) > 0
    a, b = _comparable(df), _comparable(cli_df)
    assert a.equals(b)
    # the user's model learns: every run's validation loss falls from its untrained value
    loss = df[(df["split"] == "val") & (df["metric"] == "loss")].pivot(index="run_key", columns="epoch",
                                                                       values="value")
    assert len(loss) == 6 and (loss[2] < loss[0]).all()


def test_example_as_a_dict_is_the_same_study(example, monkeypatch):
    monkeypatch.chdir(example.parent)  # a dict's user code is looked up in the current folder
    doc = tomllib.loads(example.read_text())
    keys = [c["run_key"] for c in expand(api.load(doc, "ci"), "cpu")]
    assert keys == [c["run_key"] for c in expand(api.load(example, "ci"), "cpu")] and len(keys) == 6


def test_example_quick_budget_is_the_fair_protocol(example):
    study = api.load(example, "quick")
    assert len(study.seeds) >= 5 and len(study.curve_epochs) >= 3 and study.min_effect
    sgd = study.optimizers["sgd"]
    assert len(sgd.lrs) >= 3 and sgd.article_lr == 0.01 and sgd.kwargs == {"momentum": 0.9}
    article = {"constant", "step", "multistep", "exponential", "linear", "stepped-decay", "cosine"}
    assert set(study.schedules) == article
