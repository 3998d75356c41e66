"""The claim registry: every page loops over the declared claims, and a claim nobody declared
cannot borrow another claim's wording."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from annealbench_report.analysis import claim_defs
from annealbench_report.analysis.units import units_for
from annealbench_report.pages import answer, labels


def test_the_article_claims_are_registered_in_page_order():
    assert list(claim_defs.CLAIMS)[:2] == ["better", "faster"]
    for name, c in claim_defs.CLAIMS.items():
        assert c.name == name and c.label and c.short and c.summary_label and c.rule


def test_each_claim_declares_its_lengths():
    assert claim_defs.get("better").lengths([5, 10, 20]) == [20]
    assert claim_defs.get("faster").lengths([5, 10, 20]) == [5, 10]
    assert claim_defs.get("faster").lengths([20]) == []
    assert [c.name for c in claim_defs.CLAIMS.values() if c.at_full] == ["better"]


def test_an_unregistered_claim_is_refused_by_name():
    with pytest.raises(KeyError, match="'recovers-x' is not registered.*better, faster"):
        claim_defs.get("recovers-x")


def test_an_unregistered_claim_cannot_take_another_claims_wording():
    # before the registry an unknown claim fell into the `else` branch: "faster"'s words
    with pytest.raises(KeyError, match="not registered"):
        labels.family_label("sgd", "tuned", "recovers-x")
    row = pd.Series({"optimizer": "sgd", "protocol": "tuned", "claim": "recovers-x",
                     "schedule": "cosine", "mean": 0.02, "lo": 0.01, "hi": 0.03,
                     "verdict": "reproduced"})
    with pytest.raises(KeyError, match="not registered"):
        answer._decided(row, "recovers-x", units_for("accuracy", [0.5]), None)
    # the history table of earlier builds names an unknown claim by its own key, not another's
    assert claim_defs.label("recovers-x") == "recovers-x"


def test_a_claim_cannot_be_registered_twice():
    twin = dataclasses.replace(claim_defs.get("better"), label="something else")
    with pytest.raises(ValueError, match="registered twice"):
        claim_defs.register(twin)
    assert claim_defs.get("better").label == "better final result"
