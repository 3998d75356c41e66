"""A user's package for tests: pieces a study names by import path ("abkit:..."). The tests copy
this file beside the study they write, as a user would keep it beside theirs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from annealbench.tasks import Task, epoch_generator

CALLS = {"images": 0}


def tiny_net(num_classes, in_channels, width=4):
    """Names both image shapes: annealbench passes them."""
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def images(data_dir, n_train=48, n_val=16, n_test=16, dtype="uint8", seed=0):
    """Two classes told apart by brightness, N x 1 x 8 x 8, as numpy arrays."""
    CALLS["images"] += 1
    rng = np.random.default_rng(seed)

    def split(n):
        y = np.arange(n) % 2
        x = rng.normal(96 + 64 * y[:, None, None, None], 20, size=(n, 1, 8, 8)).clip(0, 255)
        x = x.astype(np.uint8) if dtype == "uint8" else (x / 255).astype(np.float32)
        return x, y.astype(np.int64)

    return {"train": split(n_train), "val": split(n_val), "test": split(n_test)}


def tokens(data_dir, n=3000, vocab=5, level="char"):
    """A cyclic sequence 0, 1, ..., vocab-1, 0, ... with a little noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(0)
    ids = torch.arange(n) % vocab
    noise = torch.rand(n, generator=g) < 0.05
    ids = torch.where(noise, torch.randint(0, vocab, (n,), generator=g), ids)
    a, b = int(n * 0.8), int(n * 0.9)
    return {"train": ids[:a], "val": ids[a:b], "test": ids[b:], "vocab_size": vocab, "level": level}


class Bigram(nn.Module):
    """A stateless text model: forward(tokens) -> logits."""

    def __init__(self, vocab_size):
        super().__init__()
        self.table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, x):
        return self.table(x)


def bigram(vocab_size):
    return Bigram(vocab_size)


class Regression(Task):
    """A Task subclass of its own: noisy linear regression, metrics loss and mae."""

    metrics = {"loss": "min", "mae": "min"}
    item_unit = "pt"

    def __init__(self, *, data_dir, device, batch_size, n=256, features=3):
        super().__init__(dataset="abkit:Regression", device=device, batch_size=batch_size,
                         model_shapes={"features": features}, files=[])
        g = torch.Generator().manual_seed(1)
        w = torch.randn(features, 1, generator=g)
        self.x = {s: torch.randn(n, features, generator=g) for s in ("train", "val", "test")}
        self.y = {s: x @ w + 0.1 * torch.randn(n, 1, generator=g) for s, x in self.x.items()}

    def steps_per_epoch(self):
        return len(self.x["train"]) // self.batch_size

    def train_batches(self, epoch, seed):
        order = torch.randperm(len(self.x["train"]), generator=epoch_generator(seed, epoch))
        for i in range(self.steps_per_epoch()):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.x["train"][idx].to(self.device), self.y["train"][idx].to(self.device)

    def train_loss(self, model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y), len(x)

    def evaluate(self, model, split):
        with torch.no_grad():
            pred = model(self.x[split].to(self.device)).cpu()
        err = pred - self.y[split]
        return {"loss": float((err ** 2).mean()), "mae": float(err.abs().mean())}


def linear(features):
    return nn.Linear(features, 1)


class HalfSGD(torch.optim.SGD):
    """A user's optimizer: SGD at half the LR it is given (so its effect is visible)."""

    def __init__(self, params, lr=0.1, momentum=0.0):
        super().__init__(params, lr=lr, momentum=momentum)

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.mul_(0.5)
        return super().step(closure)
