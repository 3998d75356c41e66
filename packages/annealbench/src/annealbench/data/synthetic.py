"""Generated data sets that small models learn in seconds, for tests and smoke studies.

Everything is drawn from numpy's PCG64 seeded by the `seed` kwarg, so a data set is a pure
function of its kwargs (independent of the run seed, the device and the global RNGs).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from annealbench.data.images import ImageSet
from annealbench.data.text import TokenSplits, split_90_5_5

PROTOTYPE_GRID = 4  # prototypes are smooth: a 4x4 random pattern upsampled to the image size


def synthetic_images(
    *, n_train: int, n_val: int, n_test: int, image_size: int, num_classes: int, noise: float, seed: int
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Class-conditional uint8 RGB images: a per-class smooth prototype plus pixel noise.

    Stored as uint8 like CIFAR-10 so normalisation and augmentation take the same path.
    """
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.standard_normal((num_classes, 3, PROTOTYPE_GRID, PROTOTYPE_GRID)))
    protos = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    protos = protos / protos.flatten(1).std(1).view(-1, 1, 1, 1)

    def draw(n: int) -> ImageSet:
        labels = torch.from_numpy(rng.permutation(np.arange(n) % num_classes).astype(np.int64))
        pixels = torch.from_numpy(rng.standard_normal((n, 3, image_size, image_size)))
        images = 128 + 40 * (protos[labels] + noise * pixels)
        return ImageSet(images.round().clamp(0, 255).to(torch.uint8), labels)

    return draw(n_train), draw(n_val), draw(n_test)


def symbol_names(vocab_size: int) -> list[str]:
    return [chr(ord("a") + i) if i < 26 else f"<{i}>" for i in range(vocab_size)]


def synthetic_text(*, n_chars: int, vocab_size: int, order: int, alpha: float, seed: int) -> TokenSplits:
    """A sample path of a fixed random order-`order` Markov chain, split 90/5/5 like Tiny Shakespeare.

    Each context's next-symbol distribution is Dirichlet(alpha): small alpha makes the text more
    predictable (lower entropy rate), alpha -> inf approaches uniform noise.
    """
    rng = np.random.default_rng(seed)
    contexts = vocab_size**order
    cdf = np.cumsum(rng.dirichlet(np.full(vocab_size, alpha), size=contexts), axis=1)
    cdf[:, -1] = 1.0  # guard against rounding leaving u > cdf[-1]
    uniforms = rng.random(n_chars)
    ids = np.empty(n_chars, dtype=np.int64)
    ids[:order] = rng.integers(0, vocab_size, order)
    context = 0
    for i in range(order):
        context = context * vocab_size + int(ids[i])
    for i in range(order, n_chars):
        symbol = int(np.searchsorted(cdf[context], uniforms[i], side="right"))
        symbol = min(symbol, vocab_size - 1)
        ids[i] = symbol
        context = (context * vocab_size + symbol) % contexts
    return TokenSplits(*split_90_5_5(torch.from_numpy(ids)), vocab=symbol_names(vocab_size), level="char")
