"""Kill a run that carries weight averages anywhere, rerun: its averages.csv and records equal an
uninterrupted run's, and so do the per-example outcomes of the averaged weights in heldout.npz (the
averaged weights resume from the checkpoint; rows a checkpoint does not cover are dropped and
written again)."""

from __future__ import annotations

import csv
import signal

import numpy as np
from harness import (
    assert_records_equal,
    comparable,
    make_cifar,
    read_records,
    report_cli,
    run_cli,
    run_dirs,
    temp_files,
    write_toml,
)
from testkit import AVERAGED_ARMS

ARMS = "[schedules.constant]\n" + AVERAGED_ARMS
ONLY_FIXED = {"[schedules.constant]\n": ARMS, "[schedules.step]\nstep_size = 1\ngamma = 0.5\n": "",
              "[schedules.plateau]\npatience = 0\n": ""}
# Grid order: constant (carrying both averages), cosine; 4 steps per epoch, 2 epochs. Each entry
# is one process, killed at its point; counts are per process.
KILLS = [
    ("train-step:6", "mid-epoch 2 of the constant run: its checkpoint holds epoch 1"),
    ("averages-write:1", "the resumed run's epoch-2 averages.csv, cut before its rename"),
    ("checkpoint-write:1", "epoch 2's averages.csv landed, its checkpoint did not: dropped, redone"),
]


COLUMNS = ("arm", "epoch", "step", "split", "metric", "value", "lr")  # not the machine's wall time


def _averaged(out):
    rows = {}
    for d in run_dirs(out):
        if (d / "averages.csv").exists():
            with open(d / "averages.csv", newline="") as f:
                rows[d.name] = [tuple(r[c] for c in COLUMNS) for r in csv.DictReader(f)]
    return rows


def _outcomes(out):
    got = {}
    for d in run_dirs(out):
        if (d / "heldout.npz").exists():
            with np.load(d / "heldout.npz") as z:
                got[d.name] = {k: z[k].tobytes() for k in z.files}
    return got


def test_sigkill_with_averages_then_rerun_equals_uninterrupted(tmp_path):
    data = tmp_path / "data"
    make_cifar(data)
    study = write_toml(tmp_path / "rel.toml", ONLY_FIXED)
    whole = tmp_path / "whole"
    assert run_cli(study, whole, data).returncode == 0
    out = tmp_path / "out"
    for fault, where in KILLS:
        r = run_cli(study, out, data, fault=fault)
        assert r.returncode == -signal.SIGKILL, f"{fault} ({where}) did not fire: {r.returncode} {r.stderr}"
    r = run_cli(study, out, data)
    assert r.returncode == 0, r.stderr
    want = _averaged(whole)
    assert len(want) == 1 and {a for a, *_ in next(iter(want.values()))} == {"constant-ema", "constant-swa"}
    assert _averaged(out) == want
    outcomes = _outcomes(whole)
    assert any(k.startswith("constant-swa+test.") for run in outcomes.values() for k in run)
    assert _outcomes(out) == outcomes
    for o in (whole, out):
        assert report_cli(o).returncode == 0
    got, expected = comparable(read_records(out)), comparable(read_records(whole))
    assert got["run_key"].str.endswith("+constant-swa").any()  # the averaged rows are records too
    assert_records_equal(got, expected)
    assert temp_files(out / "rel" / "runs") == []
