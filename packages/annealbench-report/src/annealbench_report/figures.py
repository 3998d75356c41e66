"""Figures as inline SVG strings (matplotlib, Agg; no pyplot state), each with the numbers it shows.

Every figure function returns ``(svg, numbers)``: ``svg`` is an ``<svg>`` element with no XML
prolog, no metadata, no external reference and ids prefixed so that several can share one HTML
page; ``numbers`` is the DataFrame of exactly what was drawn, for the table under the figure.
Colours are Okabe–Ito (colour-blind safe), fixed per schedule across figures; the fixed-LR arm is
black. Line styles and markers differ too, so the figures survive grey-scale printing.
"""

from __future__ import annotations

import html
import io
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from annealbench_report import stats  # noqa: E402

OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"]
CONSTANT_COLOR = "#000000"
LINESTYLES = ["--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)), (0, (1, 1))]
MARKERS = ["s", "^", "D", "v", "P", "X", "*"]
STYLE = {
    "svg.fonttype": "none",  # text stays text, rendered with the page's generic sans-serif
    "svg.hashsalt": "annealbench",  # deterministic ids
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
}
METRIC_LABELS = {
    "accuracy": "accuracy (fraction correct)",
    "loss": "cross-entropy loss (nats)",
    "bpc": "bits per character",
    "ppl": "perplexity (per word)",
    "step_loss": "training loss per step (nats)",
    "throughput": "throughput (items/s)",
}
SPLIT_LABELS = {"train": "training", "val": "validation", "test": "test"}


def metric_label(metric: str, split: str | None = None) -> str:
    label = METRIC_LABELS.get(metric, metric)
    return f"{SPLIT_LABELS.get(split, split)} {label}" if split else label


def _mpl_text(s) -> str:
    """A string matplotlib draws literally (no mathtext, not hidden from legends)."""
    s = str(s).replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def schedule_styles(schedules, constant=None) -> dict:
    """A fixed style per schedule name, in the given order; ``constant`` (or names in it) black."""
    constants = {constant} if isinstance(constant, str) else set(constant or ())
    out, i = {}, 0
    for name in schedules:
        name = str(name)
        if name in out:
            continue
        if name in constants:
            out[name] = {"color": CONSTANT_COLOR, "linestyle": "-", "marker": "o"}
        else:
            out[name] = {"color": OKABE_ITO[i % len(OKABE_ITO)],
                         "linestyle": LINESTYLES[i % len(LINESTYLES)],
                         "marker": MARKERS[i % len(MARKERS)]}
            i += 1
    return out


def _style(styles: dict, schedule: str) -> dict:
    return styles.get(str(schedule)) or {"color": "#777777", "linestyle": "-", "marker": "o"}


def svg_string(fig: Figure, prefix: str, title: str = "") -> str:
    """Serialise ``fig`` to a self-contained inline ``<svg>`` element."""
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"\s*<metadata>.*?</metadata>", "", s, flags=re.S)
    s = re.sub(r'<style type="text/css">.*?</style>', "", s, flags=re.S)
    s = re.sub(r"<defs>\s*</defs>", "", s)
    head_end = s.index(">")
    head = s[:head_end]
    head = re.sub(r'\s(?:xmlns(?::\w+)?|width|height|version)="[^"]*"', "", head)
    p = re.sub(r"[^A-Za-z0-9_-]", "-", prefix)
    s = (head + f' role="img" aria-label="{html.escape(title)}" class="fig">'
         + (f"<title>{html.escape(title)}</title>" if title else "") + s[head_end + 1:])
    s = re.sub(r'\bid="([^"]+)"', rf'id="{p}-\1"', s)
    s = s.replace('xlink:href="#', f'href="#{p}-').replace("url(#", f"url(#{p}-")
    return s.strip()


def _arm_rows(df: pd.DataFrame, optimizer: str, arms: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``optimizer`` at the (schedule, base_lr) pairs in ``arms``."""
    sel = df[df["optimizer"] == optimizer]
    keys = arms[["schedule", "base_lr"]].astype({"schedule": str}).drop_duplicates()
    return sel.assign(_s=sel["schedule"].astype(str)).merge(
        keys.rename(columns={"schedule": "_s"}), on=["_s", "base_lr"]).drop(columns="_s")


def _label(schedule, base_lr, show_lr: bool) -> str:
    return _mpl_text(f"{schedule} (LR {base_lr:g})" if show_lr else schedule)


def _markevery(n: int) -> int:
    """At most about a dozen markers per line: enough to tell lines apart in grey scale."""
    return max(1, -(-n // 12))


def _band(ax, x, mean, half, color):
    ok = np.isfinite(half)
    if ok.any():
        ax.fill_between(np.asarray(x)[ok], (mean - half)[ok], (mean + half)[ok], color=color,
                        alpha=0.18, linewidth=0)


def _order(arms: pd.DataFrame, styles: dict) -> list[tuple[str, float]]:
    rank = {s: i for i, s in enumerate(styles)}
    pairs = {(str(s), float(lr)) for s, lr in zip(arms["schedule"], arms["base_lr"])}
    return sorted(pairs, key=lambda p: (rank.get(p[0], len(rank)), p[0], p[1]))


def lr_trajectory(df: pd.DataFrame) -> pd.DataFrame:
    """Per-step applied LR of one representative run per (optimizer, schedule, base_lr): the
    non-diverged run with most steps (lowest seed on ties); x in epochs = step / steps per epoch."""
    steps = stats.step_rows(df)
    if steps.empty:
        return pd.DataFrame(columns=["optimizer", "schedule", "base_lr", "seed", "step", "x", "lr"])
    ep = stats.epoch_rows(df)
    ep = ep[ep["epoch"] > 0]
    spe = (ep.groupby("run_key", observed=True)[["step", "epoch"]].max()
           .pipe(lambda t: t["step"] / t["epoch"]).rename("spe"))
    size = steps.groupby("run_key", observed=True).agg(
        n=("step", "size"), seed=("seed", "first"), status=("status", "first"),
        optimizer=("optimizer", "first"), schedule=("schedule", "first"),
        base_lr=("base_lr", "first"))
    size["ok"] = size["status"].astype(str) != "diverged"
    size = size.sort_values(["ok", "n", "seed"], ascending=[False, False, True])
    rep = size.groupby(["optimizer", "schedule", "base_lr"], observed=True).head(1).index
    out = steps[steps["run_key"].isin(rep)].join(spe, on="run_key")
    out = out.assign(x=out["step"] / out["spe"], schedule=out["schedule"].astype(str),
                     optimizer=out["optimizer"].astype(str))
    return out[["optimizer", "schedule", "base_lr", "seed", "step", "x", "lr"]].reset_index(drop=True)


def _lr_steps(t: pd.DataFrame):
    """Each step's LR held over that step's span ((step-1)/spe, step/spe] of the epoch axis; the
    epoch-level fallback (no per-step rows) is drawn point to point."""
    if "step" not in t or t.empty:
        return t["x"].to_numpy(), t["lr"].to_numpy()
    x_end, step, lr = t["x"].to_numpy(), t["step"].to_numpy(), t["lr"].to_numpy()
    x_start = x_end * (step - 1) / step
    return np.append(x_start, x_end[-1]), np.append(lr, lr[-1])


def convergence_figure(df: pd.DataFrame, optimizer: str, arms: pd.DataFrame, primary: str,
                       styles: dict, prefix: str = "conv"):
    """(a) validation ``primary`` per epoch, mean ± 95% CI over seeds per arm; below it, on the
    same epoch axis, the LR each arm applied (per step, log scale)."""
    rows = _arm_rows(df, optimizer, arms)
    agg = stats.seed_stats(rows)
    val = agg[(agg["split"] == "val") & (agg["metric"] == primary)]
    lr_end = (stats.epoch_rows(rows).groupby(["schedule", "base_lr", "epoch"], observed=True)["lr"]
              .first().rename("lr").reset_index())
    traj = lr_trajectory(rows)
    show_lr = arms["base_lr"].nunique() > 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 5.0), layout="constrained")
        ax, ax_lr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1.5])
        for sched, lr in _order(arms, styles):
            st = _style(styles, sched)
            v = val[(val["schedule"].astype(str) == sched) & (val["base_lr"] == lr)]
            ax.plot(v["epoch"], v["mean"], color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], markevery=_markevery(len(v)), markersize=4,
                    label=_label(sched, lr, show_lr))
            _band(ax, v["epoch"], v["mean"].to_numpy(), v["ci95"].to_numpy(), st["color"])
            t = traj[(traj["schedule"] == sched) & (traj["base_lr"] == lr)]
            if t.empty:  # no per-step rows: LR in force at the end of each epoch
                t = lr_end[(lr_end["schedule"].astype(str) == sched) & (lr_end["base_lr"] == lr)]
                t = t.assign(x=t["epoch"]).drop(columns=["epoch"])
            ax_lr.plot(*_lr_steps(t), color=st["color"], linestyle=st["linestyle"],
                       drawstyle="steps-post", linewidth=1.4)
        ax.set_ylabel(_mpl_text(metric_label(primary, "val")))
        ax.legend(title="schedule (mean ± 95% CI)", loc="best", frameon=False)
        ax_lr.set_yscale("log", nonpositive="mask")
        ax_lr.set_ylabel("learning rate\n(log scale)")
        ax_lr.set_xlabel("epoch (0 = before training; LR per optimizer step)")
        ax_lr.set_xlim(left=0)
    title = f"{optimizer}: validation {primary} per epoch and learning rate"
    svg = svg_string(fig, prefix, title)
    numbers = val[["schedule", "base_lr", "epoch", "mean", "std", "ci95", "n"]].merge(
        lr_end, on=["schedule", "base_lr", "epoch"], how="left")
    numbers = numbers.assign(schedule=numbers["schedule"].astype(str), optimizer=optimizer)
    return svg, numbers[["optimizer", "schedule", "base_lr", "epoch", "mean", "std", "ci95", "n",
                         "lr"]].reset_index(drop=True)


def train_loss_figure(df: pd.DataFrame, optimizer: str, arms: pd.DataFrame, styles: dict,
                      prefix: str = "train"):
    """(b) mean training loss per epoch, mean ± 95% CI over seeds per arm."""
    rows = _arm_rows(df, optimizer, arms)
    agg = stats.seed_stats(rows)
    tl = agg[(agg["split"] == "train") & (agg["metric"] == "loss")]
    show_lr = arms["base_lr"].nunique() > 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.2), layout="constrained")
        ax = fig.subplots()
        for sched, lr in _order(arms, styles):
            st = _style(styles, sched)
            v = tl[(tl["schedule"].astype(str) == sched) & (tl["base_lr"] == lr)]
            ax.plot(v["epoch"], v["mean"], color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], markevery=_markevery(len(v)), markersize=4,
                    label=_label(sched, lr, show_lr))
            _band(ax, v["epoch"], v["mean"].to_numpy(), v["ci95"].to_numpy(), st["color"])
        ax.set_xlabel("epoch")
        ax.set_ylabel("training loss, epoch mean (nats)")
        ax.legend(title="schedule (mean ± 95% CI)", loc="best", frameon=False)
    svg = svg_string(fig, prefix, f"{optimizer}: training loss per epoch")
    numbers = tl.assign(schedule=tl["schedule"].astype(str), optimizer=optimizer)
    return svg, numbers[["optimizer", "schedule", "base_lr", "epoch", "mean", "std", "ci95",
                         "n"]].reset_index(drop=True)


def final_figure(finals: pd.DataFrame, optimizer: str, arms: pd.DataFrame, primary: str,
                 styles: dict, prefix: str = "final"):
    """(c) final validation (and test) ``primary`` per schedule: one dot per completed seed, the
    mean as a bar; runs without a final value are counted under the schedule name."""
    f = finals[finals["optimizer"] == optimizer]
    keys = arms[["schedule", "base_lr"]].astype({"schedule": str}).drop_duplicates()
    f = f.assign(schedule=f["schedule"].astype(str)).merge(keys, on=["schedule", "base_lr"])
    order = _order(arms, styles)
    show_lr = arms["base_lr"].nunique() > 1
    splits = [("final_val", "val")] + ([("final_test", "test")] if f["final_test"].notna().any()
                                       else [])
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(splits), sharey=False))
        for ax, (col, split) in zip(axes, splits):
            ticks, rotate = [], len(order) > 4
            for i, (sched, lr) in enumerate(order):
                st = _style(styles, sched)
                g = f[(f["schedule"] == sched) & (f["base_lr"] == lr)].sort_values("seed")
                vals = g[col].dropna()
                jitter = np.linspace(-0.12, 0.12, len(vals)) if len(vals) > 1 else np.zeros(len(vals))
                ax.scatter(i + jitter, vals, s=34, color=st["color"], marker=st["marker"],
                           edgecolors="white", linewidths=0.5, zorder=3)
                if len(vals):
                    ax.hlines(vals.mean(), i - 0.28, i + 0.28, color=st["color"], linewidth=2.4,
                              zorder=4)
                missing = int((g["status"].astype(str) != "completed").sum())
                name = _label(sched, lr, show_lr)
                note = f"{missing} not completed"
                ticks.append(name if not missing else (f"{name} ({note})" if rotate
                                                       else f"{name}\n({note})"))
            ax.set_xticks(range(len(order)), ticks, rotation=30 if rotate else 0,
                          ha="right" if rotate else "center", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(order) - 0.4)
            ax.grid(axis="x", visible=False)
            ax.set_ylabel(_mpl_text(f"final {SPLIT_LABELS[split]}\n{metric_label(primary)}"))
    svg = svg_string(fig, prefix, f"{optimizer}: final {primary} per seed")
    numbers = f.assign(optimizer=optimizer)[["optimizer", "schedule", "base_lr", "seed", "status",
                                             "final_val", "final_test", "diverged_step"]]
    return svg, numbers.sort_values(["schedule", "base_lr", "seed"]).reset_index(drop=True)
