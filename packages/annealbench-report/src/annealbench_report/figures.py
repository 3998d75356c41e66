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
from matplotlib.ticker import MaxNLocator  # noqa: E402

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
    lr_end = (stats.epoch_rows(rows).groupby(["schedule", "base_lr", "epoch"], observed=True)["lr"]
              .first().rename("lr").reset_index())
    traj = lr_trajectory(rows)
    show_lr = arms["base_lr"].nunique() > 1
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 7.4), layout="constrained")
        ax_t, ax_v, ax_lr = fig.subplots(3, 1, sharex=True, height_ratios=[2.2, 2.6, 1.4])
        for sched, lr in _order(arms, styles):
            st = _style(styles, sched)
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
        ax_v.set_ylabel(_mpl_text(metric_label(primary, "val")))
        ax_v.legend(title="schedule (mean ± 95% CI)", loc="best", frameon=False)
        ax_lr.set_yscale("log", nonpositive="mask")
        ax_lr.set_ylabel("learning rate\n(log scale)")
        ax_lr.set_xlabel("epoch (0 = before training; LR per optimizer step)")
        ax_lr.set_xlim(left=0)
    title = f"{optimizer}: training loss and validation {primary} per epoch, and learning rate"
    svg = svg_string(fig, prefix, title)
    keys = ["schedule", "base_lr", "epoch"]
    cols = ["mean", "ci95", "n"]
    numbers = (val[[*keys, *cols]].rename(columns={c: f"val_{c}" for c in cols})
               .merge(tl[[*keys, *cols]].rename(columns={c: f"train_{c}" for c in cols}), on=keys,
                      how="outer")
               .merge(lr_end, on=keys, how="left"))
    numbers = numbers.assign(schedule=numbers["schedule"].astype(str), optimizer=optimizer)
    return svg, numbers[["optimizer", *keys, "train_mean", "train_ci95", "train_n", "val_mean",
                         "val_ci95", "val_n", "lr"]].sort_values(keys).reset_index(drop=True)


def time_to_target_figure(times: pd.DataFrame, curves: dict, target: dict, optimizer: str,
                          order: list, styles: dict, prefix: str = "ttt"):
    """Share of runs whose validation metric has reached the target, against epochs and against
    cumulative training seconds. ``curves``: {(schedule, "epochs"|"seconds"): DataFrame x, share}."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.3), layout="constrained")
        axes = fig.subplots(1, 2, sharey=True)
        for ax, unit, xlabel in ((axes[0], "epochs", "epochs trained"),
                                 (axes[1], "seconds", "training time (s, evaluation excluded)")):
            for sched in order:
                c = curves.get((sched, unit))
                if c is None or c.empty:
                    continue
                st = _style(styles, sched)
                ax.step(c["x"], 100 * c["share"], where="post", color=st["color"],
                        linestyle=st["linestyle"], linewidth=1.6, label=_mpl_text(sched))
                ax.plot(c["x"].iloc[1:-1], 100 * c["share"].iloc[1:-1], linestyle="none",
                        marker=st["marker"], color=st["color"], markersize=4)
            ax.set_xlabel(xlabel)
            ax.set_xlim(left=0)
            ax.set_ylim(-3, 103)
        axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[0].set_ylabel("runs at target (%)")
        axes[0].legend(title="schedule", loc="best", frameon=False)
        sense = "≥" if target.get("direction", "max") == "max" else "≤"
        fig.suptitle(_mpl_text(f"target: validation {target['metric']} {sense} {target['value']:.4g}"),
                     fontsize=9)
    svg = svg_string(fig, prefix, f"{optimizer}: share of runs at the target")
    t = times.assign(optimizer=optimizer)
    return svg, t[["optimizer", "schedule", "base_lr", "seed", "status", "reached", "epochs",
                   "seconds", "end_epoch", "end_seconds"]].reset_index(drop=True)


def paired_seeds(finals: pd.DataFrame, optimizer: str, arms: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One row per (schedule other than the baseline, seed): the schedule's and the baseline's
    statuses and final val/test values for that seed (NaN where a run has no final value)."""
    f = finals[finals["optimizer"].astype(str) == optimizer]
    keys = arms[["schedule", "base_lr"]].astype({"schedule": str}).drop_duplicates()
    f = f.assign(schedule=f["schedule"].astype(str)).merge(keys, on=["schedule", "base_lr"])
    ref = f[f["schedule"] == baseline].set_index("seed")
    rows = []
    for sched, lr in zip(keys["schedule"], keys["base_lr"]):
        if sched == baseline:
            continue
        g = f[(f["schedule"] == sched) & (f["base_lr"] == lr)].set_index("seed")
        for seed in sorted(set(g.index) | set(ref.index)):
            rows.append({"optimizer": optimizer, "schedule": sched, "base_lr": lr, "seed": seed,
                         "status": str(g["status"].get(seed, "missing")),
                         "baseline_status": str(ref["status"].get(seed, "missing")),
                         "val": g["final_val"].get(seed, np.nan),
                         "val_baseline": ref["final_val"].get(seed, np.nan),
                         "test": g["final_test"].get(seed, np.nan),
                         "test_baseline": ref["final_test"].get(seed, np.nan)})
    return pd.DataFrame(rows, columns=["optimizer", "schedule", "base_lr", "seed", "status",
                                       "baseline_status", "val", "val_baseline", "test",
                                       "test_baseline"])


def paired_final_figure(finals: pd.DataFrame, optimizer: str, arms: pd.DataFrame, baseline: str,
                        primary: str, styles: dict, prefix: str = "paired"):
    """Final validation (and test) ``primary`` per seed: for each schedule, the fixed-LR value of
    a seed (left, black) joined by a line to the schedule's value for the same seed (right)."""
    numbers = paired_seeds(finals, optimizer, arms, baseline)
    order = [p for p in _order(arms, styles) if p[0] != baseline]
    splits = ["val"] + (["test"] if numbers["test"].notna().any() else [])
    show_lr = arms["base_lr"].nunique() > 1
    bs = _style(styles, baseline)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 0.6 + 3.0 * len(splits)), layout="constrained")
        axes = np.atleast_1d(fig.subplots(len(splits), 1, sharex=True))
        for ax, split in zip(axes, splits):
            ticks = []
            for i, (sched, lr) in enumerate(order):
                st = _style(styles, sched)
                g = numbers[(numbers["schedule"] == sched) & (numbers["base_lr"] == lr)]
                a, b = g[split].to_numpy(float), g[f"{split}_baseline"].to_numpy(float)
                both = np.isfinite(a) & np.isfinite(b)
                for ya, yb in zip(a[both], b[both]):
                    ax.plot([i - 0.18, i + 0.18], [yb, ya], color=st["color"], linewidth=1.0,
                            alpha=0.8, zorder=2)
                ax.scatter(np.full(np.isfinite(b).sum(), i - 0.18), b[np.isfinite(b)], s=24,
                           color=bs["color"], marker=bs["marker"], zorder=3)
                ax.scatter(np.full(np.isfinite(a).sum(), i + 0.18), a[np.isfinite(a)], s=34,
                           color=st["color"], marker=st["marker"], edgecolors="white",
                           linewidths=0.5, zorder=3)
                missing = int((g["status"] != "completed").sum())
                name = _label(sched, lr, show_lr)
                ticks.append(name + (f"\n({missing} not completed)" if missing else ""))
            ax.set_xticks(range(len(order)), ticks, rotation=25 if len(order) > 4 else 0,
                          ha="right" if len(order) > 4 else "center", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(order) - 0.4)
            ax.grid(axis="x", visible=False)
            ax.set_ylabel(_mpl_text(f"final {SPLIT_LABELS[split]}\n{metric_label(primary)}"))
        axes[0].set_title(_mpl_text(f"each line is one seed: {baseline} (fixed LR, black, left) to the "
                                    "schedule (right)"), fontsize=8, loc="left")
    svg = svg_string(fig, prefix, f"{optimizer}: final {primary} per seed, paired with the fixed LR")
    return svg, numbers


def isolation_figure(table: pd.DataFrame, optimizer: str, chosen: pd.DataFrame, primary: str,
                     styles: dict, prefix: str = "iso"):
    """Mean final validation ``primary`` against the base LR, per schedule, with the 95% bootstrap
    CI as error bars; the base LR chosen for the comparison is drawn filled and larger."""
    t = table[table["optimizer"].astype(str) == optimizer].assign(
        schedule=lambda x: x["schedule"].astype(str))
    pick = set(zip(chosen["schedule"].astype(str), chosen["base_lr"]))
    t = t.assign(chosen=[(s, lr) in pick for s, lr in zip(t["schedule"], t["base_lr"])])
    scheds = [s for s in styles if s in set(t["schedule"])]
    n = max(len(scheds), 1)
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(7.2, 3.4), layout="constrained")
        ax = fig.subplots()
        lrs = sorted(t["base_lr"].unique())
        # a small horizontal offset per schedule, so that one-LR studies do not overplot
        spread = 1.08 if len(lrs) > 1 else 1.25
        for i, sched in enumerate(scheds):
            st = _style(styles, sched)
            g = t[t["schedule"] == sched].sort_values("base_lr")
            x = g["base_lr"].to_numpy() * spread ** (i - (n - 1) / 2)
            y = g["mean"].to_numpy()
            err = np.vstack([y - g["ci_lo"].to_numpy(), g["ci_hi"].to_numpy() - y])
            ax.errorbar(x, y, yerr=np.where(np.isfinite(err), err, 0), color=st["color"],
                        linestyle=st["linestyle"] if len(g) > 1 else "none", marker=st["marker"],
                        markersize=5, markerfacecolor="white", capsize=2, linewidth=1.2,
                        label=_mpl_text(sched))
            c = g["chosen"].to_numpy()
            ax.plot(x[c], y[c], linestyle="none", marker=st["marker"], color=st["color"],
                    markersize=8, zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel("base learning rate (log scale; schedules offset sideways to stay apart)")
        ax.set_ylabel(_mpl_text(f"final {metric_label(primary, 'val')}"))
        ax.legend(title="schedule (filled: chosen LR)", loc="best", frameon=False, ncols=2)
        if len(lrs) <= 6:
            ax.set_xticks(lrs, [f"{v:g}" for v in lrs])
            ax.minorticks_off()
    svg = svg_string(fig, prefix, f"{optimizer}: final validation {primary} against the base LR")
    return svg, t.assign(optimizer=optimizer)[["optimizer", "schedule", "base_lr", "n", "mean", "std",
                                               "ci_lo", "ci_hi", "n_diverged", "chosen"]]
