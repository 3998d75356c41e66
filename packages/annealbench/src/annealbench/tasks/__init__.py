"""Tasks: a data set plus how to batch it, compute the training loss and evaluate.

The runner only talks to `Task`; `make_task` builds one from a study's dataset name and kwargs:
a registered data set (`DATASETS`), or a user's by import path (`tasks.user`: a callable
returning tensors, batched by the built-in tasks, or a `Task` subclass).
Batch order and augmentation depend only on (seed, epoch), never on the global RNG, so every
schedule arm of a study sees the same data stream (a paired comparison) and a resumed run
replays exactly the batches it would have seen.
"""

from __future__ import annotations

import os
import pathlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from annealbench.data.text import HELDOUT_LAYOUTS
from annealbench.errors import AnnealbenchError, DataError
from annealbench.models import MODELS, build_model, models_of
from annealbench.models.kwargs import (
    Kwarg,
    bool_kw,
    check_kwargs,
    choice_kw,
    float_kw,
    int_kw,
    resolve_kwargs,
)
from annealbench.user_code import Registry, is_path


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for one (seed, epoch); SeedSequence mixing keeps nearby pairs uncorrelated.

    On the CPU so that batches are the same whichever device trains on them.
    """
    state = np.random.SeedSequence([seed & (2**64 - 1), epoch]).generate_state(1, np.uint64)[0]
    generator = torch.Generator()
    generator.manual_seed(int(state))
    return generator


class Task(ABC):
    """What the runner trains on: a public contract, so a study can name a subclass by import path.

    A subclass named as ``[dataset] name = "pkg.mod:MyTask"`` is constructed as
    ``MyTask(data_dir=Path, device=torch.device, batch_size=int, **the [dataset] kwargs)`` and
    calls ``super().__init__`` with its name, device, batch size, the shapes its models receive
    (``model_shapes``, e.g. ``{"num_classes": 10}``) and the files it read (for checksums). It sets:

    - ``metrics``: {name: "max" | "min"} that ``evaluate`` returns; must include "loss" (the
      validation loss drives ``ReduceLROnPlateau``);
    - ``item_unit``: what ``train_loss`` counts ("img", "tok", ...), for throughput;
    - ``model_kind`` (optional): "image" or "sequence", which registered models fit it.

    Its methods must keep the pairing: ``train_batches(epoch, seed)`` yields the same batches for
    the same (seed, epoch) whatever else ran before (draw from ``epoch_generator``), never from
    the global RNG, which the runner seeds for model initialisation and dropout.
    """

    metrics: dict[str, str]  # metric name -> "max" | "min"
    item_unit: str  # "img" | "tok"
    model_kind: str | None = None  # "image" | "sequence": which registered models fit

    def __init__(self, *, dataset: str, device: torch.device, batch_size: int, model_shapes: dict,
                 files: list[pathlib.Path]):
        self.dataset = dataset
        self.files = list(files)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self._model_shapes = model_shapes

    @property
    def model_shapes(self) -> dict:
        """The shapes a model factory may take (num_classes, in_channels, image_size; vocab_size)."""
        return dict(self._model_shapes)

    @abstractmethod
    def steps_per_epoch(self) -> int:
        """How many batches train_batches yields per epoch (the same for every epoch and seed)."""

    def build_model(self, name: str, kwargs: dict) -> torch.nn.Module:
        """Built on the CPU from the global torch RNG (same weights on every device), then moved."""
        info = MODELS.get(name)
        if not is_path(name) and info is not None and self.model_kind not in (None, info.kind):
            allowed = models_of(self.model_kind)
            raise AnnealbenchError(
                f"model {name!r} does not fit dataset {self.dataset}; allowed: {', '.join(allowed)} "
                "or a 'package.module:callable' path"
            )
        return build_model(name, kwargs, **self._model_shapes).to(self.device)

    @abstractmethod
    def train_batches(self, epoch: int, seed: int) -> Iterator[object]:
        """Exactly steps_per_epoch() batches on the device, fixed by (seed, epoch); resets recurrent state."""

    @abstractmethod
    def train_loss(self, model: torch.nn.Module, batch: object) -> tuple[torch.Tensor, int]:
        """(mean loss with grad, number of images or target tokens in the batch)."""

    @abstractmethod
    def evaluate(self, model: torch.nn.Module, split: str) -> dict[str, float]:
        """Every metric in self.metrics on "val" or "test", without grad; the model's mode is restored."""

    def evaluate_examples(self, model: torch.nn.Module, split: str) -> dict[str, np.ndarray] | None:
        """Optional per-example "val"/"test" outcomes, docs/own-model.md; None: seed-only intervals."""
        return None

    def data_files(self) -> list[pathlib.Path]:
        """The real files read (for checksums); [] for generated data."""
        return list(self.files)


CLASSIFICATION_METRICS = {"loss": "min", "accuracy": "max"}
CHAR_LM_METRICS = {"loss": "min", "bpc": "min"}  # loss in nats/char, bpc = loss / ln 2
WORD_LM_METRICS = {"loss": "min", "ppl": "min"}  # loss in nats/token, ppl = exp(loss)


@dataclass(frozen=True)
class Facts:
    """What is known of a data set before it is read, from its kwargs alone."""

    model_kind: str  # "image" | "sequence"
    shapes: dict | None  # what its models receive; None: only the data tells (a text's vocabulary)
    train_at_most: int | None  # an upper bound on the training split (images or tokens); None: unknown
    exact: bool = False  # train_at_most is the split's size, so steps per epoch are known


@dataclass(frozen=True)
class DatasetInfo:
    kind: str  # "classification" | "language_model"
    kwargs: dict[str, Kwarg]  # name -> Kwarg(types, default, constraint)
    models: tuple[str, ...]
    metrics: dict[str, str]  # what the task's evaluate returns, name -> "max" | "min"
    needs_data_dir: bool
    facts: Callable[[dict], Facts]  # resolved kwargs -> Facts


def _cap(*bounds: int | None) -> int | None:
    known = [b for b in bounds if b is not None]
    return min(known) if known else None


CIFAR10_TRAIN = 50_000  # images in the official training batches, before val_size is held out


def _cifar10_facts(kw: dict) -> Facts:
    shapes = {"num_classes": 10, "in_channels": 3, "image_size": 32}
    return Facts("image", shapes, _cap(CIFAR10_TRAIN - kw["val_size"], kw["train_subset"]))


def _synthetic_images_facts(kw: dict) -> Facts:
    shapes = {"num_classes": kw["num_classes"], "in_channels": 3, "image_size": kw["image_size"]}
    return Facts("image", shapes, kw["n_train"], exact=True)


def _text_facts(unit: str) -> Callable[[dict], Facts]:
    return lambda kw: Facts("sequence", None, kw[f"train_{unit}"])


def _synthetic_text_facts(kw: dict) -> Facts:
    # split_90_5_5 keeps the first 90% for training
    train = _cap(int(kw["n_chars"] * 0.9), kw["train_chars"])
    return Facts("sequence", {"vocab_size": kw["vocab_size"]}, train, exact=True)


_IMAGE_MODELS = ("airbench-cnn", "article-cnn")
_TEXT_MODELS = ("lstm",)


def _text_kwargs(unit: str, download: bool, **extra: Kwarg) -> dict[str, Kwarg]:
    kwargs = {
        "bptt": int_kw(128, lo=1),
        f"train_{unit}": int_kw(None, lo=2),
        f"eval_{unit}": int_kw(None, lo=2),
    }
    if download:
        kwargs["download"] = bool_kw(True)
    return {**kwargs, **extra}


DATASETS: dict[str, DatasetInfo] = {
    "cifar10": DatasetInfo(
        "classification",
        {
            "train_subset": int_kw(None, lo=1), "val_size": int_kw(5000, lo=1),
            "test_subset": int_kw(None, lo=1), "augment": bool_kw(True), "download": bool_kw(True),
        },
        _IMAGE_MODELS,
        CLASSIFICATION_METRICS,
        needs_data_dir=True,
        facts=_cifar10_facts,
    ),
    "synthetic-images": DatasetInfo(
        "classification",
        {
            "n_train": int_kw(512, lo=1), "n_val": int_kw(256, lo=1), "n_test": int_kw(256, lo=1),
            "image_size": int_kw(16, lo=8, hi=256),
            "num_classes": int_kw(10, lo=2),
            "noise": float_kw(3.0, lo=0),
            "augment": bool_kw(False),
            "seed": int_kw(0, lo=0),
        },
        _IMAGE_MODELS,
        CLASSIFICATION_METRICS,
        needs_data_dir=False,
        facts=_synthetic_images_facts,
    ),
    "tinyshakespeare": DatasetInfo(
        "language_model", _text_kwargs("chars", True, heldout=choice_kw("tail", HELDOUT_LAYOUTS),
                                       heldout_block=int_kw(1024, lo=1)),
        _TEXT_MODELS, CHAR_LM_METRICS, needs_data_dir=True,
        facts=_text_facts("chars"),
    ),
    "wikitext2": DatasetInfo(
        "language_model", _text_kwargs("tokens", False), _TEXT_MODELS, WORD_LM_METRICS, needs_data_dir=True,
        facts=_text_facts("tokens"),
    ),
    "synthetic-text": DatasetInfo(
        "language_model",
        {
            **_text_kwargs("chars", False),
            "n_chars": int_kw(20000, lo=200),
            "vocab_size": int_kw(16, lo=2, hi=256),
            "order": int_kw(1, lo=1, hi=3),
            "alpha": float_kw(0.2, lo=0, lo_open=True),
            "seed": int_kw(0, lo=0),
        },
        _TEXT_MODELS,
        CHAR_LM_METRICS,
        needs_data_dir=False,
        facts=_synthetic_text_facts,
    ),
}


def _check_user_data(path: str, kwargs: dict):
    from annealbench.tasks import user  # it builds on this module's Task

    return user.find_problem(path, kwargs)


REGISTRY = Registry(
    DATASETS, lambda info, kwargs: check_kwargs(info.kwargs, kwargs), _check_user_data,
    lambda name: f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)} or 'package.module:callable'")


def check_dataset_kwargs(dataset: str, kwargs: dict) -> str | None:
    """None if `dataset` exists and takes `kwargs`, else a short phrase saying what is allowed."""
    return REGISTRY.check(dataset, kwargs)


def default_data_dir(data_dir: pathlib.Path | str | None) -> pathlib.Path:
    """The folder data is read from: the one given, else $ANNEALBENCH_DATA, else ./data."""
    return pathlib.Path(data_dir or os.environ.get("ANNEALBENCH_DATA") or "data").expanduser()


def make_task(
    dataset: str, kwargs: dict, *, data_dir: pathlib.Path | None, device: torch.device, batch_size: int
) -> Task:
    """Read or generate the data set and wrap it as a Task on `device`.

    A None data_dir falls back to $ANNEALBENCH_DATA; real data sets need one of the two.
    """
    problem = check_dataset_kwargs(dataset, kwargs)
    if problem is not None:
        raise AnnealbenchError(f"dataset {dataset}: {problem}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise AnnealbenchError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if is_path(dataset):
        from annealbench.tasks import user

        try:
            return user.build_task(dataset, kwargs, data_dir=default_data_dir(data_dir),
                                   device=torch.device(device), batch_size=batch_size)
        except ValueError as e:  # the user's data broke its contract after the study validated
            raise DataError(f"dataset {dataset}: {e}") from None
    info = DATASETS[dataset]
    if data_dir is None and os.environ.get("ANNEALBENCH_DATA"):
        data_dir = pathlib.Path(os.environ["ANNEALBENCH_DATA"])
    if info.needs_data_dir and data_dir is None:
        raise DataError(f"dataset {dataset} reads files: pass --data-dir DIR or set ANNEALBENCH_DATA")
    resolved = resolve_kwargs(info.kwargs, kwargs)
    builder: Callable[..., Task]
    if info.kind == "classification":
        from annealbench.tasks.classification import build as builder
    else:
        from annealbench.tasks.language_model import build as builder
    data_dir = None if data_dir is None else pathlib.Path(data_dir).expanduser()
    return builder(dataset, resolved, data_dir=data_dir, device=torch.device(device), batch_size=batch_size)


__all__ = ["DATASETS", "DatasetInfo", "Facts", "Task", "check_dataset_kwargs", "default_data_dir",
           "epoch_generator", "make_task"]
