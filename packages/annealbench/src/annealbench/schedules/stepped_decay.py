"""The article's hand-written scheduler: a real LRScheduler subclass with a closed-form get_lr.

Numerically it matches StepLR; it is kept as its own arm because the claim under test includes
"a custom scheduler written against the LRScheduler API behaves like the built-in one". It is
closed-form (depends only on last_epoch and base_lrs, never on the optimizer's current LR), so a
rebuilt scheduler that loads a checkpoint's state continues exactly, whatever the optimizer holds.
"""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class SteppedDecayLR(LRScheduler):
    """lr = base_lr * gamma ** (last_epoch // step_size) for each param group."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        if gamma <= 0:
            raise ValueError(f"gamma must be > 0, got {gamma}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]
