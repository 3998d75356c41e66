"""The published answer was designed before it ran: its records hold exactly the runs that the
committed study file and tuning file define for the published budget (same seeds, same run keys),
so no seed, arm or base LR was added or dropped after a look."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from annealbench import precision
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = sorted(p.parent for p in (ROOT / "docs" / "results").glob("*/study.json"))


@pytest.mark.parametrize("folder", PUBLISHED, ids=lambda p: p.name)
def test_published_records_are_the_committed_grid(folder, monkeypatch):
    published = json.loads((folder / "study.json").read_text())
    meta = json.loads((folder / "meta.json").read_text())
    # "auto" precision resolves per machine (bf16 where the CPU computes it natively): expand the
    # grid as the machine that trained the records resolved it
    bf16 = meta["precision"]["resolved"] == ["bf16"]
    monkeypatch.setattr(precision, "native_bf16", lambda device_type: bf16)
    study = load_study(ROOT / "experiments" / f"{published['name']}.toml", published["budget"])
    grid = expand(study, "cpu")
    records = pd.read_parquet(folder / "records.parquet", columns=["run_key", "seed"])
    assert sorted(records["seed"].unique().tolist()) == sorted(study.seeds) == published["seeds"]
    # an averaging arm's rows carry HOST+ARM: the host is the grid's run
    assert {k.split("+")[0] for k in records["run_key"]} == {c["run_key"] for c in grid}
    averaged = {f"{c['run_key']}+{arm}" for c in grid for arm in (c.get("averages") or {})}
    assert {k for k in records["run_key"] if "+" in k} == averaged
    assert set(meta["run_keys"]) == {c["run_key"] for c in grid}


def test_there_is_a_published_answer_to_hold():
    assert {p.name for p in PUBLISHED} >= {"cifar10-cnn", "shakespeare-lstm"}
