"""How numbers and table cells appear on the pages.

A cell carries the text a reader sees and, in ``data-value``, the exact number behind it, so a
test (or a reader with the browser's inspector) can check the page against the records without
parsing rounded text.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pandas as pd
from markupsafe import Markup


def finite(x) -> bool:
    """True where ``x`` is a finite number; False for None, NaN, ±inf and what is not a number."""
    try:
        return x is not None and not pd.isna(x) and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def fmt(x, signed: bool = False) -> str:
    """4 decimals below 100, 1 above; '–' for missing; 'nan'/'inf' spelled out."""
    if x is None or (not isinstance(x, str) and pd.isna(x)):
        return "–"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    s = f"{x:+.4f}" if signed else f"{x:.4f}"
    if abs(x) >= 100:
        s = f"{x:+.1f}" if signed else f"{x:.1f}"
    return s.replace("-", "−")


def fmt_date(value) -> str:
    """An ISO-8601 time as 'YYYY-MM-DD HH:MM UTC' (as given when it does not parse)."""
    if not value:
        return "–"
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if t.tzinfo is not None:
        return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return t.strftime("%Y-%m-%d %H:%M")


def fmt_lr(x) -> str:
    """A learning rate in the shortest exact form (``%g``); '–' for missing."""
    return "–" if not finite(x) else f"{float(x):g}"


def fmt_duration(seconds) -> str:
    """Seconds as 'H:MM:SS (S.s s)'; '–' for missing."""
    if not finite(seconds):
        return "–"
    s = int(round(float(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d} ({float(seconds):.1f} s)"


def cell(text, value=None, cls: str = "") -> dict:
    """A table cell: display text, the exact number behind it (data-value) and a CSS class."""
    return {"text": text if isinstance(text, Markup) else str(text),
            "value": repr(float(value)) if finite(value) else None, "cls": cls}


def pm_cell(mean, std, n=None) -> dict:
    """A number cell 'mean ± std (n=N)', its data-value the mean."""
    text = f"{fmt(mean)} ± {fmt(std)}" if finite(std) else fmt(mean)
    if n is not None:
        text += f" (n={int(n)})"
    return cell(text, mean, "num")


def table(columns, rows, caption: str = "", cls: str = "") -> dict:
    """A table for the templates: column names, row dicts (``cls``, ``cells``), caption, CSS class."""
    return {"columns": list(columns), "rows": rows, "caption": caption, "cls": cls}


def swatch(styles: dict, schedule: str) -> Markup:
    """A square in the schedule's figure colour (inline style: the page loads no stylesheet)."""
    color = styles.get(str(schedule), {}).get("color", "#777777")
    return Markup('<span class="sw" style="background:{}"></span>').format(color)


def name_cell(styles: dict, schedule: str, extra="") -> dict:
    """A schedule-name cell led by the schedule's colour swatch, then ``extra``."""
    return cell(Markup("{}{}{}").format(swatch(styles, schedule), schedule, extra), cls="name")


def fmt_p(p) -> str:
    """A p-value: 3 significant digits, '< 0.0001' below that; '–' where the test is undefined."""
    if not finite(p):
        return "–"
    p = float(p)
    return "< 0.0001" if p < 1e-4 else f"{p:.3g}"


def fmt_ci(lo, hi, signed: bool = False) -> str:
    """An interval '[lo, hi]' in :func:`fmt`'s form; '–' where either end is missing."""
    if not (finite(lo) and finite(hi)):
        return "–"
    return f"[{fmt(lo, signed)}, {fmt(hi, signed)}]"


def _time_to_target(x, form: str) -> str:
    # inf means half or more of the runs never reached the target: a censored median
    if x is None or pd.isna(x):
        return "–"
    if math.isinf(float(x)):
        return "not reached"
    return format(float(x), form)


def fmt_epochs(x) -> str:
    """Epochs to target: 'not reached' for inf (half or more of the runs never got there)."""
    return _time_to_target(x, "g")


def fmt_delta_epochs(x) -> str:
    """A difference in epochs: one decimal (times are whole epochs; means of them need no more)."""
    if not finite(x):
        return "–"
    return f"{float(x):+.1f}".replace("-", "−")


def fmt_seconds(x) -> str:
    """A median time to target in seconds ('12.3 s'); 'not reached' for inf, '–' for missing."""
    s = _time_to_target(x, ".1f")
    return s + " s" if s[0].isdigit() else s
