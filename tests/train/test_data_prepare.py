"""Data sets prepared once under a lock (annealbench.data.prepare): several processes asking for
one missing data set at the same moment, with fake downloaders that count their calls and sleep."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import pytest

from annealbench.data import cifar10, tinyshakespeare
from annealbench.data.prepare import lock_path, prepare
from annealbench.errors import DataError
from annealbench.tasks.prepare import prepare_data

PROCESSES = 5
SLOW = 0.5  # seconds a fake download takes: long enough for every other process to arrive


def _count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def _note(log: Path) -> None:
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")


def _fake_cifar(log: Path):
    def fetch(root: Path) -> None:  # as torchvision would: a folder of batches under root
        _note(log)
        folder = root / cifar10.FOLDER
        folder.mkdir()
        for path in cifar10.cifar10_files(root):
            time.sleep(SLOW / 6)
            path.write_bytes(b"batch")
    return fetch


def _prepare_cifar(data_dir: str, log: str, go, out) -> None:
    go.wait()
    built = cifar10.prepare_cifar10(Path(data_dir), download=True, fetch=_fake_cifar(Path(log)))
    files = cifar10.cifar10_files(Path(data_dir))
    out.put((built, all(p.read_bytes() == b"batch" for p in files)))


def _prepare_text(data_dir: str, log: str, go, out) -> None:
    def fetch(dest: Path) -> None:
        _note(Path(log))
        time.sleep(SLOW)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("corpus")
    go.wait()
    path = tinyshakespeare.locate_tinyshakespeare(Path(data_dir), download=True, fetch=fetch)
    out.put((True, path.read_text() == "corpus"))


def _race(target, data_dir: Path, log: Path) -> list[tuple]:
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(str(data_dir), str(log), go, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    go.set()  # all at once
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def test_cifar10_is_downloaded_by_one_process_while_the_others_wait(tmp_path):
    log = tmp_path / "calls"
    results = _race(_prepare_cifar, tmp_path / "data", log)
    assert _count(log) == 1  # exactly one download
    assert sorted(built for built, _ in results) == [False] * (PROCESSES - 1) + [True]
    assert all(whole for _, whole in results)  # nobody saw a half-made folder
    assert [p.name for p in (tmp_path / "data").iterdir()] == [".cifar10.lock", cifar10.FOLDER]


def test_tinyshakespeare_is_downloaded_by_one_process(tmp_path):
    log = tmp_path / "calls"
    results = _race(_prepare_text, tmp_path / "data", log)
    assert _count(log) == 1 and all(whole for _, whole in results)


def test_prepared_data_is_not_prepared_again(tmp_path):
    log = tmp_path / "calls"
    assert cifar10.prepare_cifar10(tmp_path, download=True, fetch=_fake_cifar(log)) is True
    assert cifar10.prepare_cifar10(tmp_path, download=True, fetch=_fake_cifar(log)) is False
    assert _count(log) == 1


def test_a_waiter_builds_when_the_first_builder_failed(tmp_path):
    calls = []

    def build():
        calls.append(1)
        if len(calls) == 1:
            raise DataError("network down")
        (tmp_path / "ready").touch()

    def ready():
        return (tmp_path / "ready").exists()

    with pytest.raises(DataError, match="network down"):
        prepare(tmp_path, "x", ready, build)
    assert prepare(tmp_path, "x", ready, build) is True and len(calls) == 2
    assert lock_path(tmp_path, "x").exists()


def test_a_failed_download_leaves_no_folder_behind(tmp_path):
    def fetch(root: Path) -> None:
        (root / cifar10.FOLDER).mkdir()
        (root / cifar10.FOLDER / "data_batch_1").write_bytes(b"half")
        raise OSError("connection reset")

    with pytest.raises(DataError) as e:
        cifar10.prepare_cifar10(tmp_path, download=True, fetch=fetch)
    assert "connection reset" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / cifar10.FOLDER).exists()
    assert [p.name for p in tmp_path.iterdir()] == [".cifar10.lock"]  # no staging folder left


def test_an_incomplete_folder_is_reported_not_overwritten(tmp_path):
    (tmp_path / cifar10.FOLDER).mkdir()
    (tmp_path / cifar10.FOLDER / "data_batch_1").write_bytes(b"mine")
    with pytest.raises(DataError, match="data_batch_2: missing"):
        cifar10.prepare_cifar10(tmp_path, download=True, fetch=_fake_cifar(tmp_path / "calls"))
    assert not (tmp_path / "calls").exists()


def test_prepare_data_checks_a_study_data_set_and_skips_synthetic_ones(tmp_path, monkeypatch):
    monkeypatch.delenv("ANNEALBENCH_DATA", raising=False)
    prepare_data("synthetic-images", {}, None)  # nothing to prepare, no folder needed
    with pytest.raises(DataError, match="no CIFAR-10 folder"):
        prepare_data("cifar10", {"download": False}, tmp_path)
    with pytest.raises(DataError, match="--data-dir"):
        prepare_data("tinyshakespeare", {}, None)
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("text")
    prepare_data("tinyshakespeare", {}, tmp_path)  # there already: nothing downloaded
    with pytest.raises(DataError, match="WikiText-2"):
        prepare_data("wikitext2", {}, tmp_path)
