"""Models named by import path: ``[model] name = "pkg.mod:callable"`` plus its keyword arguments.

The callable returns an ``nn.Module``. Of the shapes the task knows (``num_classes``,
``in_channels``, ``image_size`` for images, ``vocab_size`` for text) it receives those its
signature names explicitly; a ``**kwargs`` does not count, so a third-party factory such as
``torchvision.models:resnet18`` (which takes ``num_classes`` only through ``**kwargs``) gets none
and the study sets ``num_classes = 10`` itself.
"""

from __future__ import annotations

from torch import nn

from annealbench import user_code
from annealbench.errors import Problem
from annealbench.user_code import Signature

SHAPES = {"image": ("num_classes", "in_channels", "image_size"), "sequence": ("vocab_size",)}
ALL_SHAPES = tuple(s for names in SHAPES.values() for s in names)


def load(path: str):
    """The callable at ``path``; ValueError with the phrase a spec error shows."""
    obj = user_code.load(path)
    if not callable(obj):
        raise ValueError(f"'{path}' is a {type(obj).__name__}, not a callable returning an nn.Module")
    return obj


def check_kwargs(path: str, kwargs: dict) -> str | None:
    """None if ``path`` imports and its signature takes ``kwargs``, else a short phrase."""
    problem = find_problem(path, kwargs)
    return None if problem is None else problem.phrase


def find_problem(path: str, kwargs: dict) -> Problem | None:
    """As ``check_kwargs``, with the field to blame (errors.Problem; None: the path itself)."""
    try:
        sig = Signature(load(path))
    except ValueError as e:
        return Problem(None, str(e))
    unknown = sig.unknown(kwargs)
    if unknown:
        return Problem(unknown[0], f"takes {sig.allowed()}; got {', '.join(repr(k) for k in unknown)}")
    supplied = [k for k in kwargs if k in ALL_SHAPES and sig.takes(k)]
    if supplied:
        return Problem(supplied[0], f"{supplied[0]} is supplied by the data set (the callable names "
                                    "it); remove it from the study")
    return None


def missing(path: str, kwargs: dict, shapes: dict) -> list[str]:
    """Required arguments that neither the study nor the task supplies."""
    sig = Signature(load(path))
    return [k for k in sig.required if k not in kwargs and k not in shapes]


def build(path: str, kwargs: dict, shapes: dict) -> nn.Module:
    """Call the factory; TypeError/ValueError-free: anything it raises is the caller's to report."""
    fn = load(path)
    sig = Signature(fn)
    passed = {k: v for k, v in shapes.items() if sig.takes(k)}
    model = fn(**kwargs, **passed)
    if not isinstance(model, nn.Module):
        raise ValueError(f"'{path}' returned a {type(model).__name__}; expected a torch.nn.Module")
    return model
