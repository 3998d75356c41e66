"""What every figure shares: matplotlib style, schedule colours, labels, and SVG serialisation.

Every figure function (``fig_*`` modules) returns ``(svg, numbers)``: ``svg`` is the figure's
markup, two ``<svg>`` elements (:data:`LAYOUTS`: the wide drawing, class ``fig-wide``, then the one
drawn for a phone, class ``fig-narrow``; the page's CSS shows one) with no XML prolog, no metadata,
no external reference and ids prefixed so that several can share one HTML page; ``numbers`` is the
DataFrame of exactly what was drawn, for the table under the figure.
Colours are Okabe–Ito (colour-blind safe), fixed per schedule across figures; the fixed-LR arm is
black. Line styles and markers differ too, so the figures survive grey-scale printing.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from annealbench_report.analysis import claim_defs  # noqa: E402

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
    """The axis label of a metric ('validation accuracy'); the split is left out when None."""
    label = METRIC_LABELS.get(metric, metric)
    return f"{SPLIT_LABELS.get(split, split)} {label}" if split else label


def mpl_text(s) -> str:
    """A string matplotlib draws literally (no mathtext, not hidden from legends)."""
    s = str(s).replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def schedule_styles(schedules, constant=None) -> dict:
    """A fixed style per schedule name, in the given order; ``constant`` (or names in it) black."""
    constants = {constant} if isinstance(constant, str) else set(constant or ())
    out = {}
    i = 0
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


def style_of(styles: dict, schedule: str) -> dict:
    """The colour, line style and marker of ``schedule``; a grey default for one not styled."""
    return styles.get(str(schedule)) or {"color": "#777777", "linestyle": "-", "marker": "o"}


@dataclass(frozen=True)
class Layout:
    """The width a figure is drawn for, and what that width asks of its text and panels."""

    name: str  # the svg's class is fig-<name>
    width: float  # inches; 72 SVG units each
    narrow: bool  # panels stacked in one column, legends below the axes, long labels wrapped
    min_font: float  # points: no text is drawn smaller
    id_suffix: str  # added to the id prefix, so both drawings of a figure can share a page
    style: dict  # the matplotlib rc the figure is drawn and serialised under

    def font(self, size: float) -> float:
        """A font size in points, raised to this layout's smallest."""
        return max(size, self.min_font)

    def wrap(self, text: str, chars: int) -> str:
        """``text`` wrapped at ``chars`` characters in the narrow layout; as it is in the wide one."""
        return textwrap.fill(text, chars, break_on_hyphens=False) if self.narrow else text

    def grid(self, n: int, wide_cols: int) -> tuple[int, int]:
        """(rows, cols) for ``n`` panels: ``wide_cols`` across in the wide layout, one column in
        the narrow one."""
        cols = 1 if self.narrow else min(max(n, 1), wide_cols)
        return -(-max(n, 1) // cols), cols


WIDE = Layout("wide", 7.2, narrow=False, min_font=0, id_suffix="", style=STYLE)
# Phones: the content box of a 390-CSS-px-wide screen is about 358 px, over the 3.9 in = 281 SVG
# units of this drawing, so 1.27 px per unit; text of at least 7.5 pt is then drawn 9.6 px high
# (9 px or more down to a box of 337 px).
NARROW = Layout("narrow", 3.9, narrow=True, min_font=7.5, id_suffix="-n",
                style={**STYLE, "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8,
                       "legend.fontsize": 7.5, "xtick.labelsize": 7.5, "ytick.labelsize": 7.5,
                       "legend.title_fontsize": 7.5, "lines.linewidth": 1.4})
LAYOUTS = (WIDE, NARROW)


def legend(fig: Figure, ax, layout: Layout, ncols: int = 1, **kw):
    """``ax``'s legend: inside it where matplotlib finds room, in ``ncols`` columns, in the wide
    layout; below the axes in two columns in the narrow one, where inside it would cover a narrow
    panel's lines."""
    if layout.narrow:
        return fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, **kw)
    return ax.legend(loc="best", ncols=ncols, **kw)


def thin_labels(labels: list[str], layout: Layout, most: int) -> list[str]:
    """Tick labels with at most ``most`` of them named in the narrow layout (every k-th, the
    first always), so that they do not run into each other; all of them in the wide one."""
    step = -(-len(labels) // most) if layout.narrow else 1
    return [lab if i % step == 0 else "" for i, lab in enumerate(labels)]


def log_tick_labels(axis, layout: Layout) -> None:
    """A log-scale ``axis`` labelled 1e−04 rather than 10 to the power -4 in the narrow layout:
    the power is drawn at 0.7 times the label's size, under the layout's smallest."""
    if layout.narrow:
        axis.set_major_formatter(LogFormatter(10))
        axis.set_minor_formatter(LogFormatter(10, labelOnlyBase=False))


def svg_figures(draw: Callable[[Layout], Figure], prefix: str, title: str = "") -> str:
    """The figure's markup: ``draw(layout)`` serialised for each of :data:`LAYOUTS`."""
    return "".join(svg_string(draw(layout), prefix, title, layout) for layout in LAYOUTS)


def svg_string(fig: Figure, prefix: str, title: str = "", layout: Layout = WIDE) -> str:
    """Serialise ``fig`` to a self-contained inline ``<svg>`` element (class ``fig
    fig-<layout>``, ids prefixed with ``prefix`` and the layout's suffix)."""
    buf = io.StringIO()
    with matplotlib.rc_context(layout.style):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"\s*<metadata>.*?</metadata>", "", s, flags=re.S)
    s = re.sub(r'<style type="text/css">.*?</style>', "", s, flags=re.S)
    s = re.sub(r"<defs>\s*</defs>", "", s)
    head_end = s.index(">")
    head = s[:head_end]
    head = re.sub(r'\s(?:xmlns(?::\w+)?|width|height|version)="[^"]*"', "", head)
    p = re.sub(r"[^A-Za-z0-9_-]", "-", prefix) + layout.id_suffix
    s = (head + f' role="img" aria-label="{html.escape(title)}" class="fig fig-{layout.name}">'
         + (f"<title>{html.escape(title)}</title>" if title else "") + s[head_end + 1:])
    s = re.sub(r'\bid="([^"]+)"', rf'id="{p}-\1"', s)
    s = s.replace('xlink:href="#', f'href="#{p}-').replace("url(#", f"url(#{p}-")
    return s.strip()


VERDICT_STYLE = {  # colour-blind safe and distinct in grey print: shape and fill differ too
    "reproduced": {"color": "#0072B2", "marker": "o", "fill": True},
    "reproduced, below the effect of interest": {"color": "#0072B2", "marker": "^", "fill": False},
    "reversed": {"color": "#D55E00", "marker": "s", "fill": True},
    "reversed, below the effect of interest": {"color": "#D55E00", "marker": "v", "fill": False},
    "no meaningful difference": {"color": "#009E73", "marker": "D", "fill": True},
    "inconclusive": {"color": "#666666", "marker": "o", "fill": False},
    "unstable": {"color": "#CC79A7", "marker": "X", "fill": True},
}
VERDICT_STYLE = claim_defs.markers(VERDICT_STYLE)  # a claim's own verdict words, their own markers
