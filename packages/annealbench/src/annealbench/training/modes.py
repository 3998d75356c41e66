"""Where a run's weights are when it trains and when it is evaluated.

A schedule-free optimizer keeps two points: training steps take gradients at y (train mode), and
evaluations and checkpoints see the averaged point x (eval mode). Switching is not bitwise neutral
(y is recomputed from x and z), so every run switches at the same points: train mode at the start
of each epoch's steps, eval mode before each evaluation, which the checkpoint after it keeps.
A resume or fork then loads x with its optimizer in eval mode and switches to y exactly as the
uninterrupted run does. For optimizers without modes the switches do nothing (annealbench.optim).

BatchNorm running statistics are collected at y during training; at x they are stale. A run whose
config has ``bn_batches`` > 0 recomputes them at the evaluated point over that many training
batches before each evaluation, then puts the training-time buffers back, so the training
trajectory (and everything a checkpoint holds) is what it would be without the recomputation.
The batches come from epoch 0's order, which no training epoch uses (epochs count from 1), and
are drawn from their own generator (Task.train_batches): the training data order and the global
RNG are not touched.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from annealbench.optim import eval_mode, train_mode
from annealbench.precision import autocast

BN_EPOCH = 0  # the batch order the statistics are recomputed over: never a training epoch's


def training(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Before an epoch's training steps."""
    model.train()
    train_mode(optimizer)


@contextmanager
def evaluated_point(model: torch.nn.Module, optimizer: torch.optim.Optimizer, task, cfg: dict, amp):
    """Evaluate inside: the optimizer in eval mode (left so for the checkpoint that follows) and,
    when ``cfg["bn_batches"]`` asks, BatchNorm statistics recomputed there, restored on exit."""
    eval_mode(optimizer)
    batches = cfg.get("bn_batches", 0)
    norms = batch_norms(model)
    if not batches or not norms:
        yield
        return
    saved = [_buffers(m) for m in norms]
    try:
        recompute_bn(model, norms, task, batches, cfg["seed"], amp)
        yield
    finally:
        for m, buffers in zip(norms, saved):
            _load_buffers(m, buffers)


def batch_norms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


def recompute_bn(model, norms, task, batches: int, seed: int, amp) -> None:
    """The running statistics of ``norms`` set to the plain average over ``batches`` training
    batches at the model's current weights (as torch.optim.swa_utils.update_bn). The rest of the
    model stays in eval mode (no dropout noise, no RNG drawn)."""
    was_training = model.training
    momenta = {m: m.momentum for m in norms}
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average: every batch weighs the same
        m.train()
    try:
        with torch.no_grad():
            for i, batch in enumerate(task.train_batches(BN_EPOCH, seed)):
                if i >= batches:
                    break
                with autocast(*amp):
                    task.train_loss(model, batch)
    finally:
        for m in norms:
            m.momentum = momenta[m]
        model.train(was_training)


def _buffers(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: b.detach().clone() for n, b in m.named_buffers(recurse=False) if b is not None}


def _load_buffers(m: torch.nn.Module, saved: dict[str, torch.Tensor]) -> None:
    for n, b in m.named_buffers(recurse=False):
        if n in saved:
            b.copy_(saved[n])
