"""Warmup-stable-decay ("wsd"): an optional warmup, the base LR held, then a cooldown over the last
part of the run, linear or 1 - sqrt (Hägele et al. 2024, "Scaling Laws and Compute-Optimal
Training Beyond Fixed Training Durations"), down to final_factor of the base LR.

A closed form like trapezoid (which is this schedule with shape "linear" and final_factor 0):
get_lr never reads the optimizer's current LR, so a resumed run continues exactly. With
t = last_epoch, W = warmup, C = cooldown, T = total_iters (the run length), f = final_factor:

  t < W          factor (t + 1) / (W + 1)    the first update already moves; no jump at t = W
  t < T - C      factor 1                    exactly the fixed LR's: prefix sharing sees it
  otherwise      factor f + (1 - f) * g, s = min(t, T), p = (s - (T - C)) / C in [0, 1]:
                   linear  g = (T - s) / C   (= 1 - p, written so that f = 0 is trapezoid's value)
                   sqrt    g = 1 - sqrt(p)
                 g is 1 at t = T - C (the first cooldown update still uses the base LR, as
                 CosineAnnealingLR's first does) and f is reached at t = T, right after the last
                 update of a run of T steps; past T the factor holds at f.
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from annealbench.errors import Problem

from .values import Choice, Length, Number, Param, Run, frac_part

SHAPES = ("linear", "sqrt")

PARAMS: dict[str, Param] = {
    "warmup": Length(0, min_int=0),
    "cooldown": Length({"frac": 0.2}),
    "shape": Choice("linear", SHAPES),
    # 1 would be no cooldown at all: the fixed LR is its own arm
    "final_factor": Number(0.0, ge=0, lt=1),
}


def wsd_factor(
    t: int, warmup: int, cooldown: int, total_iters: int, shape: str, final_factor: float
) -> float:
    if t < warmup:
        return (t + 1) / (warmup + 1)
    start = total_iters - cooldown
    if t < start:
        return 1.0
    s = min(t, total_iters)
    g = (total_iters - s) / cooldown if shape == "linear" else 1.0 - math.sqrt((s - start) / cooldown)
    return final_factor + (1.0 - final_factor) * g


def relate(kw: dict[str, Any]) -> Problem | None:
    """Warmup and cooldown both given as fractions of the run must fit in it."""
    w = frac_part(kw["warmup"])
    c = frac_part(kw["cooldown"])
    if w is not None and c is not None and w + c > 1 + 1e-12:
        return Problem("warmup", f"warmup + cooldown must fit in the run; got fracs {w} + {c} > 1")
    return None


def settle(kw: dict[str, Any], run: Run) -> None:
    if kw["warmup"] + kw["cooldown"] > kw["total_iters"]:
        raise ValueError(
            f"warmup + cooldown ({kw['warmup']} + {kw['cooldown']}) exceed the run ({kw['total_iters']} "
            f"{run.interval}s)"
        )


class WSDLR(LRScheduler):
    def __init__(
        self,
        optimizer: Optimizer,
        warmup: int,
        cooldown: int,
        total_iters: int,
        shape: str = "linear",
        final_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if warmup < 0 or cooldown < 1 or warmup + cooldown > total_iters:
            raise ValueError(
                f"need warmup >= 0, cooldown >= 1 and warmup + cooldown <= total_iters; "
                f"got warmup={warmup}, cooldown={cooldown}, total_iters={total_iters}"
            )
        if shape not in SHAPES or not 0 <= final_factor < 1:
            raise ValueError(
                f"need shape in {SHAPES} and 0 <= final_factor < 1; got {shape!r}, {final_factor}"
            )
        self.warmup = int(warmup)
        self.cooldown = int(cooldown)
        self.total_iters = int(total_iters)
        self.shape = shape
        self.final_factor = float(final_factor)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        f = wsd_factor(self.last_epoch, self.warmup, self.cooldown, self.total_iters, self.shape,
                       self.final_factor)
        return [base_lr * f for base_lr in self.base_lrs]
