"""Warmup, hold, linear decay ("trapezoid", a.k.a. warmup-stable-decay) as one closed-form LRScheduler.

Written as a subclass rather than a SequentialLR of three built-ins because the closed form is
three lines, and because a closed form resumes exactly: get_lr never reads the optimizer's
current LR, so nothing depends on the order in which optimizer and scheduler state are loaded.

With t = last_epoch, W = warmup, D = decay, T = total_iters:
  t < W          factor (t + 1) / (W + 1)   the first update already moves (never LR 0), and the
                                            ramp meets the hold at t = W without a jump
  t < T - D      factor 1
  otherwise      factor max(0, (T - t) / D) reaches 0 exactly at t = T, i.e. right after the last
                                            update of a run of T steps, as CosineAnnealingLR does
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def trapezoid_factor(t: int, warmup: int, decay: int, total_iters: int) -> float:
    if t < warmup:
        return (t + 1) / (warmup + 1)
    if t < total_iters - decay:
        return 1.0
    return max(0.0, (total_iters - t) / decay)


class TrapezoidLR(LRScheduler):
    def __init__(
        self, optimizer: Optimizer, warmup: int, decay: int, total_iters: int, last_epoch: int = -1
    ) -> None:
        if warmup < 0 or decay < 1 or warmup + decay > total_iters:
            raise ValueError(
                f"need warmup >= 0, decay >= 1 and warmup + decay <= total_iters; "
                f"got warmup={warmup}, decay={decay}, total_iters={total_iters}"
            )
        self.warmup = int(warmup)
        self.decay = int(decay)
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        f = trapezoid_factor(self.last_epoch, self.warmup, self.decay, self.total_iters)
        return [base_lr * f for base_lr in self.base_lrs]
