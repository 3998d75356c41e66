"""The training curves of the full-length runs: training loss and validation metric per epoch
(mean and 95% t-interval over seeds) over the learning rate each schedule applied."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from annealbench_report.analysis import descriptive as stats
from annealbench_report.figures.style import (
    Layout,
    legend,
    log_tick_labels,
    matplotlib,
    metric_label,
    mpl_text,
    style_of,
    svg_figures,
)
from annealbench_report.records.frames import epoch_rows, step_rows


def _arm_rows(df: pd.DataFrame, optimizer: str, arms: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``optimizer`` at the (schedule, base_lr) pairs in ``arms``."""
    sel = df[df["optimizer"] == optimizer]
    keys = arms[["schedule", "base_lr"]].astype({"schedule": str}).drop_duplicates()
    return sel.assign(_s=sel["schedule"].astype(str)).merge(
        keys.rename(columns={"schedule": "_s"}), on=["_s", "base_lr"]).drop(columns="_s")


def _label(schedule, base_lr, show_lr: bool) -> str:
    return mpl_text(f"{schedule} (LR {base_lr:g})" if show_lr else schedule)


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
    steps = step_rows(df)
    if steps.empty:
        return pd.DataFrame(columns=["optimizer", "schedule", "base_lr", "seed", "step", "x", "lr"])
    ep = epoch_rows(df)
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


def _curve(ax, v: pd.DataFrame, st: dict, label: str):
    ax.plot(v["epoch"], v["mean"], color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
            markevery=_markevery(len(v)), markersize=4, label=label)
    _band(ax, v["epoch"], v["mean"].to_numpy(), v["ci95"].to_numpy(), st["color"])


def _limit_to_means(ax, frame: pd.DataFrame):
    """Keep the panel on the curves: a band wider than half the means' range again is cut at the
    panel edge (with 2 or 3 seeds a t-interval can be many times the effect)."""
    m = frame["mean"].to_numpy(float)
    m = m[np.isfinite(m)]
    if len(m) == 0:
        return
    lo_m, hi_m = m.min(), m.max()
    pad = 0.5 * (hi_m - lo_m) or 0.05 * max(abs(hi_m), 1e-12)
    band_lo = np.nanmin((frame["mean"] - frame["ci95"]).to_numpy(float), initial=lo_m)
    band_hi = np.nanmax((frame["mean"] + frame["ci95"]).to_numpy(float), initial=hi_m)
    lo, hi = max(band_lo, lo_m - pad), min(band_hi, hi_m + pad)
    if not hi > lo:  # one point and no band (a single seed): centre it instead of a zero-height axis
        lo, hi = lo_m - pad, hi_m + pad
    ax.set_ylim(lo, hi)


def convergence_figure(df: pd.DataFrame, optimizer: str, arms: pd.DataFrame, primary: str,
                       styles: dict, prefix: str = "conv"):
    """Training loss and validation ``primary`` per epoch (mean ± 95% t-interval over seeds per
    arm), and below them, on the same epoch axis, the LR each arm applied (per step, log scale)."""
    rows = _arm_rows(df, optimizer, arms)
    agg = stats.seed_stats(rows)
    val = agg[(agg["split"] == "val") & (agg["metric"] == primary)]
    tl = agg[(agg["split"] == "train") & (agg["metric"] == "loss")]
    lr_end = (epoch_rows(rows).groupby(["schedule", "base_lr", "epoch"], observed=True)["lr"]
              .first().rename("lr").reset_index())
    traj = lr_trajectory(rows)
    show_lr = arms["base_lr"].nunique() > 1
    title = f"{optimizer}: training loss and validation {primary} per epoch, and learning rate"
    svg = svg_figures(lambda layout: _convergence_draw(arms, tl, val, lr_end, traj, primary,
                                                       styles, show_lr, layout), prefix, title)
    keys = ["schedule", "base_lr", "epoch"]
    cols = ["mean", "ci95", "n"]
    numbers = (val[[*keys, *cols]].rename(columns={c: f"val_{c}" for c in cols})
               .merge(tl[[*keys, *cols]].rename(columns={c: f"train_{c}" for c in cols}), on=keys,
                      how="outer")
               .merge(lr_end, on=keys, how="left"))
    numbers = numbers.assign(schedule=numbers["schedule"].astype(str), optimizer=optimizer)
    return svg, numbers[["optimizer", *keys, "train_mean", "train_ci95", "train_n", "val_mean",
                         "val_ci95", "val_n", "lr"]].sort_values(keys).reset_index(drop=True)


def _convergence_draw(arms: pd.DataFrame, tl: pd.DataFrame, val: pd.DataFrame, lr_end: pd.DataFrame,
                      traj: pd.DataFrame, primary: str, styles: dict, show_lr: bool, layout: Layout):
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(layout.width, 7.4), layout="constrained")
        ax_t, ax_v, ax_lr = fig.subplots(3, 1, sharex=True, height_ratios=[2.2, 2.6, 1.4])
        for sched, lr in _order(arms, styles):
            st = style_of(styles, sched)
            label = _label(sched, lr, show_lr)

            def pick(t, sched=sched, lr=lr):
                return t[(t["schedule"].astype(str) == sched) & (t["base_lr"] == lr)]

            _curve(ax_t, pick(tl), st, label)
            _curve(ax_v, pick(val), st, label)
            t = traj[(traj["schedule"] == sched) & (traj["base_lr"] == lr)]
            if t.empty:  # no per-step rows: LR in force at the end of each epoch
                t = pick(lr_end)
                t = t.assign(x=t["epoch"]).drop(columns=["epoch"])
            ax_lr.plot(*_lr_steps(t), color=st["color"], linestyle=st["linestyle"],
                       drawstyle="steps-post", linewidth=1.4)
        for ax, frame in ((ax_t, tl), (ax_v, val)):
            _limit_to_means(ax, frame)
        ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_t.set_ylabel("training loss,\nepoch mean (nats)")
        ax_v.set_ylabel(mpl_text(layout.wrap(metric_label(primary, "val"), 26)))
        legend(fig, ax_v, layout, title="schedule (mean, 95% t-interval)", frameon=False)
        ax_lr.set_yscale("log", nonpositive="mask")
        log_tick_labels(ax_lr.yaxis, layout)
        ax_lr.set_ylabel("learning rate\n(log scale)")
        ax_lr.set_xlabel(layout.wrap("epoch (0 = before training; LR per optimizer step)", 48))
        ax_lr.set_xlim(left=0)
    return fig
