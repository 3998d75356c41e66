"""Warmup, hold, linear decay to 0 ("trapezoid"): the "wsd" schedule (wsd.py) with shape "linear"
and final_factor 0, kept under its own name and kwargs (``decay`` is wsd's ``cooldown``, and
``total_iters`` may be shortened to {frac = x} of the run) so existing studies and run keys stay.

With t = last_epoch, W = warmup, D = decay, T = total_iters:
  t < W          factor (t + 1) / (W + 1)   the first update already moves (never LR 0), and the
                                            ramp meets the hold at t = W without a jump
  t < T - D      factor 1
  otherwise      factor max(0, (T - t) / D) reaches 0 exactly at t = T, i.e. right after the last
                                            update of a run of T steps, as CosineAnnealingLR does
"""

from __future__ import annotations

from torch.optim import Optimizer

from .wsd import WSDLR, wsd_factor


def trapezoid_factor(t: int, warmup: int, decay: int, total_iters: int) -> float:
    return wsd_factor(t, warmup, decay, total_iters, "linear", 0.0)


class TrapezoidLR(WSDLR):
    def __init__(
        self, optimizer: Optimizer, warmup: int, decay: int, total_iters: int, last_epoch: int = -1
    ) -> None:
        if warmup < 0 or decay < 1 or warmup + decay > total_iters:
            raise ValueError(
                f"need warmup >= 0, decay >= 1 and warmup + decay <= total_iters; "
                f"got warmup={warmup}, decay={decay}, total_iters={total_iters}"
            )
        self.decay = int(decay)
        super().__init__(optimizer, warmup, decay, total_iters, "linear", 0.0, last_epoch)
