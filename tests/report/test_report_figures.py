"""figures: inline SVG that is self-contained, namespaced and escapes untrusted labels, with the
numbers each one draws."""

from __future__ import annotations

import re

from annealbench_report.analysis import study as analysis
from annealbench_report.figures import budget as fig_budget
from annealbench_report.figures import detail as fig_detail
from annealbench_report.figures import forest as fig_forest
from annealbench_report.figures import training as fig_training
from annealbench_report.figures.style import VERDICT_STYLE, schedule_styles
from annealbench_report.records.contract import read_records


def test_figures_escape_labels_and_return_numbers(rendered):
    synth, _ = rendered
    df = read_records(synth.dir / "records.parquet")
    evil = "<b>$x_1$ & co</b>"
    df["schedule"] = df["schedule"].cat.rename_categories({"cosine": evil})
    a = analysis.analyse(synth.dir, df)
    styles = schedule_styles(a.scheds, a.fixed)
    assert styles["constant"]["color"] == "#000000"
    assert len({s["color"] for s in styles.values()}) == 3
    sel = a.selection
    ch = sel.choices[(sel.choices["optimizer"] == "sgd") & (sel.choices["length"] == a.full)]
    arms = ch.rename(columns={"chosen_lr": "base_lr"})[["schedule", "base_lr"]]
    full = df[(df["epochs"] == a.full) & (df["optimizer"] == "sgd")]
    tt = next(r for r in a.targets if r.optimizer == "sgd")
    seeds = {s: f for (o, p, c, s), f in a.claims.seeds.items()
             if o == "sgd" and p == "tuned" and c == "better"}
    budget_num = fig_budget.budget_numbers(a.claims.arm_curves, a.claims.curves, "sgd", "tuned",
                                           a.scheds)
    outs = {
        "a": fig_training.convergence_figure(full, "sgd", arms, "accuracy", styles, "a"),
        "b": fig_detail.time_to_target_figure(tt.times, tt.curves, tt.target, "sgd", a.scheds,
                                              styles, "b"),
        "c": fig_detail.paired_figure(seeds, "sgd", "constant", "accuracy", a.units, styles, "c"),
        "d": fig_detail.lr_figure(sel.by_lr[(sel.by_lr["optimizer"] == "sgd")
                                            & (sel.by_lr["length"] == a.full)], ch, "sgd",
                                  "accuracy", a.units, styles, "d"),
        "e": fig_forest.forest_figure(a.claims, a.scheds, a.opts, a.units, "e"),
        "f": (fig_budget.budget_figure(budget_num, "constant", "accuracy", a.units, a.min_effect,
                                       styles, "t", "f"), budget_num),
    }
    for prefix, (svg, numbers) in outs.items():
        assert svg.startswith("<svg ") and svg.endswith("</svg>")
        _assert_wide_then_narrow(svg, prefix)
        assert "<b>" not in svg and "&lt;b&gt;$x_1$ &amp; co&lt;/b&gt;" in svg, prefix
        assert "http" not in svg and "<metadata" not in svg and "<style" not in svg
        assert all(i.startswith(f"{prefix}-") for i in re.findall(r'\bid="([^"]+)"', svg))
        expected = {"step", evil} if prefix in "ce" else {"constant", "step", evil}
        assert set(numbers["schedule"]) == expected, prefix
    conv = outs["a"][1]
    assert list(conv.columns) == ["optimizer", "schedule", "base_lr", "epoch", "train_mean",
                                  "train_ci95", "train_n", "val_mean", "val_ci95", "val_n", "lr"]
    assert conv["epoch"].max() == synth.epochs
    assert conv["train_mean"].isna().sum() == 3  # epoch 0 has no training loss, one per arm
    paired = outs["c"][1]
    # the running sgd/step seed has no value at full length: shown as left out, not a number
    step2 = paired[(paired["schedule"] == "step") & (paired["seed"] == 2)].iloc[0]
    assert step2["outcome"] == "left out"
    assert outs["d"][1]["chosen"].all()  # one base LR per schedule for sgd
    forest = outs["e"][1]
    assert set(forest["protocol"]) == {"tuned", "article"}
    assert set(forest["verdict"]) <= set(VERDICT_STYLE)


def _assert_wide_then_narrow(svg: str, prefix: str):
    """Two drawings: 7.2 in (518.4 units) wide, then 3.9 in (280.8 units) for a phone, with its own
    ids and no text under 7.5 units (a mathtext power, drawn at 0.7 times its label, included)."""
    heads = re.findall(r"<svg\b[^>]*>", svg)
    assert len(heads) == 2 and svg.count("</svg>") == 2, prefix
    assert ['class="fig fig-wide"' in heads[0], 'class="fig fig-narrow"' in heads[1]] == [True, True]
    assert [re.search(r'viewBox="0 0 ([\d.]+) ', h).group(1) for h in heads] == ["518.4", "280.8"]
    narrow = svg[svg.index(heads[1]):]
    assert re.findall(r'\bid="([^"]+)"', narrow)
    assert all(i.startswith(f"{prefix}-n-") for i in re.findall(r'\bid="([^"]+)"', narrow))
    sizes = [float(v) for v in re.findall(r"font-size: ([\d.]+)px", narrow)]
    assert sizes and min(sizes) >= 7.5, (prefix, sorted(set(sizes)))


def test_verdict_markers_differ_in_shape_or_fill():
    """Colour-blind safe and readable in grey print: no two verdicts share shape and fill."""
    looks = {(s["marker"], s["fill"]) for s in VERDICT_STYLE.values()}
    assert len(looks) == len(VERDICT_STYLE)


def test_lr_trajectory_in_epochs(rendered):
    synth, _ = rendered
    df = read_records(synth.dir / "records.parquet")
    df = df[df["epochs"] == synth.epochs]
    t = fig_training.lr_trajectory(df[df["optimizer"] == "sgd"])
    step = t[t["schedule"] == "step"]
    assert step["x"].max() == synth.epochs
    assert step["x"].min() == 1 / synth.steps_per_epoch
    # StepLR(step_size=2, gamma=0.1) per epoch: 0.05 for epochs 1-2, 0.005 for epochs 3-4
    assert set(step.loc[step["x"] <= 2, "lr"]) == {0.05}
    assert set(step.loc[step["x"] > 2, "lr"].round(12)) == {0.005}
