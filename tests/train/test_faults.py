"""The fault plan of ``ANNEALBENCH_FAULT``: a point named more than once fires at each of its
passes, and ``nan`` is handed back to the caller (the runner blows that step's update up)."""

from __future__ import annotations

import pytest

from annealbench import faults


def test_a_point_may_be_named_more_than_once():
    assert faults.parse("nan:train-step:2,nan:train-step:8,checkpoint-write") == {
        "train-step": {2: "nan", 8: "nan"}, "checkpoint-write": {1: "kill"}}


def test_nan_is_returned_at_exactly_its_passes(monkeypatch):
    monkeypatch.setenv(faults.ENV, "nan:train-step:2,nan:train-step:4,enospc:epoch-write")
    fired = [faults.hit("train-step") for _ in range(5)]
    assert fired == [None, "nan", None, "nan", None]
    with pytest.raises(OSError):
        faults.hit("epoch-write")
    assert faults.hit("epoch-write") is None
