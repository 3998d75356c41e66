"""`annealbench bench --check` on fixed figures: the gate follows each target, boundaries included.

Nothing is timed here: the measured figures are given, and the bench's own judgement (bench.judge,
bench_engine._entry) and gate (bench.main's exit status) are what is tested, against targets
written out below rather than read back from the code's tables.
"""

from __future__ import annotations

import pytest
import torch

from annealbench.bench import engine as bench_engine
from annealbench.bench import main as bench

CPU = torch.device("cpu")


@pytest.mark.parametrize("name,base,cand,met", [
    ("runner_throughput", 100.0, 96.0, True),
    ("runner_throughput", 100.0, 95.0, True),     # exactly 0.95: met
    ("runner_throughput", 100.0, 94.99, False),
    ("augment_throughput", 100.0, 100.0, True),   # exactly 1.0: met
    ("augment_throughput", 100.0, 99.99, False),
    ("runner_peak_memory", 100.0, 110.0, True),   # exactly 1.10: met (at most)
    ("runner_peak_memory", 100.0, 110.01, False),
    ("runner_peak_memory", 100.0, 50.0, True),
])
def test_judge_on_fixed_figures(name, base, cand, met):
    m = bench.judge(name, base, cand, "u")
    assert m["ratio"] == cand / base and m["met"] is met


@pytest.mark.parametrize("name,ratio,met", [
    ("engine_throughput", 1.7, True), ("engine_throughput", 1.69, False),
    ("study_speedup", 2.0, True), ("study_speedup", 1.99, False), ("study_speedup", 3.0, True)])
def test_engine_measures_on_fixed_figures_on_cpu(name, ratio, met):
    assert bench_engine._entry(1.0, ratio, "u", ratio, name, CPU)["met"] is met


def _result(measures: dict) -> dict:
    return {"device_name": "x", "dataset": "d", "git_commit": None, "measures": measures}


@pytest.mark.parametrize("cand,code", [(95.0, 0), (94.0, 1)])
def test_check_exit_status_follows_the_judged_figures(monkeypatch, capsys, cand, code):
    measures = {"runner_throughput": bench.judge("runner_throughput", 100.0, cand, "img/s"),
                "augment_throughput": bench.judge("augment_throughput", 100.0, 150.0, "img/s"),
                "runner_peak_memory": bench.judge("runner_peak_memory", 100.0, 100.0, "bytes")}
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: _result(measures))
    assert bench.main(["--device", "cpu", "--check"]) == code
    assert ("NOT met" in capsys.readouterr().out) == bool(code)
    assert bench.main(["--device", "cpu"]) == 0  # without --check a miss is reported, not gated


def test_gate():
    missed = {"a": {"met": False}, "b": {"met": None}, "c": {"met": True}}
    assert bench.gate(missed, check=True, dry_run=False) == 1
    assert bench.gate(missed, check=False, dry_run=False) == 0
    assert bench.gate(missed, check=True, dry_run=True) == 0  # a dry run's figures mean nothing
    assert bench.gate({"b": {"met": None}, "c": {"met": True}}, check=True, dry_run=False) == 0
