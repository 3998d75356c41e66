"""The records schema is declared once (records/contract.py) and is the training side's: the
per-epoch columns a run writes (annealbench.store.EPOCH_COLUMNS) are the report's, read here from
the training package's source so that the report itself never imports it."""

from __future__ import annotations

import ast
from pathlib import Path

from annealbench_report.records import contract

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "packages" / "annealbench" / "src" / "annealbench" / "store.py"


def _store_epoch_columns() -> tuple:
    """EPOCH_COLUMNS as the training side declares it: a literal tuple, or the fields of the
    NamedTuple it names (``EPOCH_COLUMNS = EpochRow._fields``)."""
    tree = ast.parse(STORE.read_text(encoding="utf-8"))
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "EPOCH_COLUMNS" for t in targets):
            v = node.value
            if isinstance(v, ast.Attribute) and v.attr == "_fields" and isinstance(v.value, ast.Name):
                body = classes[v.value.id].body
                return tuple(f.target.id for f in body if isinstance(f, ast.AnnAssign))
            return tuple(ast.literal_eval(v))
    raise AssertionError(f"{STORE}: no EPOCH_COLUMNS")


def test_epoch_columns_are_the_training_sides():
    assert contract.EPOCH_COLUMNS == _store_epoch_columns()


def test_records_columns_are_the_run_fields_the_epoch_columns_and_the_status():
    assert contract.COLUMNS == (*contract.RUN_FIELDS, *contract.EPOCH_COLUMNS, "status")
    assert set(contract.DTYPES) == set(contract.COLUMNS)
    assert contract.MEASURED_FLOATS == ("value", "lr", "wall_time_s")


def test_the_committed_records_still_load():
    """The published records under docs/results/ are read by this version of the report."""
    files = sorted((ROOT / "docs" / "results").rglob("records.parquet"))
    assert files, "no committed records under docs/results"
    for path in files:
        df = contract.read_records(path)
        assert list(df.columns) == list(contract.COLUMNS) and len(df), path
