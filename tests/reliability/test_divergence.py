"""An LR that blows the loss up: recorded as diverged at its step, the study goes on, the report
shows it (in-process CLIs on the tiny CIFAR-format study)."""

from __future__ import annotations

import json
import math

import pandas as pd
from harness import STUDY, read_records, run_dirs, temp_files, write_toml

from annealbench.cli import main as train_main
from annealbench_report.cli import main as report_main


def test_divergence_is_recorded_at_its_step_and_reported(baseline, tmp_path, capsys):
    study = write_toml(tmp_path / "div.toml", {"lrs = [0.05]": "lrs = [0.05, 1e4]",
                                              "[schedules.cosine]\n": "",
                                              "[schedules.plateau]\npatience = 0\n": ""})
    out = tmp_path / "out"
    rc = train_main(["run", str(study), "--out", str(out), "--data-dir", str(baseline.data),
                     "--device", "cpu", "--no-progress"])
    logs = capsys.readouterr().out
    assert rc == 0  # diverging is a result, not a failure
    statuses = {}
    for rd in run_dirs(out):
        cfg = json.loads((rd / "config.json").read_text())
        st = json.loads((rd / "status.json").read_text())
        statuses[(cfg["base_lr"], cfg["schedule"])] = st["status"]
        if st["status"] != "diverged":
            continue
        steps = pd.concat(pd.read_csv(f) for f in sorted((rd / "epochs").glob("*.csv")))
        steps = steps[steps["metric"] == "step_loss"]
        # the last recorded step is the first non-finite one, and status.json names it
        assert int(steps["step"].iloc[-1]) == st["diverged_step"]
        assert not math.isfinite(steps["value"].iloc[-1])
        assert steps["value"].iloc[:-1].map(math.isfinite).all()
        assert f"diverged at step {st['diverged_step']}" in logs
    assert statuses == {(0.05, "constant"): "completed", (0.05, "step"): "completed",
                        (1e4, "constant"): "diverged", (1e4, "step"): "diverged"}

    assert report_main(["build", "--out", str(out)]) == 0, capsys.readouterr().err
    df = read_records(out)
    div = df[df["status"].astype(str) == "diverged"]
    assert div["run_key"].nunique() == 2
    assert (~div["value"].map(math.isfinite)).sum() == 2  # the non-finite step loss of each, kept
    html = (out / STUDY / "index.html").read_text()
    # shown as diverged, with its step, not averaged in as a number
    assert "Diverged runs" in html
    for rd in run_dirs(out):
        st = json.loads((rd / "status.json").read_text())
        if st["status"] == "diverged":
            assert f">{st['diverged_step']}<" in html.split("Diverged runs", 1)[1]
    assert temp_files(out) == []
