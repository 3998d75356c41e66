"""Optimizers named in study specs, built from torch.optim."""

from __future__ import annotations

import torch

_CLASSES = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_optimizer(type_: str, params, lr: float, kwargs: dict) -> torch.optim.Optimizer:
    kwargs = dict(kwargs)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    return _CLASSES[type_](params, lr=lr, **kwargs)
