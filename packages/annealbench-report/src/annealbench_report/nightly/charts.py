"""The history page's figures (inline SVG, as every figure of the report): throughput per night
and each headline Δ per night with its 95% interval. Failed nights are drawn with open markers and
named in the caption, so a number from a night that failed is never read as a clean one. They
draw the last ``NIGHTS`` nights."""

from __future__ import annotations

from statistics import median

from matplotlib.figure import Figure

from annealbench_report.figures.style import Layout, matplotlib, mpl_text, schedule_styles, svg_figures
from annealbench_report.nightly.alerts import throughput_series

FAILED = "#D55E00"
NIGHTS = 60  # nights drawn: the figures stay readable and small; the table lists every night


def _quartiles(xs: list[float]) -> tuple[float, float, float]:
    s = sorted(xs)
    q = lambda f: s[min(len(s) - 1, int(round(f * (len(s) - 1))))]  # noqa: E731 - nearest rank
    return q(0.25), median(s), q(0.75)


def _axes_grid(n: int, title: str, layout: Layout):
    rows, cols = layout.grid(n, 2)
    fig = Figure(figsize=(layout.width, (2.6 if layout.narrow else 2.4) * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(mpl_text(layout.wrap(title, 46)))
    return fig, axes


def _night_axis(ax, labels: list[str], layout: Layout) -> None:
    ax.set_xticks(range(len(labels)))
    step = max(1, len(labels) // (4 if layout.narrow else 8))  # about 8 dates named, 4 on a phone
    ax.set_xticklabels([lab if i % step == 0 else "" for i, lab in enumerate(labels)], rotation=30,
                       ha="right", fontsize=layout.font(7))


def label(night: dict) -> str:
    return str(night.get("started_at") or night["night"])[:16].replace("T", " ")


def throughput_figure(nights: list[dict]) -> str | None:
    """Per series: each night's median sample with its interquartile range."""
    nights = nights[-NIGHTS:]
    names = sorted({k for n in nights for k, v in throughput_series(n).items() if v})
    if not names:
        return None
    labels = [label(n) for n in nights]

    def draw(layout: Layout):
        with matplotlib.rc_context(layout.style):
            fig, axes = _axes_grid(len(names), "Throughput per night (median and interquartile range)",
                                   layout)
            for ax, name in zip(axes, names, strict=False):
                for i, n in enumerate(nights):
                    xs = throughput_series(n).get(name) or []
                    if not xs:
                        continue
                    lo, mid, hi = _quartiles(xs)
                    failed = n.get("status") == "failed"
                    ax.errorbar([i], [mid], yerr=[[mid - lo], [hi - mid]], fmt="o", ms=4, capsize=2,
                                color=FAILED if failed else "#0072B2", mfc="none" if failed else None)
                ax.set_title(mpl_text(name), fontsize=layout.font(8))
                ax.set_ylabel("items/s")
                _night_axis(ax, labels, layout)
        return fig

    return svg_figures(draw, "throughput", "Throughput per night")


def headlines(nights: list[dict]) -> list[tuple[str, str, str, str]]:
    """(study, optimizer, protocol, claim) of every verdict row ever recorded."""
    return sorted({(s, v["optimizer"], v["protocol"], v["claim"]) for n in nights
                   for s, part in (n.get("studies") or {}).items() for v in part.get("verdicts") or []})


def delta_figure(nights: list[dict]) -> str | None:
    """Per headline (study, optimizer, protocol, claim): Δ of each schedule per night with its
    95% interval (no bar where a night had no interval)."""
    nights = nights[-NIGHTS:]
    heads = headlines(nights)
    if not heads:
        return None
    labels = [label(n) for n in nights]
    scheds = sorted({v["schedule"] for n in nights for p in (n.get("studies") or {}).values()
                     for v in p.get("verdicts") or []})
    styles = schedule_styles(scheds)

    def draw(layout: Layout):
        with matplotlib.rc_context(layout.style):
            fig, axes = _axes_grid(len(heads), "Δ per night, schedule − fixed LR (> 0: schedule "
                                               "better), 95% interval", layout)
            for ax, head in zip(axes, heads, strict=False):
                _delta_panel(ax, head, nights, scheds, styles, labels, layout)
        return fig

    return svg_figures(draw, "delta", "Δ per night")


def _delta_panel(ax, head: tuple, nights: list[dict], scheds: list, styles: dict, labels: list[str],
                 layout: Layout) -> None:
    study, opt, protocol, claim = head
    for k, sched in enumerate(scheds):
        pts = []
        for i, n in enumerate(nights):
            for v in ((n.get("studies") or {}).get(study) or {}).get("verdicts") or []:
                if (v["optimizer"], v["protocol"], v["claim"], v["schedule"]) == (
                        opt, protocol, claim, sched) and v["delta"] is not None:
                    pts.append((i + 0.08 * (k - len(scheds) / 2), v, n.get("status")))
        if not pts:
            continue
        st = styles[sched]
        for x, v, status in pts:
            err = None if v["lo"] is None else [[v["delta"] - v["lo"]], [v["hi"] - v["delta"]]]
            ax.errorbar([x], [v["delta"]], yerr=err, fmt=st["marker"], ms=4, capsize=2,
                        color=st["color"], mfc="none" if status == "failed" else st["color"])
        ax.plot([p[0] for p in pts], [p[1]["delta"] for p in pts], color=st["color"],
                linestyle=st["linestyle"], linewidth=0.8, label=mpl_text(sched))
    ax.axhline(0, color="#000000", linewidth=0.6)
    ax.set_title(mpl_text(layout.wrap(f"{study}: {opt}, {protocol}, {claim}", 50)),
                 fontsize=layout.font(8))
    _night_axis(ax, labels, layout)
    ax.legend(fontsize=layout.font(6), loc="best")
