"""A study's data set made ready on disk before any of its worker processes starts.

Each worker builds its own task (tasks.make_task) from the data folder; if the data set were
missing, every worker would download it at once. The parent calls ``prepare_data`` first: it
downloads or checks the data set once (annealbench.data.prepare, under the data folder's lock,
so that other studies sharing the folder wait too), and the workers then only read it.
"""

from __future__ import annotations

import os
import pathlib

from annealbench.data.prepare import prepare_dataset
from annealbench.errors import DataError
from annealbench.models.kwargs import resolve_kwargs
from annealbench.tasks import DATASETS, default_data_dir


def prepare_data(dataset: str, kwargs: dict, data_dir: pathlib.Path | str | None) -> None:
    """Download or check a registered on-disk data set once; a synthetic set or a user's data set
    (an import path, which loads its own data) needs nothing here."""
    info = DATASETS.get(dataset)
    if info is None or not info.needs_data_dir:
        return
    if data_dir is None and not os.environ.get("ANNEALBENCH_DATA"):  # as make_task says it
        raise DataError(f"dataset {dataset} reads files: pass --data-dir DIR or set ANNEALBENCH_DATA")
    resolved = resolve_kwargs(info.kwargs, kwargs)
    prepare_dataset(dataset, default_data_dir(data_dir), download=bool(resolved.get("download", False)))
