"""Shared test helpers: the repo root, and small study files the tests write themselves; how
pytest-xdist shares the test files out among its workers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from testkit import synthetic_cnn

ROOT = Path(__file__).resolve().parents[1]

TINY_STUDY = """
spec_version = 1

[study]
name = "tiny"
description = "tests: synthetic images"
primary_metric = "accuracy"
epochs = 3
batch_size = 64
seeds = [0, 1]

""" + synthetic_cnn(256, 128, 16) + """[schedules.constant]

[schedules.step]
step_size = { frac = 0.34 }
gamma = 0.1

[schedules.onecycle]

[schedules.plateau]
patience = 0
"""


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def write_study(tmp_path):
    """write_study(text=TINY_STUDY, name="tiny.toml", **replace) -> Path; replace maps old->new text."""

    def _write(text: str = TINY_STUDY, name: str = "tiny.toml", replace: dict | None = None) -> Path:
        body = textwrap.dedent(text)
        for old, new in (replace or {}).items():
            assert old in body, f"test bug: {old!r} not in the study text"
            body = body.replace(old, new)
        path = tmp_path / name
        path.write_text(body)
        return path

    return _write


# PyTorch only warns when a scheduler is stepped before optimizer.step(), which shifts every applied
# LR by one step while the records still look plausible: in tests/train, where the real runner
# trains, that warning is an error.
SCHEDULER_ORDER = "error:Detected call of `lr_scheduler.step\\(\\)` before `optimizer.step\\(\\)`:UserWarning"


def pytest_collection_modifyitems(config, items):
    train = ROOT / "tests" / "train"
    for item in items:
        if train in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings(SCHEDULER_ORDER))


# Under pytest-xdist's ``--dist loadfile`` (what ``nox -s tests`` runs) each test file goes to one
# worker; the files named here go to the same worker as the others of their group, so that their
# tests never overlap. "ray": each test starts a local Ray cluster of 2 CPUs and trains on it under a
# timeout; two clusters at once on a 2-core machine would only slow both towards it.
SAME_WORKER = {
    "tests/train/test_executors.py": "ray",
    "tests/train/test_user_pieces.py": "ray",
}


@pytest.hookimpl(optionalhook=True)  # defined only where pytest-xdist is installed
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None  # a mode the user chose is left as pytest-xdist runs it
    from xdist.scheduler import LoadFileScheduling

    class FileOrGroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return SAME_WORKER.get(path, path)

    return FileOrGroupScheduling(config, log)
