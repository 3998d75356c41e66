"""Detail figures: time to target, the judged values per seed, and the metric against the base
LR with the chosen one."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from annealbench_report.analysis.inference import t_half_width
from annealbench_report.analysis.units import Units
from annealbench_report.figures.style import (
    Layout,
    legend,
    log_tick_labels,
    matplotlib,
    mpl_text,
    style_of,
    svg_figures,
)


def time_to_target_figure(times: pd.DataFrame, curves: dict, target: dict, optimizer: str,
                          order: list, styles: dict, prefix: str = "ttt"):
    """Share of runs whose validation metric has reached the target, against epochs and against
    cumulative training seconds. ``curves``: {(schedule, "epochs"|"seconds"): DataFrame x, share}."""
    svg = svg_figures(lambda layout: _ttt_draw(curves, target, order, styles, layout), prefix,
                      f"{optimizer}: share of runs at the target")
    t = times.assign(optimizer=optimizer)
    return svg, t[["optimizer", "schedule", "base_lr", "seed", "status", "reached", "epochs",
                   "seconds", "end_epoch", "end_seconds"]].reset_index(drop=True)


def _ttt_draw(curves: dict, target: dict, order: list, styles: dict, layout: Layout):
    rows, cols = layout.grid(2, 2)
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(layout.width, 3.3 if rows == 1 else 5.4), layout="constrained")
        axes = fig.subplots(rows, cols, sharey=True).ravel()
        for ax, unit, xlabel in ((axes[0], "epochs", "epochs trained"),
                                 (axes[1], "seconds", "training time (s, evaluation excluded)")):
            for sched in order:
                c = curves.get((sched, unit))
                if c is None or c.empty:
                    continue
                st = style_of(styles, sched)
                ax.step(c["x"], 100 * c["share"], where="post", color=st["color"],
                        linestyle=st["linestyle"], linewidth=1.6, label=mpl_text(sched))
                ax.plot(c["x"].iloc[1:-1], 100 * c["share"].iloc[1:-1], linestyle="none",
                        marker=st["marker"], color=st["color"], markersize=4)
            ax.set_xlabel(xlabel)
            ax.set_xlim(left=0)
            ax.set_ylim(-3, 103)
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[::cols]:
            ax.set_ylabel("runs at target (%)")
        axes[0].legend(title="schedule", loc="best", frameon=False)
        sense = "≥" if target.get("direction", "max") == "max" else "≤"
        fig.suptitle(mpl_text(f"target: validation {target['metric']} {sense} {target['value']:.4g}"),
                     fontsize=9)
    return fig


def paired_figure(seeds: dict, optimizer: str, fixed: str, primary: str, units: Units,
                  styles: dict, prefix: str = "paired"):
    """The judged (test) value at the full length per seed: for each schedule, the fixed LR's
    value of a seed (left, black) joined by a line to the schedule's value for the same seed
    (right). ``seeds``: {schedule: per-seed frame of :func:`pairs.per_seed`}."""
    order = [s for s in styles if s in seeds]
    svg = svg_figures(lambda layout: _paired_draw(seeds, order, fixed, primary, units, styles,
                                                  layout),
                      prefix, f"{optimizer}: test {primary} per seed, paired with the fixed LR")
    rows = [seeds[sched].assign(schedule=sched, optimizer=optimizer) for sched in order]
    numbers = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return svg, numbers


def _paired_draw(seeds: dict, order: list, fixed: str, primary: str, units: Units, styles: dict,
                 layout: Layout):
    bs = style_of(styles, fixed)
    tilt = len(order) > (2 if layout.narrow else 4)  # names slanted where they would collide
    # steeper on a phone: its slots are half as wide, and slanted names one line each, so that
    # parallel names stay a line apart
    angle = 45 if layout.narrow else 30
    sep = " " if tilt else "\n"
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(layout.width, 3.6 if layout.narrow else 3.4), layout="constrained")
        ax = fig.subplots()
        ticks = []
        for i, sched in enumerate(order):
            st = style_of(styles, sched)
            g = seeds[sched]
            a = g["own"].to_numpy(float) * units.scale
            b = g["ref"].to_numpy(float) * units.scale
            both = np.isfinite(a) & np.isfinite(b)
            for ya, yb in zip(a[both], b[both]):
                ax.plot([i - 0.18, i + 0.18], [yb, ya], color=st["color"], linewidth=1.0,
                        alpha=0.8, zorder=2)
            ax.scatter(np.full(np.isfinite(b).sum(), i - 0.18), b[np.isfinite(b)], s=24,
                       color=bs["color"], marker=bs["marker"], zorder=3)
            ax.scatter(np.full(np.isfinite(a).sum(), i + 0.18), a[np.isfinite(a)], s=34,
                       color=st["color"], marker=st["marker"], edgecolors="white",
                       linewidths=0.5, zorder=3)
            missing = int((g["outcome"] != "pair").sum())
            ticks.append(mpl_text(sched) + (f"{sep}({missing} unpaired)" if missing else ""))
        ax.set_xticks(range(len(order)), ticks, rotation=angle if tilt else 0,
                      ha="right" if tilt else "center", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_ylabel(mpl_text(f"test {primary} at the full length\n({units.unit})"))
        ax.set_title(mpl_text(layout.wrap(f"each line is one seed: {fixed} (fixed LR, black, left) "
                                          "to the schedule (right), each at its tuned LR", 56)),
                     fontsize=layout.font(8), loc="left")
    return fig


def lr_figure(by_lr: pd.DataFrame, choices: pd.DataFrame, optimizer: str, primary: str,
              units: Units, styles: dict, prefix: str = "iso"):
    """Mean validation ``primary`` (the selection value) at the full length against the base LR,
    per schedule, with 95% t-interval bars; the all-seeds choice drawn filled and larger, and a
    choice at the edge of its grid marked "edge"."""
    chosen = dict(zip(choices["schedule"], choices["chosen_lr"]))
    edge = dict(zip(choices["schedule"], choices["edge"]))
    t = by_lr.assign(half=t_half_width(by_lr["sel_std"], by_lr["n"]))
    t = t.assign(chosen=[chosen.get(s) == lr for s, lr in zip(t["schedule"], t["base_lr"])])
    t = t.assign(edge=t["chosen"] & t["schedule"].map(edge).fillna(False).astype(bool))
    svg = svg_figures(lambda layout: _lr_draw(t, primary, units, styles, layout), prefix,
                      f"{optimizer}: validation {primary} against the base LR")
    return svg, t.assign(optimizer=optimizer)


def _lr_draw(t: pd.DataFrame, primary: str, units: Units, styles: dict, layout: Layout):
    scheds = [s for s in styles if s in set(t["schedule"])]
    n = max(len(scheds), 1)
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(layout.width, 4.0 if layout.narrow else 3.4), layout="constrained")
        ax = fig.subplots()
        lrs = sorted(t["base_lr"].unique())
        spread = 1.08 if len(lrs) > 1 else 1.25  # schedules offset sideways so they do not overplot
        for i, sched in enumerate(scheds):
            st = style_of(styles, sched)
            g = t[t["schedule"] == sched].sort_values("base_lr")
            x = g["base_lr"].to_numpy() * spread ** (i - (n - 1) / 2)
            y = g["sel_mean"].to_numpy() * units.scale
            half = g["half"].to_numpy() * units.scale
            ax.errorbar(x, y, yerr=np.where(np.isfinite(half), half, 0), color=st["color"],
                        linestyle=st["linestyle"] if len(g) > 1 else "none", marker=st["marker"],
                        markersize=5, markerfacecolor="white", capsize=2, linewidth=1.2,
                        label=mpl_text(sched))
            c = g["chosen"].to_numpy()
            ax.plot(x[c], y[c], linestyle="none", marker=st["marker"], color=st["color"],
                    markersize=8, zorder=4)
            for xe, ye in zip(x[g["edge"].to_numpy()], y[g["edge"].to_numpy()]):
                ax.annotate("edge", (xe, ye), textcoords="offset points", xytext=(4, 6),
                            fontsize=layout.font(7), color=st["color"])
        ax.set_xscale("log")
        log_tick_labels(ax.xaxis, layout)
        ax.set_xlabel(layout.wrap("base learning rate (log scale; schedules offset sideways to "
                                  "stay apart)", 48))
        ax.set_ylabel(mpl_text(f"validation {primary}\n({units.unit})"))
        legend(fig, ax, layout, ncols=2, title="schedule (filled: chosen on all seeds)", frameon=False)
        if len(lrs) <= 6:
            ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
            ax.minorticks_off()
    return fig
