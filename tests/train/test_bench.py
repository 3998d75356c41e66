"""The benchmark: ratios against a baseline measured in the same run, written to a history file."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from pathlib import Path

import pytest
import torch
from scipy import stats

from annealbench import precision
from annealbench.bench import engine as bench_engine
from annealbench.bench import main as bench
from annealbench.bench import study as bench_study
from annealbench.execution import workers as engine
from annealbench.models import MODELS
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench_report.analysis import inference

OWN = set(bench.TARGETS)
ENGINE = set(bench_engine.TARGETS) - {"gpu_runs"}  # CUDA only


@pytest.fixture
def subprocess_env(monkeypatch):
    """The bench's child processes reuse compiled bytecode, as the reliability harness's CLIs do."""
    monkeypatch.setenv("PYTHONPYCACHEPREFIX",
                       str(Path(tempfile.gettempdir()) / f"annealbench-test-pycache-{os.getuid()}"))
    for k in ("PYTHONDONTWRITEBYTECODE", engine.ENV_WORKERS, engine.ENV_THREADS, "ANNEALBENCH_FAULT"):
        monkeypatch.delenv(k, raising=False)


@pytest.mark.timeout(600)
def test_bench_writes_ratios_and_appends_history(tmp_path, subprocess_env, monkeypatch, root):
    # As on a 1-CPU machine: the baselines take one thread (this bench's own measures still spawn
    # the default engine's workers in its CLI runs). Two threads on a shared 2-core test machine
    # make the baseline crawl for minutes: at every op one thread waits for the other's core.
    monkeypatch.setattr(engine, "usable_cpus", lambda: 1)
    out = tmp_path / "bench"
    out.mkdir()
    earlier = "time,git_commit,device,device_name,measure,baseline,candidate,ratio,target,met\n" \
              "2026-01-01T00:00:00Z,abc,cpu,x,runner_throughput,1,1,1.0,>= 0.95,True\n"
    (out / "history.csv").write_text(earlier)
    # dry-run sizes (2 steps, 256 images; the bench study is the same either way): what is tested
    # is every measure's bookkeeping and what is written, not the figures of full epochs
    r = bench.run_bench(torch.device("cpu"), None, out, repeats=1, dry_run=True,
                        experiments=root / "experiments")
    assert set(r["measures"]) == OWN | ENGINE
    for name in OWN | {"engine_throughput", "study_speedup"}:
        m = r["measures"][name]
        assert m["baseline"] > 0 and m["candidate"] > 0
        op, target = (bench.TARGETS | bench_engine.TARGETS)[name]
        assert m["met"] == (m["ratio"] >= target if op == ">=" else m["ratio"] <= target)
    for name in OWN | {"engine_throughput"}:  # rates and sizes: candidate over baseline
        assert math.isclose(r["measures"][name]["ratio"],
                            r["measures"][name]["candidate"] / r["measures"][name]["baseline"])
    speed = r["measures"]["study_speedup"]  # wall times: the baseline's over the candidate's
    assert math.isclose(speed["ratio"], speed["baseline"] / speed["candidate"])
    assert speed["dataset"] == "synthetic-images" and speed["runs"] == 24
    thr = r["measures"]["engine_throughput"]
    e = engine.choose("cpu")
    assert thr["candidate_setting"] == {
        "workers": e.workers, "threads": e.threads, "precision": precision.resolve("auto", "cpu"),
        "activation": MODELS["airbench-cnn"].kwargs["activation"].default}
    assert thr["baseline_setting"] == {"workers": 1, "threads": engine.usable_cpus(),
                                       "precision": "fp32", "activation": "gelu"}
    acc = r["measures"]["bf16_accuracy"]
    d = acc["difference"]
    assert d["seeds"] == 3 and d["lo"] <= d["mean"] <= d["hi"]
    assert acc["met"] == (d["lo"] <= 0 <= d["hi"]) and 0 < acc["candidate"] < 1
    saved = r["measures"]["prefix_saved"]
    assert saved["target"] is None and 0 < saved["ratio"] < 1
    # the study `annealbench run` trains by default on this device
    assert saved["study"] == "cifar10-cnn" and saved["budget"] == load_study(
        root / "experiments" / "cifar10-cnn.toml", "auto", device_type="cpu").budget
    assert speed["prefix_sharing"].startswith("off in the baseline")
    assert r["dataset"] == "synthetic-images"  # no CIFAR folder given
    rows = list(csv.DictReader(open(out / "history.csv")))
    recorded = {n for n, m in r["measures"].items() if "ratio" in m}
    assert len(rows) == 1 + len(recorded)  # appended below the earlier night, header once
    assert rows[0]["git_commit"] == "abc" and {r["measure"] for r in rows[1:]} == recorded
    saved = json.loads(next(out.glob("bench-*.json")).read_text())
    assert saved["measures"].keys() == r["measures"].keys()


def test_a_dry_run_writes_nothing(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake(device, data_dir, out, *a, **k):
        seen["out"] = out
        return _fixed(device, 2.5)

    monkeypatch.setattr(bench, "run_bench", fake)
    for dry in (True, False):
        flags = ["--dry-run"] if dry else []
        assert bench.main(["--device", "cpu", "--out", str(tmp_path), *flags]) == 0
        assert seen["out"] == (None if dry else tmp_path)


def test_bench_rejects_zero_repeats(capsys):
    assert bench.main(["--repeats", "0", "--device", "cpu"]) == 2
    assert "--repeats 0" in capsys.readouterr().err


@pytest.mark.parametrize("missed", [False, True])
def test_check_fails_when_a_target_is_missed(monkeypatch, capsys, missed):
    def fake(*a, **k):
        m = {"baseline": 1.0, "candidate": 2.0, "unit": "s", "ratio": 2.0, "target": ">= 2.0",
             "met": not missed}
        return {"device_name": "x", "dataset": "d", "git_commit": None,
                "measures": {"study_speedup": m, "prefix_saved": {"available": False, "why": "w"},
                             "gpu_runs": {**m, "target": None, "met": None}}}

    monkeypatch.setattr(bench, "run_bench", fake)
    assert bench.main(["--device", "cpu", "--check"]) == (1 if missed else 0)
    printed = capsys.readouterr().out
    assert ("NOT met" in printed) == missed and "not measured: w" in printed and "reported" in printed


@pytest.mark.parametrize("p,df", [(0.975, 1), (0.975, 2), (0.975, 4), (0.975, 29), (0.9, 7),
                                  (0.5, 3), (0.025, 5)])
def test_t_quantile_matches_scipy(p, df):
    """The quantile inside the interval the bench reports (the report's t_half_width, which
    takes t at 1 - (1 - confidence)/2 with n - 1 degrees of freedom): std 1, n = df + 1."""
    t = inference.t_half_width(1.0, df + 1, confidence=2 * p - 1) * math.sqrt(df + 1)
    assert t == pytest.approx(stats.t.ppf(p, df), abs=1e-6)


def test_paired_interval_matches_scipy():
    by_seed = {0: [0.01, -0.02], 1: [0.005, 0.0], 2: [-0.01, -0.004], 3: [0.02, 0.012]}
    means = [sum(v) / len(v) for v in by_seed.values()]
    got = bench_study.paired_interval(by_seed)
    low, high = stats.t.interval(0.95, len(means) - 1, loc=sum(means) / 4, scale=stats.sem(means))
    assert got["seeds"] == 4 and got["mean"] == pytest.approx(sum(means) / 4)
    assert (got["lo"], got["hi"]) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))


@pytest.mark.parametrize("cifar,runs", [(True, 32), (False, 24)])
def test_bench_study_is_a_valid_study(tmp_path, cifar, runs):
    spec = tmp_path / "bench-study.toml"
    spec.write_text(bench_study.study_toml(cifar))
    study = load_study(spec)
    grid = expand(study, "cpu")
    assert len(grid) == runs and study.curve_epochs[-1] == study.epochs
    assert {c["schedule"] for c in grid} == {"constant", "step", "multistep", "cosine"}


@pytest.mark.timeout(300)
def test_runs_sharing_a_device_are_measured_together(subprocess_env):
    """gpu_runs' machinery (N training processes started together, their images summed over the
    span from the first start to the last end), on the CPU at dry-run sizes."""
    one, best, extra = bench_engine.gpu_runs(torch.device("cpu"), None, True, counts=(1, 2))
    by = extra["img_per_s_by_processes"]
    assert set(by) == {1, 2} and all(v > 0 for v in by.values())
    assert one == by[1] and best == by[extra["best_processes"]] == max(by.values())


def _fixed(device, ratio: float) -> dict:
    """bench.run_bench's answer with one fixed study_speedup on ``device``."""
    m = bench_engine._entry(100.0, 100.0 / ratio, "s", ratio, "study_speedup", device)
    return {"device_name": "x", "dataset": "d", "git_commit": None, "measures": {"study_speedup": m}}


@pytest.mark.parametrize("device,per_gpu,ratio,code", [
    ("cpu", 1, 1.05, 1),   # a missed target fails the check
    ("cpu", 1, 2.5, 0),
    ("cuda", 1, 1.05, 0),  # one process per GPU: reported, no target (it measures no engine)
    ("cuda", 4, 1.05, 0),  # the default, several per GPU: reported until nights have measured it
    ("cuda", 4, 2.5, 0)])
def test_check_exit_on_cuda_reports_study_speedup(monkeypatch, capsys, device, per_gpu, ratio, code):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv(engine.ENV_WORKERS, "2")  # the candidate study ignores it: so does the rule
    real = engine.choose
    monkeypatch.setattr(engine, "choose", lambda d, *a: engine.Engine(per_gpu, 1, "test")
                        if d == "cuda" else real(d, *a))
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: _fixed(torch.device(device), ratio))
    assert bench.main(["--device", "cpu", "--check"]) == code
    out = capsys.readouterr().out
    assert ("reported: the default engine on CUDA is 1 process(es) on 1 GPU(s)" in out) == (
        device == "cuda" and per_gpu == 1)
    assert ("reported: 4 processes on 1 GPU(s); no target until nights" in out) == (
        device == "cuda" and per_gpu == 4)


def test_cuda_default_is_runs_per_gpu_times_gpus(monkeypatch):
    """Several runs share a GPU by default (measured: docs/gpu.md); --workers overrides."""
    monkeypatch.delenv(engine.ENV_WORKERS, raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    e = engine.choose("cuda")
    assert e.workers == engine.RUNS_PER_GPU * 2 == 8 and "4 runs per GPU x 2 GPUs" in e.why
    assert engine.choose("cuda", workers=1).workers == 1


class _FakeChild:
    def __init__(self, cmd, **kw):
        _FakeChild.cmds.append(cmd)
        self.stdout, self.stdin, self.returncode = self, self, 0

    def readline(self):
        return "ready\n"

    def write(self, _):
        pass

    def flush(self):
        pass

    def communicate(self, timeout=None):
        return json.dumps({"start": 0.0, "end": 1.0, "items": 10}) + "\n", None

    def poll(self):
        return 0


@pytest.mark.parametrize("gpus,spread,want", [
    (2, True, ["cuda:0", "cuda:1", "cuda:0"]),    # the engine's processes: over the GPUs, as run
    (2, False, ["cuda:0"] * 3),                   # gpu_runs: processes sharing one GPU
    (0, True, ["cpu"] * 3)])
def test_bench_children_are_spread_over_the_gpus(monkeypatch, gpus, spread, want):
    _FakeChild.cmds = []
    monkeypatch.setattr(bench_engine.subprocess, "Popen", _FakeChild)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    device = torch.device("cuda" if gpus else "cpu")
    assert bench_engine.rate(3, 1, "fp32", "gelu", device, None, True, spread) == 30.0
    assert [c[c.index("--device") + 1] for c in _FakeChild.cmds] == want
    for name in want:  # each is a device the child's command line accepts
        assert bench._device_arg(name) == name


def test_cuda_peak_memory_leaves_out_the_data_set_held_on_the_gpu(monkeypatch, capsys):
    """On CUDA the data set stays on the GPU: the epoch's peak is what it adds to that."""
    allocated = {"now": 3_000}  # the data set, loaded by _task

    def epoch(*a, **k):
        allocated["peak"] = allocated["now"] + 500  # the epoch's own activations and weights

    monkeypatch.setattr(bench, "_task", lambda *a: ("cifar10", None))
    monkeypatch.setattr(bench, "bare_loop", epoch)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: allocated["now"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: allocated.update(peak=0))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: allocated["peak"])
    bench._child("bare", torch.device("cuda"), None, True)
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"peak": 500}


def test_history_gets_a_dataset_column_without_losing_earlier_nights(tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("time,git_commit,device,device_name,measure,baseline,candidate,ratio,target,"
                       "met\n2026-01-01T00:00:00Z,abc,cuda,x,runner_throughput,1,1,1.0,>= 0.95,True\n")
    row = ["2026-01-02T00:00:00Z", "def", "cuda", "x", "runner_throughput", 1, 1, 1.0, ">= 0.95",
           True, "cifar10"]
    bench.append_history(history, [row])
    bench.append_history(history, [row])
    rows = list(csv.DictReader(open(history)))
    assert [r["dataset"] for r in rows] == ["", "cifar10", "cifar10"]
    assert rows[0]["git_commit"] == "abc" and list(rows[0]) == bench.HISTORY


def test_each_repetition_of_a_throughput_measure_is_kept_for_the_nightly():
    from annealbench.bench.output import add_samples

    measures = {"runner_throughput": {"ratio": 1.0}, "augment_throughput": {"ratio": 2.0}}
    add_samples(measures, {"runner_throughput": [(10.0, 9.0), (11.0, 9.5)],
                           "augment_throughput": [(1.0, 2.0)]})
    assert measures == {
        "runner_throughput": {"ratio": 1.0, "samples": {"baseline": [10.0, 11.0], "candidate": [9.0, 9.5]}},
        "augment_throughput": {"ratio": 2.0, "samples": {"baseline": [1.0], "candidate": [2.0]}}}
