"""Study specs: TOML in, a validated, budget-applied :class:`Study` out.

Everything is checked before anything trains or is written, and the first problem raises a
:class:`SpecError` naming file, field, value and what is allowed, so a typo costs seconds, not a
night of runs.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import replace
from pathlib import Path

from annealbench.errors import MISSING, SpecError
from annealbench.spec.assemble import StudyFile, budget_study
from annealbench.spec.budgets import auto_budget, default_budget
from annealbench.spec.checker import Checker
from annealbench.spec.regime import REGIME_BUDGET_KEYS, REGIME_STUDY_KEYS
from annealbench.spec.study import Study

SPEC_VERSION = 1
BUDGET_KEYS = {"epochs", "seeds", "schedules", "optimizers", "batch_size", "dataset", "model", "lrs",
               "precision", "target", "budget_curve", "tuned_by", "article_row", "measured"}
STUDY_KEYS = {"name", "description", "primary_metric", "epochs", "batch_size", "seeds",
              "eval_test", "target", "notes", "min_effect", "budget_curve", "precision", "baseline",
              "default_budget", "judged_on"}
TOP_KEYS = {"spec_version", "study", "model", "dataset", "optimizers", "schedules", "budgets"}
STUDY_KEYS |= REGIME_STUDY_KEYS  # the training regime (plateau, reference): spec_regime.py
BUDGET_KEYS |= REGIME_BUDGET_KEYS


def load_study(path, budget: str = "quick", data_dir=None, *, doc: dict | None = None,
               device_type: str = "cpu", with_tuning: bool = True, every_mistake: bool = False) -> Study:
    """Read, validate and apply ``budget`` ("quick", "full", or any budget the file defines;
    "auto": the study's ``default_budget``, else see ``annealbench.spec.budgets.auto_budget``, for
    ``device_type``).

    A budget with ``tuned_by`` also gets its tuning file's choices (``with_tuning``; a missing or
    stale file raises TuningError), so that its grid holds the chosen base LRs only.

    ``doc``: the study's tables as a dict instead of reading ``path`` (which then only names it
    in messages). ``data_dir``: where a data set by import path reads from (default as ``run``).
    ``every_mistake``: every check that does not depend on a failed one is made (each table, the
    checks across tables, and every [budgets.NAME] table as if it were loaded, without its tuning
    file), and the mistakes raised together (SpecErrors, in file order, each once) instead of the
    first alone.
    """
    from annealbench import user_code
    from annealbench.spec import preflight

    path = Path(path)
    doc, sha = _read(path, doc)
    c = Checker(path, _text(path) if every_mistake else None)
    if isinstance(doc, dict) and preflight.uses_user_code(doc):
        user_code.add_search_folder(path.parent)  # user code next to the study is found (user_code.py)
    st = _top(c, doc)
    budgets, budget, defined = _budgets(c, doc, st, budget, device_type)
    f = StudyFile(path, sha, doc, st, budgets, data_dir)
    study = None
    with c.part():
        c.need(defined)
        study = budget_study(c, f, budget)
    if every_mistake:  # every budget table on its own, not only the one loaded
        for other in budgets:
            if other != budget and isinstance(budgets[other], dict):
                with c.part():
                    budget_study(c, f, other)
    c.raise_collected()
    if with_tuning and study.tuned_by is not None:
        from annealbench.spec import tuning

        study = replace(study, tuning=tuning.read(study))
    return study


def _read(path: Path, doc: dict | None) -> tuple[dict, str]:
    """The study's tables and the sha256 of what they came from."""
    if doc is None:
        return _parse(path)
    return doc, hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _parse(path: Path) -> tuple[dict, str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(path, "(file)", MISSING, f"cannot read: {e.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), hashlib.sha256(raw).hexdigest()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise SpecError(path, "(syntax)", MISSING, f"not valid TOML: {e}") from None


def _top(c: Checker, doc) -> dict:
    """The file's top-level keys and its [study] table's; returns that table."""
    c.keys(doc, "", TOP_KEYS, required=("spec_version", "study", "model", "dataset",
                                         "optimizers", "schedules"))
    if doc["spec_version"] != SPEC_VERSION:
        c.fail("spec_version", doc["spec_version"], f"this annealbench reads spec_version {SPEC_VERSION}")
    st = doc["study"]
    c.keys(st, "study", STUDY_KEYS, required=("name", "epochs", "batch_size", "seeds", "primary_metric"))
    return st


def _budgets(c: Checker, doc: dict, st: dict, budget: str, device_type: str):
    """(the [budgets.*] tables, the name of the one being loaded, a Part failed where it is not
    defined), each table's keys checked."""
    budgets = doc.get("budgets", {})
    if not isinstance(budgets, dict):
        c.fail("budgets", budgets, "must be a table of [budgets.NAME] tables")
    for bname, b in budgets.items():
        with c.part():
            c.keys(b, f"budgets.{bname}", BUDGET_KEYS)
    default = None
    with c.part():
        default = default_budget(c, st, budgets)
    if budget == "auto":
        budget = auto_budget(budgets, device_type, default)
    with c.part() as defined:
        if budgets and budget not in budgets:
            c.fail("budgets", budget, f"no such budget; defined: {', '.join(sorted(budgets))}")
    return budgets, budget, defined


def find_study(name_or_path: str, experiments_dir: Path = Path("experiments")) -> Path:
    """``smoke`` -> experiments/smoke.toml; an existing path is used as given."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    candidate = experiments_dir / f"{name_or_path}.toml"
    if candidate.exists():
        return candidate
    known = sorted(q.stem for q in experiments_dir.glob("*.toml")) if experiments_dir.is_dir() else []
    raise SpecError(candidate, "(file)", name_or_path,
                    f"no such study; known: {', '.join(known) or 'none'} (or pass a path to a .toml)")
