"""figures: inline SVG that is self-contained, namespaced and escapes untrusted labels."""

from __future__ import annotations

import re

from annealbench_report import figures, stats
from annealbench_report.collect import read_records

DIRS = {"accuracy": "max", "loss": "min"}


def test_figures_escape_labels_and_return_numbers(rendered):
    synth, _ = rendered
    df = read_records(synth.dir / "records.parquet")
    evil = "<b>$x_1$ & co</b>"
    df["schedule"] = df["schedule"].cat.rename_categories({"cosine": evil})
    summ = stats.summary(df, "accuracy", DIRS)
    arms = summ[summ["optimizer"] == "sgd"]
    styles = figures.schedule_styles(["constant", "step", evil], "constant")
    assert styles["constant"]["color"] == "#000000"
    assert len({s["color"] for s in styles.values()}) == 3
    finals = stats.run_finals(df, "accuracy", DIRS)
    outs = [figures.convergence_figure(df, "sgd", arms, "accuracy", styles, "a"),
            figures.train_loss_figure(df, "sgd", arms, styles, "b"),
            figures.final_figure(finals, "sgd", arms, "accuracy", styles, "c")]
    for (svg, numbers), prefix in zip(outs, "abc"):
        assert svg.startswith("<svg ") and svg.endswith("</svg>")
        assert "<b>" not in svg and "&lt;b&gt;$x_1$ &amp; co&lt;/b&gt;" in svg
        assert "http" not in svg and "<metadata" not in svg and "<style" not in svg
        assert all(i.startswith(f"{prefix}-") for i in re.findall(r'\bid="([^"]+)"', svg))
        assert set(numbers["schedule"]) == {"constant", "step", evil}
    conv = outs[0][1]
    assert list(conv.columns) == ["optimizer", "schedule", "base_lr", "epoch", "mean", "std", "ci95",
                                  "n", "lr"]
    assert conv["epoch"].max() == synth.epochs


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
