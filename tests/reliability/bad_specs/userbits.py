"""Broken user pieces for the bad-spec corpus (each named by one *.toml here by import path)."""

from __future__ import annotations

import torch
from torch import nn

from annealbench.tasks import Task


def tiny_net(num_classes, in_channels, width=4):
    return nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(width, num_classes))


def needs_depth(num_classes, depth):
    return tiny_net(num_classes, 1)


def raising_model(num_classes):
    raise RuntimeError("out of ideas")


def not_a_module(num_classes):
    return {"weights": torch.zeros(3)}


def wrong_logits(num_classes):
    return tiny_net(3, 1)  # 3 outputs, whatever num_classes says


def frozen(num_classes):
    return tiny_net(num_classes, 1).requires_grad_(False)


def _images(n, channels=1, size=8):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    return x, torch.arange(n) % 2


def images(data_dir, n_train=64, channels=1):
    return {s: _images(n, channels) for s, n in (("train", n_train), ("val", 16), ("test", 16))}


def raising_data(data_dir):
    raise FileNotFoundError(f"{data_dir}/digits.npz")


def a_list(data_dir):
    return [_images(8), _images(8), _images(8)]


def flat_images(data_dir):
    x, y = _images(16)
    return {"train": (x.flatten(1), y), "val": (x.flatten(1), y), "test": (x.flatten(1), y)}


def short_labels(data_dir):
    x, y = _images(16)
    return {"train": (x, y[:10]), "val": (x, y), "test": (x, y)}


def tokens_over_vocab(data_dir):
    ids = torch.arange(400) % 7
    return {"train": ids, "val": ids[:50], "test": ids[:50], "vocab_size": 5}


class NotAnOptimizer:
    def __init__(self, params, lr=0.1):
        self.params = list(params)


class NoLossTask(Task):
    metrics = {"mae": "min"}
    item_unit = "pt"

    def __init__(self, *, data_dir, device, batch_size):
        super().__init__(dataset="NoLossTask", device=device, batch_size=batch_size,
                         model_shapes={}, files=[])

    def steps_per_epoch(self):
        return 1

    def train_batches(self, epoch, seed):
        yield torch.zeros(1)

    def train_loss(self, model, batch):
        return model(batch).sum(), 1

    def evaluate(self, model, split):
        return {"mae": 0.0}
