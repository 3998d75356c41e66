"""figures: inline SVG that is self-contained, namespaced and escapes untrusted labels."""

from __future__ import annotations

import math
import re

from annealbench_report import claims, figures, stats
from annealbench_report.collect import read_records

DIRS = {"accuracy": "max", "loss": "min"}


def test_figures_escape_labels_and_return_numbers(rendered):
    synth, _ = rendered
    df = read_records(synth.dir / "records.parquet")
    evil = "<b>$x_1$ & co</b>"
    df["schedule"] = df["schedule"].cat.rename_categories({"cosine": evil})
    order = ["constant", "step", evil]
    summ = stats.summary(df, "accuracy", DIRS)
    finals = stats.run_finals(df, "accuracy", DIRS)
    styles = figures.schedule_styles(order, "constant")
    assert styles["constant"]["color"] == "#000000"
    assert len({s["color"] for s in styles.values()}) == 3
    study = {"epochs": synth.epochs}
    r = claims.analyse(df, finals, summ, ["sgd"], order, "constant", study, "accuracy", DIRS, "x")[0]
    arms = r.chosen
    outs = [figures.convergence_figure(df, "sgd", arms, "accuracy", styles, "a"),
            figures.time_to_target_figure(r.times, r.curves, r.target, "sgd", order, styles, "b"),
            figures.paired_final_figure(finals, "sgd", arms, "constant", "accuracy", styles, "c"),
            figures.isolation_figure(r.by_lr, "sgd", arms, "accuracy", styles, "d")]
    for (svg, numbers), prefix in zip(outs, "abcd"):
        assert svg.startswith("<svg ") and svg.endswith("</svg>")
        assert "<b>" not in svg and "&lt;b&gt;$x_1$ &amp; co&lt;/b&gt;" in svg
        assert "http" not in svg and "<metadata" not in svg and "<style" not in svg
        assert all(i.startswith(f"{prefix}-") for i in re.findall(r'\bid="([^"]+)"', svg))
        expected = {"step", evil} if prefix == "c" else {"constant", "step", evil}
        assert set(numbers["schedule"]) == expected, prefix
    conv = outs[0][1]
    assert list(conv.columns) == ["optimizer", "schedule", "base_lr", "epoch", "train_mean",
                                  "train_ci95", "train_n", "val_mean", "val_ci95", "val_n", "lr"]
    assert conv["epoch"].max() == synth.epochs
    assert conv["train_mean"].isna().sum() == 3  # epoch 0 has no training loss, one per arm
    paired = outs[2][1]
    # the running sgd/step seed has no final value: its pair is shown with its status, not a number
    step2 = paired[(paired["schedule"] == "step") & (paired["seed"] == 2)].iloc[0]
    assert step2["status"] == "running" and math.isnan(step2["val"])
    assert outs[3][1]["chosen"].all()  # one base LR per schedule for sgd


def test_lr_trajectory_in_epochs(rendered):
    synth, _ = rendered
    df = read_records(synth.dir / "records.parquet")
    t = figures.lr_trajectory(df[df["optimizer"] == "sgd"])
    step = t[t["schedule"] == "step"]
    assert step["x"].max() == synth.epochs
    assert step["x"].min() == 1 / synth.steps_per_epoch
    # StepLR(step_size=2, gamma=0.1) per epoch: 0.05 for epochs 1-2, 0.005 for epochs 3-4
    assert set(step.loc[step["x"] <= 2, "lr"]) == {0.05}
    assert set(step.loc[step["x"] > 2, "lr"].round(12)) == {0.005}
