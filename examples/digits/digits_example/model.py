"""A small CNN for 8x8 digits. The factory names num_classes and in_channels, so annealbench
passes the data set's values; width is the study's to set."""

from __future__ import annotations

from torch import nn


def _block(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def digits_cnn(num_classes: int, in_channels: int, width: int = 16) -> nn.Module:
    """8x8 -> conv, conv, pool -> 4x4 -> conv, pool -> 2x2 -> linear."""
    return nn.Sequential(
        *_block(in_channels, width), *_block(width, width), nn.MaxPool2d(2),
        *_block(width, 2 * width), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 4, num_classes),
    )
