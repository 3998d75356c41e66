"""Image classification: uint8 images on the device, seeded batched crop/flip, CE loss, accuracy."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from annealbench.data import cifar10
from annealbench.data.images import ImageSet, channel_stats, crop_flip, normalise
from annealbench.data.synthetic import synthetic_images
from annealbench.errors import DataError
from annealbench.tasks import CLASSIFICATION_METRICS, Task, epoch_generator

CROP_PAD = 4
EVAL_BATCH = 256  # larger batches ran slower on CPU (cache), same result


class ImageClassificationTask(Task):
    """An epoch is `N // batch_size` full batches of a fresh permutation; the remainder is dropped
    so every step has the same batch size (a lone tiny batch would upset BatchNorm)."""

    metrics = CLASSIFICATION_METRICS
    item_unit = "img"
    model_kind = "image"

    def __init__(
        self,
        *,
        dataset: str,
        train: ImageSet,
        val: ImageSet,
        test: ImageSet,
        num_classes: int,
        mean: tuple[float, ...] | torch.Tensor,
        std: tuple[float, ...] | torch.Tensor,
        augment: bool,
        device: torch.device,
        batch_size: int,
        files: list[pathlib.Path],
    ):
        _, channels, height, width = train.x.shape
        super().__init__(
            dataset=dataset,
            device=device,
            batch_size=batch_size,
            model_shapes={"num_classes": num_classes, "in_channels": channels, "image_size": height},
            files=files,
        )
        self.splits = {
            "train": train.to(self.device),
            "val": val.to(self.device),
            "test": test.to(self.device),
        }
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.device)
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.device)
        self.augment = augment
        self.pad = min(CROP_PAD, height - 1, width - 1)

    def build_model(self, name: str, kwargs: dict) -> torch.nn.Module:
        # channels_last to match the batches (see data.images.normalise); same values, other layout.
        return super().build_model(name, kwargs).to(memory_format=torch.channels_last)

    def steps_per_epoch(self) -> int:
        return max(1, len(self.splits["train"]) // self.batch_size)

    def train_batches(self, epoch: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        train = self.splits["train"]
        n = len(train)
        size = min(self.batch_size, n)
        generator = epoch_generator(seed, epoch)
        order = torch.randperm(n, generator=generator).to(self.device)
        if self.augment:
            shifts = torch.randint(-self.pad, self.pad + 1, (2, n), generator=generator).to(self.device)
            flips = (torch.rand(n, generator=generator) < 0.5).to(self.device)
        for step in range(self.steps_per_epoch()):
            idx = order[step * size : (step + 1) * size]
            if self.augment:
                pos = slice(step * size, (step + 1) * size)
                images = crop_flip(train.x, idx, shifts[0, pos], shifts[1, pos], flips[pos])
            else:
                images = train.x[idx]
            yield normalise(images, self.mean, self.std), train.y[idx]

    def train_loss(self, model, batch) -> tuple[torch.Tensor, int]:
        images, labels = batch
        return F.cross_entropy(model(images), labels), len(labels)

    def evaluate(self, model, split: str) -> dict[str, float]:
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        data = self.splits[split]
        was_training = model.training
        model.eval()
        loss_sum = 0.0
        correct = 0
        try:
            with torch.no_grad():
                for start in range(0, len(data), EVAL_BATCH):
                    logits = model(normalise(data.x[start : start + EVAL_BATCH], self.mean, self.std))
                    labels = data.y[start : start + EVAL_BATCH]
                    loss_sum += F.cross_entropy(logits.float(), labels, reduction="sum").item()
                    correct += (logits.argmax(1) == labels).sum().item()
        finally:
            model.train(was_training)
        return {"loss": loss_sum / len(data), "accuracy": correct / len(data)}

    def evaluate_examples(self, model, split: str) -> dict[str, np.ndarray]:
        """Each image's loss and whether it was classified right, in the split's order."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        data = self.splits[split]
        was_training = model.training
        model.eval()
        losses, correct = [], []
        try:
            with torch.no_grad():
                for start in range(0, len(data), EVAL_BATCH):
                    logits = model(normalise(data.x[start : start + EVAL_BATCH], self.mean, self.std))
                    labels = data.y[start : start + EVAL_BATCH]
                    losses.append(F.cross_entropy(logits.float(), labels, reduction="none"))
                    correct.append(logits.argmax(1) == labels)
        finally:
            model.train(was_training)
        return {"loss": torch.cat(losses).cpu().numpy(), "correct": torch.cat(correct).cpu().numpy()}


def _cifar10(
    kw: dict, data_dir: pathlib.Path, device: torch.device, batch_size: int
) -> ImageClassificationTask:
    full_train, test = cifar10.load_cifar10(data_dir, device, download=kw["download"])
    n = len(full_train)
    if kw["val_size"] >= n:
        raise DataError(
            f"{data_dir / cifar10.FOLDER}: val_size {kw['val_size']} leaves no training images of {n}"
        )
    # Validation is the held-out tail of the official training set; test is the official test batch.
    train = full_train.subset(0, n - kw["val_size"]).subset(0, kw["train_subset"])
    val = full_train.subset(n - kw["val_size"], None)
    return ImageClassificationTask(
        dataset="cifar10",
        train=train,
        val=val,
        test=test.subset(0, kw["test_subset"]),
        num_classes=cifar10.NUM_CLASSES,
        mean=cifar10.MEAN,
        std=cifar10.STD,
        augment=kw["augment"],
        device=device,
        batch_size=batch_size,
        files=cifar10.cifar10_files(data_dir),
    )


def _synthetic(kw: dict, device: torch.device, batch_size: int) -> ImageClassificationTask:
    train, val, test = synthetic_images(
        n_train=kw["n_train"],
        n_val=kw["n_val"],
        n_test=kw["n_test"],
        image_size=kw["image_size"],
        num_classes=kw["num_classes"],
        noise=kw["noise"],
        seed=kw["seed"],
    )
    mean, std = channel_stats(train.x)
    return ImageClassificationTask(
        dataset="synthetic-images",
        train=train,
        val=val,
        test=test,
        num_classes=kw["num_classes"],
        mean=mean,
        std=std,
        augment=kw["augment"],
        device=device,
        batch_size=batch_size,
        files=[],
    )


def build(
    dataset: str, kw: dict, *, data_dir, device: torch.device, batch_size: int
) -> ImageClassificationTask:
    if dataset == "cifar10":
        return _cifar10(kw, data_dir, device, batch_size)
    return _synthetic(kw, device, batch_size)
