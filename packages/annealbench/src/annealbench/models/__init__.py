"""Model registry: name -> declared kwargs and a builder that needs the task's shapes; or a
user's factory by import path (``models.user``).

Builders construct on the CPU from the global torch RNG, so the same seed gives the same
initial weights whatever device the task later moves the model to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from annealbench.errors import WHOLE, AnnealbenchError, Problem
from annealbench.models import user
from annealbench.models.cnn import ACTIVATIONS, AirbenchCNN, ArticleCNN
from annealbench.models.kwargs import (
    Kwarg,
    bool_kw,
    check_kwargs,
    float_kw,
    int_kw,
    int_list_kw,
    resolve_kwargs,
)
from annealbench.models.lstm import LSTMLanguageModel
from annealbench.user_code import Registry, is_path


@dataclass(frozen=True)
class ModelInfo:
    """kind "image" builders receive num_classes, image_size, in_channels; "sequence" ones vocab_size."""

    kind: str
    kwargs: dict[str, Kwarg]
    build: Callable[..., nn.Module]
    cross_check: Callable[[dict], str | None] | None = None


def _airbench(*, num_classes, in_channels, image_size, widths, batchnorm_momentum, convs_per_block,
              activation):
    return AirbenchCNN(num_classes, in_channels, widths, batchnorm_momentum, convs_per_block,
                       activation)


def _article(*, num_classes, in_channels, image_size, hidden):
    return ArticleCNN(num_classes, image_size, in_channels, hidden)


def _lstm(*, vocab_size, **kwargs):
    return LSTMLanguageModel(vocab_size, **kwargs)


def _lstm_tying(kwargs: dict) -> str | None:
    if kwargs["tie_weights"] and kwargs["emb"] != kwargs["hidden"]:
        return f"tie_weights needs emb == hidden, got emb {kwargs['emb']} and hidden {kwargs['hidden']}"
    return None


MODELS: dict[str, ModelInfo] = {
    "airbench-cnn": ModelInfo(
        "image",
        {
            "widths": int_list_kw([64, 128, 256]),
            "batchnorm_momentum": float_kw(0.4, lo=0, hi=1, lo_open=True),
            "convs_per_block": int_kw(1, lo=1, hi=2),
            # ReLU by measured time-to-accuracy: quick CIFAR-10 budget (widths 16/32/64, batch 128,
            # 5,000 images, bf16, 1 thread), SGD 0.01 and Adam 1e-3, 5 seeds each: ReLU trains
            # 1.12x the images per CPU-second of GELU (2,631 vs 2,358) and reaches validation
            # accuracy 0.40 / 0.45 / 0.48 in 0.97 / 0.94 / 0.90x GELU's time (geometric means of
            # the paired seeds; faster in 8, 6, 7 of 10). GELU learns a little more per epoch:
            # +0.008 final accuracy after 6 epochs (95% t-interval +0.002 to +0.014).
            "activation": Kwarg((str,), "relu", "one of 'relu', 'gelu'",
                                lambda v: isinstance(v, str) and v in ACTIVATIONS),
        },
        _airbench,
    ),
    "article-cnn": ModelInfo("image", {"hidden": int_kw(256, lo=1)}, _article),
    "lstm": ModelInfo(
        "sequence",
        {
            "emb": int_kw(128, lo=1),
            "hidden": int_kw(256, lo=1),
            "layers": int_kw(2, lo=1),
            "dropout": float_kw(0.2, lo=0, hi=1, hi_open=True),
            "tie_weights": bool_kw(False),
        },
        _lstm,
        _lstm_tying,
    ),
}


def models_of(kind: str) -> tuple[str, ...]:
    """The registered models a task of this kind ("image" | "sequence") can train."""
    return tuple(name for name, info in MODELS.items() if info.kind == kind)


def _check_builtin(info: ModelInfo, kwargs: dict) -> Problem | None:
    problem = check_kwargs(info.kwargs, kwargs)
    if problem is None and info.cross_check is not None:
        phrase = info.cross_check(resolve_kwargs(info.kwargs, kwargs))
        problem = None if phrase is None else Problem(WHOLE, phrase)
    return problem


REGISTRY = Registry(
    MODELS, _check_builtin, user.find_problem,
    lambda name: f"unknown model {name!r}; allowed: {', '.join(MODELS)} or 'package.module:callable'")


def check_model_kwargs(name: str, kwargs: dict) -> str | None:
    """None if `name` exists and takes `kwargs`, else a short phrase saying what is allowed."""
    return REGISTRY.check(name, kwargs)


def build_model(name: str, kwargs: dict, **shapes) -> nn.Module:
    """A new model on the CPU; `shapes` are what the task knows (num_classes, vocab_size, ...)."""
    problem = check_model_kwargs(name, kwargs)
    if problem is not None:
        raise AnnealbenchError(f"model {name}: {problem}")
    if is_path(name):
        return user.build(name, kwargs, shapes)
    return MODELS[name].build(**shapes, **resolve_kwargs(MODELS[name].kwargs, kwargs))
