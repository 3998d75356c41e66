"""What every figure shares: matplotlib style, schedule colours, labels, and SVG serialisation.

Every figure function (``fig_*`` modules) returns ``(svg, numbers)``: ``svg`` is an ``<svg>``
element with no XML prolog, no metadata, no external reference and ids prefixed so that several
can share one HTML page; ``numbers`` is the DataFrame of exactly what was drawn, for the table
under the figure.
Colours are Okabe–Ito (colour-blind safe), fixed per schedule across figures; the fixed-LR arm is
black. Line styles and markers differ too, so the figures survive grey-scale printing.
"""

from __future__ import annotations

import html
import io
import re

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402

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
