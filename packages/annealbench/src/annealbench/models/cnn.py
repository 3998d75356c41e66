"""Image classifiers: a compact airbench-style CNN and the article's small tutorial CNN."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


class ConvGroup(nn.Module):
    """conv -> maxpool -> BN -> activation (pooling before BN, as airbench does, halves BN cost)."""

    def __init__(self, c_in: int, c_out: int, convs: int, momentum: float, activation: str = "relu"):
        super().__init__()
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(c_out, momentum=momentum),
            act(),
        ]
        for _ in range(convs - 1):
            layers += [
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out, momentum=momentum),
                act(),
            ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AirbenchCNN(nn.Module):
    """Stem conv, one pooled group per width, global max-pool, linear head.

    Global (adaptive) max-pooling instead of airbench's fixed MaxPool(3) lets the same net take
    16x16 synthetic images and 32x32 CIFAR images.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        widths: Sequence[int] = (64, 128, 256),
        batchnorm_momentum: float = 0.4,
        convs_per_block: int = 1,
        activation: str = "relu",  # the registry's default says why
    ):
        super().__init__()
        stem_width = widths[0] // 2 if widths[0] >= 2 else widths[0]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_width, momentum=batchnorm_momentum),
            ACTIVATIONS[activation](),
        )
        groups = []
        c_in = stem_width
        for width in widths:
            groups.append(ConvGroup(c_in, width, convs_per_block, batchnorm_momentum, activation))
            c_in = width
        self.groups = nn.Sequential(*groups)
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(c_in, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.groups(self.stem(x))
        return self.head(self.pool(x).flatten(1))


class ArticleCNN(nn.Module):
    """conv(32)-ReLU-pool, conv(64)-ReLU-pool, fc(hidden)-ReLU, fc(classes): the textbook baseline."""

    def __init__(self, num_classes: int, image_size: int, in_channels: int = 3, hidden: int = 256):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
