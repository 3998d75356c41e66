"""A run that blows up: recorded as diverged at its step, the study goes on, the report shows it
(in-process CLIs on the tiny CIFAR-format study).

The blow-ups are forced (``nan:train-step:N`` in ``ANNEALBENCH_FAULT``: that step's update is NaN,
its loss as computed), so where a run diverges does not depend on the CPU's bf16 rounding: a huge
LR overflows after 4 steps on one CPU, 5 on another, and not at all in fp32.
"""

from __future__ import annotations

import json
import math

import pandas as pd
from harness import STUDY, assert_records_equal, comparable, read_records, run_dirs, temp_files

from annealbench.cli import main as train_main
from annealbench_report.cli import main as report_main

# Passes of train-step count per process, in grid order (constant, step, cosine, plateau), and a
# run that diverges still finishes its epoch's 4 steps before the losses are checked:
# - pass 2 = constant's step 2: step 3's loss is the first non-finite value (mid-epoch);
# - pass 8 = step's step 4, the last of epoch 1: only the evaluation after it sees the NaN model.
FAULTS = "nan:train-step:2,nan:train-step:8"
# schedule: (diverged step, split and metric of the non-finite value, what the log line names)
EXPECTED = {"constant": (3, "train", "step_loss", "loss nan"), "step": (4, "val", "loss", "val loss nan")}


def test_divergence_is_recorded_at_its_step_and_reported(baseline, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("ANNEALBENCH_FAULT", FAULTS)
    rc = train_main(["run", str(baseline.study), "--out", str(out), "--data-dir", str(baseline.data),
                     "--device", "cpu", "--no-progress"])
    monkeypatch.delenv("ANNEALBENCH_FAULT")
    logs = capsys.readouterr().out
    assert rc == 0  # diverging is a result, not a failure
    statuses = {}
    for rd in run_dirs(out):
        cfg = json.loads((rd / "config.json").read_text())
        st = json.loads((rd / "status.json").read_text())
        statuses[cfg["schedule"]] = st["status"]
        if st["status"] != "diverged":
            continue
        step, split, metric, seen = EXPECTED[cfg["schedule"]]
        assert (st["diverged_step"], st["epochs_done"]) == (step, 0)
        # in the order written, the records end with the first non-finite value, at that step
        rows = pd.concat(pd.read_csv(f) for f in sorted((rd / "epochs").glob("*.csv")))
        last = rows.iloc[-1]
        assert (last["step"], last["split"], last["metric"]) == (step, split, metric)
        assert not math.isfinite(last["value"])
        assert rows["value"].iloc[:-1].map(math.isfinite).all()
        assert not (rd / "checkpoint.pt").exists()  # no state of the non-finite model kept
        assert f"diverged at step {step} ({seen})" in logs
    assert statuses == {"constant": "diverged", "step": "diverged",
                        "cosine": "completed", "plateau": "completed"}

    assert report_main(["build", "--out", str(out)]) == 0, capsys.readouterr().err
    df = read_records(out)
    div = df[df["status"].astype(str) == "diverged"]
    assert div["run_key"].nunique() == 2
    bad = div[~div["value"].map(math.isfinite)]  # the first non-finite value of each, kept
    assert sorted(zip(bad["schedule"].astype(str), bad["step"], bad["split"].astype(str),
                      bad["metric"].astype(str))) == sorted((k, *v[:3]) for k, v in EXPECTED.items())
    # the study went on: the other runs are exactly the uninterrupted baseline's
    ok = df[df["status"].astype(str) == "completed"]
    ref = baseline.records[baseline.records["schedule"].astype(str).isin(["cosine", "plateau"])]
    assert_records_equal(comparable(ok), comparable(ref))
    html = (out / STUDY / "index.html").read_text()
    # shown as diverged, with its step, not averaged in as a number
    assert "Diverged runs" in html
    for schedule, (step, *_) in EXPECTED.items():
        assert f">{step}<" in html.split("Diverged runs", 1)[1], schedule
    assert temp_files(out) == []
