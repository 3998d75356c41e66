"""The report's copy of the store's file rules (annealbench_report.records.files) against the original
(annealbench.faults, annealbench.store): the same reading of ANNEALBENCH_FAULT, the same temp-file
names, the same clean-up. The report keeps a copy so that it installs without torch; this test is
what keeps the copy from drifting. annealbench is imported here only, never by the report package.
"""

from __future__ import annotations

import errno
import os
import re

import pytest

from annealbench_report.errors import ReportError
from annealbench_report.records import files

# (ANNEALBENCH_FAULT value, what annealbench.faults.parse returns, or ValueError)
SPECS = [
    ("", {}),
    (" , ,", {}),
    ("records-write", {"records-write": {1: "kill"}}),
    ("kill:records-write:2", {"records-write": {2: "kill"}}),
    ("enospc:render-write:3, records-write", {"render-write": {3: "enospc"},
                                              "records-write": {1: "kill"}}),
    ("records-write:1,records-write:4", {"records-write": {1: "kill", 4: "kill"}}),
    ("oom:render-write", {"render-write": {1: "oom"}}),
    ("nan:train-step:2,cuda:train-step:5", {"train-step": {2: "nan", 5: "cuda"}}),
    ("records-write:x", ValueError),          # occurrence not a number
    ("kill:records-write:2:3", ValueError),   # one part too many
    ("kill:", ValueError),                    # action without a point
    (":records-write", ValueError),           # empty point
    ("boom:records-write", ValueError),       # unknown action: read as POINT "boom", N "records-write"
    ("records-write,enospc:render-write:y", ValueError),  # one bad entry spoils the variable
]


@pytest.mark.parametrize(("spec", "expected"), SPECS)
def test_fault_variable_reads_the_same_on_both_sides(spec, expected):
    from annealbench import faults

    if expected is ValueError:
        with pytest.raises(ValueError) as train_side:
            faults.parse(spec)
        with pytest.raises(ValueError) as report_side:
            files.parse_faults(spec)
        assert str(report_side.value) == str(train_side.value)
        assert "\n" not in str(report_side.value)
        assert "is not [ACTION:]POINT[:N]" in str(report_side.value)
    else:
        assert faults.parse(spec) == expected
        assert files.parse_faults(spec) == expected
    assert files.FAULT_ENV == faults.ENV
    assert files.FAULT_ACTIONS == faults.ACTIONS


def test_a_malformed_fault_entry_stops_a_report_write(tmp_path, monkeypatch):
    # it used to be skipped silently, so a fault test with a typo passed without its fault
    monkeypatch.setenv("ANNEALBENCH_FAULT", "enospc:render-write:x")
    with pytest.raises(ValueError, match="is not"):
        files.write_text_atomic(tmp_path / "index.html", "page", fault="render-write")
    assert list(tmp_path.iterdir()) == []  # its temp file removed


def test_fault_fires_at_the_same_pass_on_both_sides(tmp_path, monkeypatch):
    from annealbench import faults, store
    from annealbench.errors import StoreError

    spec = "records-write:9,enospc:records-write:2"
    sides = {"report": (files.fault, lambda p: files.write_text_atomic(p, "x", fault="records-write")),
             "train": (faults.hit, lambda p: store.atomic_write_bytes(p, b"x", fault="records-write"))}
    hits = {}
    for side, (passes, write) in sides.items():
        # another value first: both sides start counting afresh when the variable changes
        monkeypatch.setenv("ANNEALBENCH_FAULT", "other-point")
        passes("records-write", tmp_path)
        monkeypatch.setenv("ANNEALBENCH_FAULT", spec)
        for i in (1, 2, 3):
            try:
                write(tmp_path / f"{side}{i}.txt")
            except (ReportError, StoreError) as e:
                assert isinstance(e.__cause__, OSError) and e.__cause__.errno == errno.ENOSPC
                hits.setdefault(side, []).append(i)
    assert hits == {"report": [2], "train": [2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "report1.txt", "report3.txt", "train1.txt", "train3.txt"]  # no temp file left


def test_temp_files_are_named_alike(tmp_path, monkeypatch):
    from annealbench import store

    names = []
    real_replace = os.replace

    def replace(src, dst):
        names.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    files.write_text_atomic(tmp_path / "page.html", "x")
    store.atomic_write_bytes(tmp_path / "page.html", b"x", fault=None)
    report_name, train_name = names
    for name in names:
        assert store._TEMP.match(name) and files._TEMP.match(name), name
    # the same name apart from the random part
    assert re.sub(r"\.[^.]+\.tmp$", "", report_name) == re.sub(r"\.[^.]+\.tmp$", "", train_name)
    assert files._HOST == store._HOST


def test_temp_file_cleanup_follows_the_same_rules(tmp_path):
    from annealbench import store

    host = files._HOST
    dead = 2**31 - 1  # a valid pid no process has (above the kernel's pid_max)
    names = [
        f".records.parquet.{dead}@{host}.ab12cd34.tmp",        # dead writer here: removed
        f".index.html.{os.getpid()}@{host}.ab12cd34.tmp",      # writer alive: kept
        f".index.html.{dead}@otherhost.ab12cd34.tmp",          # another host's: kept
        ".index.html.tmp",                                     # not our naming: kept
        f"records.parquet.{dead}@{host}.ab12cd34.tmp",         # not hidden: kept
        f".records.parquet.{dead}@{host}.ab12cd34",            # no .tmp: kept
        "index.html",
    ]
    removed = {}
    for side, remove in (("report", files.remove_temps), ("train", store.remove_temps)):
        folder = tmp_path / side
        folder.mkdir()
        for n in names:
            (folder / n).write_text("x")
        (folder / f".dir.{dead}@{host}.ab12cd34.tmp").mkdir()  # a folder: kept
        removed[side] = sorted(p.name for p in remove(folder))
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            {*names, f".dir.{dead}@{host}.ab12cd34.tmp"} - set(removed[side]))
    assert removed["report"] == removed["train"] == [names[0]]
    assert files.remove_temps(tmp_path / "missing") == store.remove_temps(tmp_path / "missing") == []
