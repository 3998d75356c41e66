"""The budget curve of one optimizer setting under one protocol: the test metric against the
length each run was trained and annealed to (mean and 95% t-interval per schedule), and Δ against
the fixed LR at each length with the ±min_effect band. It shows where annealing starts to pay."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from annealbench_report.analysis.units import Units
from annealbench_report.figures.style import (
    Layout,
    legend,
    matplotlib,
    mpl_text,
    style_of,
    svg_figures,
    thin_labels,
)

NUMBER_COLUMNS = ["optimizer", "protocol", "schedule", "length", "n", "mean", "lo", "hi", "delta",
                  "delta_lo", "delta_hi", "gap", "gap_lo", "gap_hi"]


def budget_numbers(arm_curves: pd.DataFrame, curves: dict, optimizer: str, protocol: str,
                   order: list) -> pd.DataFrame:
    """Per schedule and length: the mean test value with its interval, and (for schedules other
    than the fixed LR) Δ_B and g_B of :mod:`curve`."""
    a = arm_curves[(arm_curves["optimizer"] == optimizer) & (arm_curves["protocol"] == protocol)]
    parts = []
    for s in [s for s in order if s in set(a["schedule"])]:
        g = a[a["schedule"] == s]
        ct = curves.get((optimizer, protocol, s))
        if ct is not None:
            g = g.merge(ct.drop(columns=["n"]), on="length", how="left")
        parts.append(g)
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return out.reindex(columns=NUMBER_COLUMNS)


def budget_figure(numbers: pd.DataFrame, fixed: str, primary: str, units: Units, min_effect,
                  styles: dict, title: str, prefix: str = "budget"):
    """The budget figure as inline ``<svg>`` markup: per schedule, the test metric against the
    training length (left, or top on a phone) and its paired Δ against the fixed LR at the same
    length (right, or below)."""
    return svg_figures(lambda layout: _draw(numbers, fixed, primary, units, min_effect, styles,
                                            layout), prefix, title)


def _draw(numbers: pd.DataFrame, fixed: str, primary: str, units: Units, min_effect, styles: dict,
          layout: Layout):
    lengths = sorted(numbers["length"].unique())
    rows, cols = layout.grid(2, 2)
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(layout.width, 3.6 if rows == 1 else 6.4), layout="constrained")
        ax_v, ax_d = fig.subplots(rows, cols).ravel()
        for s in [s for s in styles if s in set(numbers["schedule"])]:
            st = style_of(styles, s)
            g = numbers[numbers["schedule"] == s].sort_values("length")
            x = g["length"].to_numpy(float)
            kw = dict(color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                      markersize=5, capsize=2, linewidth=1.4, label=mpl_text(s))
            m = g["mean"].to_numpy(float) * units.scale
            ax_v.errorbar(x, m, yerr=_err(m, g["lo"], g["hi"], units), **kw)
            if s == fixed:
                full = m[-1] if len(m) else np.nan
                if np.isfinite(full):
                    ax_v.axhline(full, color=st["color"], linestyle=":", linewidth=0.9)
                continue
            d = g["delta"].to_numpy(float) * units.scale
            ax_d.errorbar(x, d, yerr=_err(d, g["delta_lo"], g["delta_hi"], units), **kw)
        if min_effect:
            ax_d.axhspan(-min_effect * units.scale, min_effect * units.scale, color="#d9d9d9",
                         alpha=0.7, linewidth=0, zorder=0)
        ax_d.axhline(0, color="#000000", linewidth=0.9)
        for ax in (ax_v, ax_d):
            ax.set_xticks(lengths, thin_labels([f"{int(b)}" for b in lengths], layout, 8))
            # two lines: on one, the right panel's label ran past the figure's edge
            ax.set_xlabel("epochs trained\n(each run annealed to this length)")
        ax_v.set_ylabel(mpl_text(layout.wrap(f"test {primary} ({units.unit})", 28)))
        ax_d.set_ylabel(mpl_text(layout.wrap(f"Δ vs {fixed} at the same length ({units.unit})", 28)))
        ax_v.set_title(mpl_text(layout.wrap(f"mean ± 95% t-interval; dotted: {fixed} at full length",
                                            52)), fontsize=layout.font(8), loc="left")
        ax_d.set_title("> 0: ahead at equal budget" + ("; grey: ±min_effect" if min_effect
                                                         else ""), fontsize=layout.font(8), loc="left")
        legend(fig, ax_v, layout, frameon=False, fontsize=layout.font(7))
    return fig


def _err(mean, lo, hi, units: Units):
    lo = np.asarray(lo, float) * units.scale
    hi = np.asarray(hi, float) * units.scale
    err = np.vstack([mean - lo, hi - mean])
    return np.where(np.isfinite(err), err, 0)
