"""Multiplicative LR factors for LambdaLR.

Callable objects rather than lambdas: a lambda cannot be pickled, and LambdaLR.state_dict() only
saves the state of callables that are not plain functions, so the runner's checkpoints stay
self-describing (the factor's parameters are in the scheduler state, and loading them into a
rebuilt scheduler restores them).
"""

from __future__ import annotations


class ConstantFactor:
    """The fixed-LR baseline: factor 1 at every step."""

    def __call__(self, t: int) -> float:
        return 1.0

    def __repr__(self) -> str:
        return "ConstantFactor()"


class LinearFactor:
    """1 - (1 - final_factor) * t / total_iters, held at final_factor once t >= total_iters.

    With total_iters = run length this is the article's `lambda t: 1.0 - 0.9 * t / max_epoch`
    (final_factor = 0.1): the last applied LR is just above final_factor * base, and final_factor is
    reached where the run would take its next step. Holding rather than extrapolating keeps a
    shortened decay ({frac = x} < 1) from going negative.
    """

    def __init__(self, final_factor: float, total_iters: int) -> None:
        if total_iters < 1:
            raise ValueError(f"total_iters must be >= 1, got {total_iters}")
        self.final_factor = float(final_factor)
        self.total_iters = int(total_iters)

    def __call__(self, t: int) -> float:
        return 1.0 - (1.0 - self.final_factor) * min(t, self.total_iters) / self.total_iters

    def __repr__(self) -> str:
        return f"LinearFactor(final_factor={self.final_factor}, total_iters={self.total_iters})"
