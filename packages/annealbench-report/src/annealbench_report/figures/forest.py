"""The forest plot: every schedule's Δ against the fixed LR with its 95% t-interval, for both
protocols, one panel per claim; the ±min_effect equivalence band shaded, the zero line drawn, and
the verdict as marker shape, fill and colour (colour-blind safe, distinct in grey print)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.claim_defs import CLAIMS
from annealbench_report.analysis.claims import StudyClaims
from annealbench_report.analysis.protocol import ARTICLE, TUNED
from annealbench_report.analysis.units import Units
from annealbench_report.analysis.verdicts import VERDICTS
from annealbench_report.figures.style import (
    VERDICT_STYLE,
    WIDE,
    Layout,
    matplotlib,
    mpl_text,
    svg_figures,
)

PROTOCOL_LINE = {TUNED: "-", ARTICLE: (0, (3, 2))}
PROTOCOL_NAME = {TUNED: "tuned LR", ARTICLE: "article's LR"}
TITLE_CHARS = 80  # characters across the full-size figure's panel titles together
TITLE_CHARS_NARROW = 46  # characters across the narrow figure's one column
NUMBER_COLUMNS = ["claim", "optimizer", "schedule", "protocol", "n_pairs", "mean", "lo", "hi",
                  "verdict"]


def forest_numbers(c: StudyClaims, order: list, opts: list) -> pd.DataFrame:
    """What the forest plot draws, in drawing order (top to bottom)."""
    r = c.rows
    if r.empty:
        return pd.DataFrame(columns=NUMBER_COLUMNS)
    rank_s = {s: i for i, s in enumerate(order)}
    rank_o = {o: i for i, o in enumerate(opts)}
    rank_p = {TUNED: 0, ARTICLE: 1}
    rank_c = {k: i for i, k in enumerate(CLAIMS)}
    out = r.assign(_c=r["claim"].map(rank_c), _o=r["optimizer"].map(rank_o),
                   _s=r["schedule"].map(rank_s), _p=r["protocol"].map(rank_p))
    out = out.sort_values(["_c", "_o", "_s", "_p"], kind="mergesort")
    return out[NUMBER_COLUMNS].reset_index(drop=True)


def forest_figure(c: StudyClaims, order: list, opts: list, units: Units, prefix: str = "forest",
                  compact: bool = False):
    """(svg, numbers). ``compact``: a thumbnail (no legend, smaller)."""
    numbers = forest_numbers(c, order, opts)
    svg = svg_figures(lambda layout: _draw(numbers, c, units, compact, layout), prefix,
                      "Δ against the fixed LR with 95% t-intervals, per schedule and protocol")
    return svg, numbers


def forest_mpl(c: StudyClaims, order: list, opts: list, units: Units, compact: bool = False,
               layout: Layout = WIDE):
    """(matplotlib Figure, numbers): the forest plot before serialisation, for the page's inline
    SVG and for the stand-alone image of annealbench_report.summary."""
    numbers = forest_numbers(c, order, opts)
    return _draw(numbers, c, units, compact, layout), numbers


def _draw(numbers: pd.DataFrame, c: StudyClaims, units: Units, compact: bool, layout: Layout):
    """One panel per claim: side by side in the wide layout, stacked in the narrow one."""
    claims = [k for k in CLAIMS if (numbers["claim"] == k).any()]
    keys = list(dict.fromkeys(zip(numbers["optimizer"], numbers["schedule"])))
    several = len({o for o, _ in keys}) > 1
    labels = [mpl_text(f"{o} · {s}" if several else s) for o, s in keys]
    ypos = {k: i for i, k in enumerate(keys)}
    rows, cols = layout.grid(len(claims), len(claims))
    panel = (0.22 if compact else 0.34) * len(keys)
    height = (1.3 if compact else 1.6) + panel if rows == 1 else 0.6 + rows * (1.25 + panel)
    title_chars = (TITLE_CHARS_NARROW if layout.narrow else TITLE_CHARS // cols)
    with matplotlib.rc_context(layout.style):
        fig = Figure(figsize=(3.6 if compact else layout.width, height), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True)).ravel()
        for ax, claim in zip(axes, claims):
            _panel(ax, numbers[numbers["claim"] == claim], ypos, c.min_effect, units, compact)
            if compact:
                ax.set_title(claim, fontsize=layout.font(8))
                ax.set_xlabel(mpl_text(f"Δ ({units.unit})"), fontsize=layout.font(7))
            else:
                cl = CLAIMS[claim]
                title = cl.label + cl.title_suffix.format(full=c.full)
                # wrapped to its panel's width: side by side, unwrapped titles ran into each other
                ax.set_title(mpl_text(textwrap.fill(title, title_chars)))
                # the sign rule is said once, in the legend: with it, three labels side by side
                # ran into each other and out of the figure
                ax.set_xlabel(mpl_text(textwrap.fill(f"Δ vs {cl.versus} ({units.unit})",
                                                     title_chars, break_on_hyphens=False)))
        for ax in axes[::cols]:  # the schedules named at the left of each row
            ax.set_yticks(range(len(keys)), labels)
            ax.set_ylim(len(keys) - 0.5, -0.5)
        if not compact and claims:
            fig.legend(handles=_legend(numbers, c.min_effect, units), loc="outside lower center",
                       ncols=2 if layout.narrow else 4, frameon=False, fontsize=layout.font(7.5))
    return fig


def _panel(ax, rows: pd.DataFrame, ypos: dict, min_effect, units: Units, compact: bool):
    if min_effect:
        ax.axvspan(-min_effect * units.scale, min_effect * units.scale, color="#d9d9d9",
                   alpha=0.7, linewidth=0, zorder=0)
    ax.axvline(0, color="#000000", linewidth=0.9, zorder=1)
    ax.grid(axis="y", visible=False)
    for _, r in rows.iterrows():
        y = ypos[(r["optimizer"], r["schedule"])] + (0.17 if r["protocol"] == ARTICLE else -0.17)
        st = VERDICT_STYLE[r["verdict"]]
        lo, hi, m = (r["lo"] * units.scale, r["hi"] * units.scale, r["mean"] * units.scale)
        if np.isfinite(lo) and np.isfinite(hi):
            ax.plot([lo, hi], [y, y], color=st["color"], linestyle=PROTOCOL_LINE[r["protocol"]],
                    linewidth=1.6, zorder=2)
        if np.isfinite(m):
            ax.plot([m], [y], linestyle="none", marker=st["marker"], color=st["color"],
                    markerfacecolor=st["color"] if st["fill"] else "white",
                    markersize=5 if compact else 7, markeredgewidth=1.3, zorder=3)


def _legend(numbers: pd.DataFrame, min_effect, units: Units) -> list:
    present = [v for v in claim_defs.verdict_words(VERDICTS) if (numbers["verdict"] == v).any()]
    out = [Line2D([], [], linestyle="none", label="Δ > 0: the schedule is better")]
    out += [Line2D([], [], linestyle="none", marker=VERDICT_STYLE[v]["marker"],
                  color=VERDICT_STYLE[v]["color"], markeredgewidth=1.3,
                  markerfacecolor=VERDICT_STYLE[v]["color"] if VERDICT_STYLE[v]["fill"] else "white",
                  label=v) for v in present]
    for p in (TUNED, ARTICLE):
        if (numbers["protocol"] == p).any():
            out.append(Line2D([], [], color="#333333", linestyle=PROTOCOL_LINE[p],
                              label=f"{PROTOCOL_NAME[p]} (95% interval)"))
    if min_effect:
        out.append(Patch(color="#d9d9d9", label=f"±min_effect ({units.effect(min_effect)})"))
    return out
