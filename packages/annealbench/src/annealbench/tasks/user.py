"""Data sets named by import path: ``[dataset] name = "pkg.mod:callable"`` or ``"pkg.mod:MyTask"``.

A callable is called as ``callable(data_dir, **kwargs)`` and returns a mapping with "train",
"val" and "test":

- images: each an ``(x, y)`` pair, x uint8 or float of shape N x C x H x W (every split the same
  C, H, W), y integer class labels of shape N; optional "num_classes" (else max label + 1);
- text: each a 1-D tensor of token ids, plus "vocab_size" (ids in [0, vocab_size)); optional
  "level": "char" (reports bits per character) or "word" (perplexity, the default).

Tensors or numpy arrays. The built-in classification and language-model tasks then batch, augment
and evaluate them as they do CIFAR-10 and Tiny Shakespeare. Two keys of ``[dataset]`` are
annealbench's and not passed on: ``augment`` (images: seeded crop + flip, default false) and
``bptt`` (text: window length, default 128).

A ``Task`` subclass is constructed as ``MyTask(data_dir=..., device=..., batch_size=...,
**kwargs)`` and does everything itself (see ``annealbench.tasks.Task``).

The callable's result is kept for the last (callable, kwargs, data_dir) asked for, so the study's
check before training and the training itself call it once.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass

import numpy as np
import torch

from annealbench import user_code
from annealbench.data.images import ImageSet
from annealbench.data.text import TokenSplits
from annealbench.errors import Problem
from annealbench.models.kwargs import Kwarg, bool_kw, int_kw
from annealbench.user_code import PieceError, Signature

SPLITS = ("train", "val", "test")
RESERVED: dict[str, Kwarg] = {"augment": bool_kw(False), "bptt": int_kw(128, lo=1)}
KIND_KEYS = {"image": "augment", "sequence": "bptt"}
TASK_ARGS = ("data_dir", "device", "batch_size")
EXTRA_KEYS = {"image": {"num_classes"}, "sequence": {"vocab_size", "level"}}
CONTRACT = ("a mapping with 'train', 'val' and 'test': (x, y) image pairs, or 1-D token-id tensors "
            "plus 'vocab_size'")


@dataclass(frozen=True)
class UserData:
    kind: str  # "image" | "sequence"
    splits: dict  # split -> ImageSet | 1-D int64 tensor
    size: int  # num_classes or vocab_size
    level: str = "word"


def load_source(path: str):
    """The callable or Task subclass at ``path`` (ValueError phrase if neither)."""
    from annealbench.tasks import Task

    obj = user_code.load(path)
    if isinstance(obj, type) and not issubclass(obj, Task):
        raise ValueError(f"'{path}' is a class but not an annealbench.tasks.Task subclass; expected "
                         "that or a callable returning " + CONTRACT)
    if not callable(obj):
        raise ValueError(f"'{path}' is a {type(obj).__name__}; expected a callable returning {CONTRACT}")
    return obj


def is_task_class(obj) -> bool:
    return isinstance(obj, type)


def split_kwargs(kwargs: dict) -> tuple[dict, dict]:
    """(the callable's kwargs, annealbench's reserved ones)."""
    return ({k: v for k, v in kwargs.items() if k not in RESERVED},
            {k: v for k, v in kwargs.items() if k in RESERVED})


def check_kwargs(path: str, kwargs: dict) -> str | None:
    """None if ``path`` imports and takes ``kwargs``, else a short phrase saying what is allowed."""
    problem = find_problem(path, kwargs)
    return None if problem is None else problem.phrase


def find_problem(path: str, kwargs: dict) -> Problem | None:
    """As ``check_kwargs``, with the field to blame (errors.Problem; None: the path itself)."""
    try:
        obj = load_source(path)
    except ValueError as e:
        return Problem(None, str(e))
    if is_task_class(obj):
        sig = Signature(obj, skip=TASK_ARGS)
        own = kwargs
    else:
        sig = Signature(obj, first=True)
        if not sig.takes_first:
            return Problem(None, "must take the data directory as its first positional argument")
        own, reserved = split_kwargs(kwargs)
        for key, value in reserved.items():
            if not RESERVED[key].accepts(value):
                return Problem(key, f"{key} must be {RESERVED[key].constraint}, got {value!r}")
            if sig.takes(key):
                return Problem(key, f"{key} is annealbench's key (not passed to the callable); "
                                    "rename the callable's argument")
    unknown = sig.unknown(own)
    if unknown:
        return Problem(unknown[0], f"takes {sig.allowed()}; got {', '.join(repr(k) for k in unknown)}")
    missing = [k for k in sig.required if k not in own]
    if missing:
        return Problem(missing[0], f"requires {', '.join(missing)}")
    return None


_LAST: list = []  # [(key, UserData)]: at most one entry


def load_data(path: str, kwargs: dict, data_dir: pathlib.Path) -> UserData:
    """Call the data set callable once per (callable, kwargs, data_dir); PieceError if its result
    breaks the contract (the message says what was returned and what was expected)."""
    fn = load_source(path)
    own, _ = split_kwargs(kwargs)
    key = (fn, json.dumps(own, sort_keys=True, default=str), str(pathlib.Path(data_dir).resolve()))
    if _LAST and _LAST[0][0] == key:
        return _LAST[0][1]
    try:
        raw = fn(data_dir, **own)
    except Exception as e:  # the user's code: any failure is reported, in one line
        raise PieceError(f"'{path}' raised {type(e).__name__}: {user_code.one_line(e)}") from None
    data = validate_mapping(path, raw)
    _LAST[:] = [(key, data)]
    return data


def validate_mapping(path: str, raw) -> UserData:
    if not hasattr(raw, "keys") or not hasattr(raw, "__getitem__"):
        raise PieceError(f"'{path}' returned a {type(raw).__name__}; expected {CONTRACT}")
    missing = [s for s in SPLITS if s not in raw]
    if missing:
        raise PieceError(f"'{path}' returned a mapping without {', '.join(map(repr, missing))}; "
                         f"expected {CONTRACT}")
    kind = "image" if isinstance(raw["train"], tuple | list) else "sequence"
    allowed = set(SPLITS) | EXTRA_KEYS[kind]
    extra = sorted(str(k) for k in raw.keys() if k not in allowed)
    if extra:
        raise PieceError(f"'{path}' returned keys {', '.join(map(repr, extra))}; a {kind} data set "
                         f"has {', '.join(map(repr, sorted(allowed)))}")
    return _images(path, raw) if kind == "image" else _tokens(path, raw)


def _tensor(path: str, value, what: str) -> torch.Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if not isinstance(value, torch.Tensor):
        raise PieceError(f"'{path}' returned {what} as a {type(value).__name__}; expected a tensor "
                         "or numpy array")
    return value.detach().cpu()


def _count(path: str, value, what: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise PieceError(f"'{path}' returned {what} = {value!r}; expected an integer >= {lo}")
    return int(value)


def _images(path: str, raw) -> UserData:
    splits = {}
    layout = None
    kinds = set()
    for s in SPLITS:
        pair = raw[s]
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise PieceError(f"'{path}' returned {s!r} as a {type(pair).__name__}; expected an (x, y) "
                             "pair like 'train'")
        x = _tensor(path, pair[0], f"{s} x")
        y = _tensor(path, pair[1], f"{s} y")
        if x.dim() != 4 or not (x.dtype == torch.uint8 or x.is_floating_point()):
            raise PieceError(f"'{path}' returned {s} x of shape {tuple(x.shape)} and dtype "
                             f"{x.dtype}; expected uint8 or float images of shape N x C x H x W")
        if layout is not None and tuple(x.shape[1:]) != layout:
            raise PieceError(f"'{path}' returned {s} images of C x H x W {tuple(x.shape[1:])}; "
                             f"train has {layout}")
        layout = tuple(x.shape[1:])
        kinds.add(x.dtype == torch.uint8)
        if y.dim() != 1 or len(y) != len(x) or len(y) == 0 or y.is_floating_point() \
                or y.dtype == torch.bool or y.is_complex():
            raise PieceError(f"'{path}' returned {s} y of shape {tuple(y.shape)} and dtype {y.dtype} "
                             f"for {len(x)} images; expected {len(x) or 'N >= 1'} integer labels")
        if x.is_floating_point() and not torch.isfinite(x).all():
            raise PieceError(f"'{path}' returned {s} x with NaN or infinite values")
        x = x if x.dtype == torch.uint8 else x.float()
        splits[s] = ImageSet(x.contiguous(), y.to(torch.int64))
    if len(kinds) > 1:
        raise PieceError(f"'{path}' returned uint8 images in some splits and float in others; "
                         "expected one dtype")
    labels = torch.cat([splits[s].y for s in SPLITS])
    lo = int(labels.min())
    hi = int(labels.max())
    declared = raw.get("num_classes")
    n = hi + 1 if declared is None else _count(path, declared, "num_classes", 2)
    if lo < 0 or hi >= n or n < 2:
        raise PieceError(f"'{path}' returned labels in [{lo}, {hi}]; expected class indices in "
                         f"[0, num_classes - 1] with num_classes >= 2"
                         + ("" if declared is None else f" (num_classes = {n})"))
    return UserData("image", splits, n)


def _tokens(path: str, raw) -> UserData:
    vocab = _count(path, raw.get("vocab_size"), "vocab_size", 2)
    level = raw.get("level", "word")
    if level not in ("char", "word"):
        raise PieceError(f"'{path}' returned level = {level!r}; expected 'char' or 'word'")
    splits = {}
    for s in SPLITS:
        ids = _tensor(path, raw[s], s)
        if ids.dim() != 1 or ids.is_floating_point() or ids.dtype == torch.bool or ids.is_complex():
            raise PieceError(f"'{path}' returned {s} of shape {tuple(ids.shape)} and dtype {ids.dtype}; "
                             "expected a 1-D tensor of integer token ids")
        if len(ids) < 2:  # one input and its next token
            raise PieceError(f"'{path}' returned {len(ids)} {s} tokens; expected at least 2")
        if int(ids.min()) < 0 or int(ids.max()) >= vocab:
            raise PieceError(f"'{path}' returned {s} ids in [{int(ids.min())}, {int(ids.max())}]; "
                             f"expected ids in [0, vocab_size - 1] = [0, {vocab - 1}]")
        splits[s] = ids.to(torch.int64).contiguous()
    return UserData("sequence", splits, vocab, level)


def check_reserved(path: str, kwargs: dict, kind: str) -> None:
    """A reserved key of the other kind (``bptt`` for images, ``augment`` for text) is a mistake."""
    other = KIND_KEYS["sequence" if kind == "image" else "image"]
    if other in kwargs:
        returned = "images" if kind == "image" else "token ids"
        raise PieceError(f"{other} applies to {'text' if other == 'bptt' else 'image'} data sets; "
                         f"'{path}' returned {returned}", key=other)


def _float_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # normalise() works in uint8 units ((x - 255 mean) / (255 std)), so float stats are scaled to
    # match; the floor only guards a constant channel against a division by zero.
    values = x.transpose(0, 1).reshape(x.shape[1], -1)
    return values.mean(1) / 255, values.std(1).clamp_min(1e-12) / 255


def build_task(path: str, kwargs: dict, *, data_dir: pathlib.Path, device: torch.device,
               batch_size: int):
    """The Task for a user data set; ValueError (PieceError) where the user's code breaks the contract."""
    obj = load_source(path)
    if is_task_class(obj):
        try:
            return obj(data_dir=data_dir, device=device, batch_size=batch_size, **kwargs)
        except Exception as e:
            raise PieceError(f"'{path}' raised {type(e).__name__}: {user_code.one_line(e)}") from None
    data = load_data(path, kwargs, data_dir)
    check_reserved(path, kwargs, data.kind)
    _, reserved = split_kwargs(kwargs)
    if data.kind == "image":
        from annealbench.data.images import channel_stats
        from annealbench.tasks.classification import ImageClassificationTask

        train = data.splits["train"]
        mean, std = channel_stats(train.x) if train.x.dtype == torch.uint8 else _float_stats(train.x)
        return ImageClassificationTask(
            dataset=path, train=train, val=data.splits["val"], test=data.splits["test"],
            num_classes=data.size, mean=mean, std=std,
            augment=reserved.get("augment", RESERVED["augment"].default),
            device=device, batch_size=batch_size, files=[])
    from annealbench.tasks.language_model import LanguageModelTask

    corpus = TokenSplits(data.splits["train"], data.splits["val"], data.splits["test"],
                         vocab=[str(i) for i in range(data.size)], level=data.level)
    return LanguageModelTask(dataset=path, corpus=corpus,
                             bptt=reserved.get("bptt", RESERVED["bptt"].default),
                             device=device, batch_size=batch_size, files=[], source=path)

