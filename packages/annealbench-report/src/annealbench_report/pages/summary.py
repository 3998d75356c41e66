"""What a README or a paper quotes from a build, written beside the index from the same analyses
the pages are rendered from, so that neither can disagree with the pages:

- ``summary.md``: one Markdown table of every study's verdicts: per study, optimizer setting and
  protocol, its training regime (the fixed LR's last-quarter gain per epoch with its 95%
  interval, at a plateau or not, and its test level), then per claim and schedule Δ with its 95%
  t-interval, Holm's p, the verdict and the family's MDE. Δ > 0: the schedule is better.
- ``forest.png``: the studies' forest plots stacked in one image, each titled with its study and
  regime (PNG, so that it renders wherever Markdown does; a few hundred KB at most).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.claims import protocol_label
from annealbench_report.analysis.protocol import TUNED, article_lrs
from annealbench_report.figures import forest as fig_forest
from annealbench_report.pages import key, verdicts_csv
from annealbench_report.records.files import atomic_write, write_text_atomic

TABLE_NAME, FIGURE_NAME = "summary.md", "forest.png"
HEAD = ["study, protocol", "regime (fixed LR, last quarter)", "claim", "schedule",
        "Δ [95% interval]", "Holm p", "verdict", "MDE"]
DPI = 90
WIDTH = 12.0  # inches: two panels' titles side by side without overlapping


def _p(x) -> str:
    if x is None or not math.isfinite(float(x)):
        return "–"
    return f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def _effect(u, x) -> str:
    return u.effect(x) if x is not None and math.isfinite(float(x)) else "–"


def regime_text(a, opt: str) -> str:
    """``still improving: +0.9 [+0.6, +1.2] points/epoch; 57.3% test`` or ``at a plateau: …``;
    empty where the regime is undecided (no judged full-length fixed-LR runs)."""
    rf = a.regime_frame
    if rf is None or rf.empty or not (rf["optimizer"] == opt).any():
        return ""
    r = rf[rf["optimizer"] == opt].iloc[0]
    u = a.units
    s = u.finer()
    gain = f"{s.num(r['slope'], True)} {s.interval(r['slope_lo'], r['slope_hi'], True)} {u.unit}/epoch"
    at = r["at_plateau"]
    word = ("no plateau threshold declared" if pd.isna(at)
            else "at a plateau" if bool(at) else "still improving")
    level = f"{u.num(r['level'])}%" if u.scale == 100 else f"{u.num(r['level'])} {u.unit}"
    return f"{word}: {gain}; {level} test"


def table(analysed: dict) -> str:
    """The Markdown table of every analysed study (``{folder: (Analysis, runs)}``), sorted by
    folder; empty string when nothing was compared."""
    lines = []
    for name in sorted(analysed):
        a = analysed[name][0]
        v = verdicts_csv.frame(a)
        if v.empty:
            continue
        u = a.units
        for (opt, proto), g in v.groupby(["optimizer", "protocol"], sort=False):
            label = f"{a.name}" + (f" ({opt})" if len(a.opts) > 1 else "")
            how = protocol_label(proto, opt, a.selection, article_lrs(a.study))
            first = True
            for claim, cl in claim_defs.CLAIMS.items():
                for _, r in g[g["claim"] == claim].iterrows():
                    lines.append("| " + " | ".join([
                        f"{label}, {how}" if first else "",
                        regime_text(a, opt) if first and proto == TUNED else "",
                        cl.summary_label, str(r["schedule"]),
                        f"{u.num(r['delta'], True)} {u.interval(r['lo'], r['hi'], True)} {u.unit}",
                        _p(r["p_holm"]), f"**{r['verdict']}**",
                        _effect(u, r["mde"])]) + " |")
                    first = False
    if not lines:
        return ""
    head = "| " + " | ".join(HEAD) + " |\n|" + "---|" * len(HEAD) + "\n"
    return head + "\n".join(lines) + "\n"


def figure_png(analysed: dict) -> bytes | None:
    """The forest plots of every study with a comparison, stacked top to bottom (PNG bytes);
    None when there is none."""
    from PIL import Image  # matplotlib's own dependency

    parts = []
    for name in sorted(analysed):
        a = analysed[name][0]
        if a.claims.rows.empty:
            continue
        fig, _ = fig_forest.forest_mpl(a.claims, a.scheds, a.opts, a.units)
        width, height = fig.get_size_inches()
        fig.set_size_inches(max(width, WIDTH), height)  # the page's panel titles need the room
        regimes = "; ".join(f"{o}: {t}" if len(a.opts) > 1 else t
                            for o in a.opts if (t := regime_text(a, o)))
        fig.suptitle(f"{a.name}" + (f" ({regimes})" if regimes else ""), fontsize=9,
                     fontweight="bold")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        parts.append(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if not parts:
        return None
    out = Image.new("RGB", (max(p.width for p in parts), sum(p.height for p in parts)), "white")
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    buf = io.BytesIO()
    out.convert("P", palette=Image.Palette.ADAPTIVE, colors=256).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write(out_dir, analysed: dict) -> list[Path]:
    """Write ``summary.md`` and ``forest.png`` into ``out_dir`` (atomically); return the paths
    written (none when no study has a comparison)."""
    out_dir = Path(out_dir)
    text, png = table(analysed), figure_png(analysed)
    if text:  # the same key as under every page's tables
        text += key.markdown(key.scales(analysed[n][0] for n in sorted(analysed)))
    written = []
    if text:
        write_text_atomic(out_dir / TABLE_NAME, text)
        written.append(out_dir / TABLE_NAME)
    if png is not None:
        atomic_write(out_dir / FIGURE_NAME, lambda tmp: Path(tmp).write_bytes(png))
        written.append(out_dir / FIGURE_NAME)
    return written
