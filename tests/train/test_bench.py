"""The benchmark: ratios against a baseline measured in the same run, written to a history file."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from annealbench import bench


@pytest.mark.timeout(240)
def test_bench_writes_ratios_and_appends_history(tmp_path):
    out = tmp_path / "bench"
    out.mkdir()
    earlier = "time,git_commit,device,device_name,measure,baseline,candidate,ratio,target,met\n" \
              "2026-01-01T00:00:00Z,abc,cpu,x,runner_throughput,1,1,1.0,>= 0.95,True\n"
    (out / "history.csv").write_text(earlier)
    r = bench.run_bench(torch.device("cpu"), None, out, repeats=1, dry_run=False)
    assert set(r["measures"]) == set(bench.TARGETS)
    for name, m in r["measures"].items():
        assert m["baseline"] > 0 and m["candidate"] > 0
        assert math.isclose(m["ratio"], m["candidate"] / m["baseline"])
        op, target = bench.TARGETS[name]
        assert m["met"] == (m["ratio"] >= target if op == ">=" else m["ratio"] <= target)
    assert r["dataset"] == "synthetic-images"  # no CIFAR folder given
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert len(rows) == 1 + len(bench.TARGETS)  # appended below the earlier night, header once
    assert rows[0]["git_commit"] == "abc" and {r["measure"] for r in rows[1:]} == set(bench.TARGETS)
    saved = json.loads(next(out.glob("bench-*.json")).read_text())
    assert saved["measures"].keys() == r["measures"].keys()


def test_bench_rejects_zero_repeats(capsys):
    assert bench.main(["--repeats", "0", "--device", "cpu"]) == 2
    assert "--repeats 0" in capsys.readouterr().err
