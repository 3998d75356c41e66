"""Model shapes, kwargs checking and seeded initialisation."""

from __future__ import annotations

import pytest
import torch

from annealbench.errors import AnnealbenchError
from annealbench.models import MODELS, build_model, check_model_kwargs

IMAGE = {"num_classes": 7, "in_channels": 3}


@pytest.mark.parametrize("name,kwargs", [("airbench-cnn", {"widths": [8, 16, 32]}), ("article-cnn", {})])
@pytest.mark.parametrize("size", [16, 32])
def test_image_models_output_shape(name, kwargs, size):
    model = build_model(name, kwargs, image_size=size, **IMAGE)
    assert model(torch.randn(5, 3, size, size)).shape == (5, 7)


def test_airbench_cnn_variants():
    two = build_model("airbench-cnn", {"widths": [8, 16], "convs_per_block": 2}, image_size=16, **IMAGE)
    one = build_model("airbench-cnn", {"widths": [8, 16]}, image_size=16, **IMAGE)
    count = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert count(two) == count(one) + 2
    assert two(torch.randn(2, 3, 16, 16)).shape == (2, 7)
    bn = next(m for m in one.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert bn.momentum == pytest.approx(0.4)


def test_lstm_shapes_and_hidden():
    model = build_model("lstm", {"emb": 12, "hidden": 20, "layers": 2}, vocab_size=30)
    x = torch.randint(0, 30, (4, 9))
    logits, (h, c) = model(x)
    assert logits.shape == (4, 9, 30)
    assert h.shape == c.shape == (2, 4, 20)
    logits2, _ = model(x, (h, c))
    assert logits2.shape == (4, 9, 30)


def test_lstm_tied_weights():
    model = build_model("lstm", {"emb": 16, "hidden": 16, "tie_weights": True}, vocab_size=11)
    assert model.decoder.weight is model.encoder.weight
    assert check_model_kwargs("lstm", {"tie_weights": True}) == (
        "tie_weights needs emb == hidden, got emb 128 and hidden 256"
    )


@pytest.mark.parametrize(
    "name,kwargs,shapes",
    [
        ("airbench-cnn", {"widths": [8, 16]}, {"image_size": 16, **IMAGE}),
        ("article-cnn", {"hidden": 32}, {"image_size": 16, **IMAGE}),
        ("lstm", {"emb": 8, "hidden": 8}, {"vocab_size": 13}),
    ],
)
def test_init_is_a_function_of_the_global_seed(name, kwargs, shapes):
    def weights(seed):
        torch.manual_seed(seed)
        return [p.detach().clone() for p in build_model(name, kwargs, **shapes).parameters()]

    a, b, c = weights(3), weights(3), weights(4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_check_model_kwargs_messages():
    assert check_model_kwargs("airbench-cnn", {"widths": [16, 32]}) is None
    assert check_model_kwargs("resnet", {}) == (
        "unknown model 'resnet'; allowed: " + ", ".join(MODELS) + " or 'package.module:callable'")
    assert check_model_kwargs("airbench-cnn", {"width": [1]}).startswith("takes widths, batchnorm_momentum")
    assert check_model_kwargs("airbench-cnn", {"widths": []}) == (
        "widths must be a non-empty list of ints >= 1, got []"
    )
    assert "dropout must be a number >= 0 and < 1" in check_model_kwargs("lstm", {"dropout": 1.0})
    assert "layers must be an int >= 1" in check_model_kwargs("lstm", {"layers": 1.5})
    with pytest.raises(AnnealbenchError, match="model lstm: hidden"):
        build_model("lstm", {"hidden": 0}, vocab_size=5)
