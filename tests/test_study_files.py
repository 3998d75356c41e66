"""The shipped study files say what they run: each description names, per budget, the optimizer
settings and model sizes the budget trains; and no file a user reads (README, docs/ with its
pages, study files, page templates) speaks of how the project is run (its helpers, its lead, its
issue numbers)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "experiments").glob("*.toml"))
OPTIMIZER_WORDS = {"SGD+momentum": "sgd", "SGD": "sgd", "Adam": "adam"}
# "X at the quick budget", "X at the short, reference and full budgets", "X at quick and short"
CLAUSE = re.compile(r"([^(;,]+?) at (?:the )?((?:[a-z-]+(?:, | and )?)+?)(?: budgets?)?(?=[;),]|$)")
LAYERS = re.compile(r"^(\d+) (?:layers? )?of (\d+)$")


def _budgets(spec: dict) -> dict[str, dict]:
    """Per budget: its optimizer settings and its model, with the study's defaults applied."""
    out = {}
    # an arm's own optimizer table (`optimizer = "TABLE"` in a schedule) is not a setting
    arm_owned = {a["optimizer"] for a in spec.get("schedules", {}).values() if "optimizer" in a}
    settings = set(spec["optimizers"]) - arm_owned
    for name, b in spec.get("budgets", {}).items():
        out[name] = {"optimizers": set(b.get("optimizers") or settings),
                     "model": {**spec["model"], **b.get("model", {})}}
    return out


def _optimizers(text: str) -> set[str]:
    found = set()
    for word, opt in OPTIMIZER_WORDS.items():
        if re.search(rf"(?<![\w+]){re.escape(word)}(?![\w+])", text):
            found.add(opt)
    return found


def _names(budget_list: str) -> list[str]:
    return [n for n in re.split(r", | and ", budget_list) if n]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_description_matches_the_budgets(path):
    spec = tomllib.loads(path.read_text())
    budgets = _budgets(spec)
    desc = spec["study"]["description"]
    claimed = set()
    for what, budget_list in CLAUSE.findall(desc):
        names = _names(budget_list)
        if not set(names) <= set(budgets):
            continue  # not a budget clause ("fixed LR vs annealing schedules ...")
        opts = _optimizers(what)
        size = LAYERS.match(what.strip())
        for name in names:
            if opts:  # exactly the optimizer settings the clause names
                assert budgets[name]["optimizers"] == opts, (path.name, name, what)
                claimed.add(name)
            if size:
                model = budgets[name]["model"]
                assert (model["layers"], model["hidden"]) == tuple(map(int, size.groups())), (name, what)
    # an optimizer named outside any budget clause is every budget's
    rest = CLAUSE.sub("", desc)
    for name, b in budgets.items():
        if name not in claimed and _optimizers(rest):
            assert b["optimizers"] <= _optimizers(rest), (path.name, name)


def test_the_description_parser_catches_a_wrong_description():
    spec = tomllib.loads((ROOT / "experiments" / "cifar10-cnn.toml").read_text())
    wrong = "CNN (SGD+momentum and Adam at quick and full)"
    budgets = _budgets(spec)
    what, names = CLAUSE.findall(wrong)[0]
    assert _optimizers(what) == {"sgd", "adam"} and _names(names) == ["quick", "full"]
    assert budgets["full"]["optimizers"] != _optimizers(what)  # full trains Adam only


# "tracking issue": the nightly job's alerts go to one, a user-facing setting (ci/README.md)
INTERNAL = re.compile(r"\b(?:helpers?|agents?|the lead(?:'s)?|(?<!tracking )issues?|the session(?:'s)?|"
                      r"first session)\b", re.I)
USER_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*")), *STUDIES,
              *sorted((ROOT / "experiments").glob("*.json")),
              *sorted((ROOT / "packages" / "annealbench-report" / "src" / "annealbench_report"
                       / "templates").glob("*"))]
KNOWN: set[tuple[str, str]] = set()  # (file, word) allowed where a word is meant otherwise


def test_no_project_internal_words_in_what_users_read():
    found = []
    for path in USER_FILES:
        if not path.is_file() or path.suffix in (".png", ".parquet"):
            continue
        rel = path.relative_to(ROOT).as_posix()
        for m in INTERNAL.finditer(path.read_text(errors="replace")):
            if (rel, m[0].lower()) not in KNOWN:
                found.append(f"{rel}: {m[0]!r}")
    assert not found, found
