"""How an effect in the primary metric is written for a reader: accuracy, a fraction, as points
(×100); any other metric as is, in its own unit."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

UNIT_NAMES = {"bpc": "bpc", "loss": "nats", "ppl": "perplexity"}


@dataclass(frozen=True)
class Units:
    metric: str
    scale: float
    unit: str
    decimals: int

    def num(self, x: float, signed: bool = False) -> str:
        if x is None or not math.isfinite(x):
            return "–"
        v = x * self.scale
        s = f"{v:+.{self.decimals}f}" if signed else f"{v:.{self.decimals}f}"
        if float(s) == 0:  # no "−0.0"
            s = s.replace("-", "+" if signed else "")
        return s.replace("-", "−")

    def effect(self, x: float, signed: bool = False) -> str:
        """``1.8 points``, ``0.031 bpc``."""
        return f"{self.num(x, signed)} {self.unit}"

    def interval(self, lo: float, hi: float, signed: bool = False) -> str:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return "[–]"
        return f"[{self.num(lo, signed)}, {self.num(hi, signed)}]"

    def finer(self) -> Units:
        """One more decimal: for per-epoch slopes, which sit an order below the effects (a CNN
        slope of 0.25 points shown as 0.3 would read as at its 0.3 threshold)."""
        return replace(self, decimals=self.decimals + 1)

    def axis(self) -> str:
        return f"{self.unit}" if self.scale == 1 else f"{self.unit} (×{self.scale:g} {self.metric})"


def units_for(metric: str, values=()) -> Units:
    """Points for accuracy (a fraction: every value in [0, 1]); the metric's own unit otherwise."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if "acc" in metric.lower() and all(0.0 <= v <= 1.0 for v in vals):
        return Units(metric, 100.0, "points", 1)
    return Units(metric, 1.0, UNIT_NAMES.get(metric, metric), 3)
