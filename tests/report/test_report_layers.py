"""The report package's layers, read from its source with ``ast``: which folder may import which,
no cycle between folders, no torch, no module over 300 lines, a docstring on every module, and no
import of another module's private name.

The layers, bottom to top (a folder may import its own modules and those of the layers below):

    records/   the records table, its contract, files         imports nothing of the report
    analysis/  statistics, protocols, claims, verdicts         records
    figures/   inline SVG figures                              records, analysis
    pages/     study page, index, verdicts.csv                 records, analysis, figures
    top level  cli, compare, thin, errors, __init__, __main__  anything but nightly
    nightly/   the nightly job's history, alerts and archive   anything

``errors`` (the one exception type) and the package's ``__version__`` sit beside every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import annealbench_report

SRC = Path(annealbench_report.__file__).parent
TOP = ""  # the package's own folder: cli, compare, errors, __init__, __main__

# folder -> the folders its modules may import ("" is the top level, see SHARED)
MAY_IMPORT = {
    "records": {"records"},
    "analysis": {"records", "analysis"},
    "figures": {"records", "analysis", "figures"},
    "pages": {"records", "analysis", "figures", "pages"},
    TOP: {"records", "analysis", "figures", "pages", TOP},
    "nightly": {"records", "analysis", "figures", "pages", TOP, "nightly"},
}
# top-level modules every layer may import: they import nothing of the report themselves
SHARED = {"errors", "__init__"}
MAX_LINES = 300


def _modules() -> dict[str, Path]:
    """Dotted name below the package ('records.files', 'cli') -> file."""
    return {".".join(p.relative_to(SRC).with_suffix("").parts): p for p in sorted(SRC.rglob("*.py"))}


def _folder(module: str) -> str:
    """The layer of a module: its top folder (a package inside a folder, such as
    analysis/claim_defs, belongs to that folder's layer)."""
    return module.split(".", 1)[0] if "." in module else TOP


def _report_imports(tree: ast.AST, mods: dict) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for each import of the report in ``tree``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "annealbench_report" or a.name.startswith("annealbench_report."):
                    out.append((a.name.partition(".")[2] or "__init__", [], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (
                node.module == "annealbench_report" or (node.module or "").startswith("annealbench_report.")):
            base = node.module.partition(".")[2]
            for a in node.names:
                sub = f"{base}.{a.name}".lstrip(".")
                if sub in mods:  # a module imported from its folder: `from annealbench_report.x import y`
                    out.append((sub, [], node.lineno))
                else:  # a name from a module (or from the package: __version__, ReportError)
                    out.append((base or "__init__", [a.name], node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            out.append(("<relative>", [a.name for a in node.names], node.lineno))
    return out


def _graph() -> dict[str, list[tuple[str, list[str], int]]]:
    mods = _modules()
    return {m: _report_imports(ast.parse(p.read_text(encoding="utf-8")), mods) for m, p in mods.items()}


def layer_violations(graph: dict) -> list[str]:
    """Each import that reaches above its folder's layer (or is relative, so unchecked)."""
    bad = []
    for mod, imports in graph.items():
        for target, _, line in imports:
            if target == "<relative>":
                bad.append(f"{mod}:{line}: relative import (write the absolute one the table checks)")
                continue
            if target in SHARED:
                continue
            # `from annealbench_report.pages import x` (x not a module) imports the folder itself
            folder = target if target in MAY_IMPORT else _folder(target)
            if folder not in MAY_IMPORT[_folder(mod)]:
                bad.append(f"{mod}:{line}: imports {target} ({folder or 'top level'}), above "
                           f"{_folder(mod) or 'top level'}")
    return bad


def folder_cycles(graph: dict) -> list[list[str]]:
    """Cycles in the folder graph (edges between different folders only)."""
    edges: dict[str, set[str]] = {}
    for mod, imports in graph.items():
        for target, _, _ in imports:
            if target == "<relative>" or target in SHARED:
                continue
            a = _folder(mod)
            b = target if target in MAY_IMPORT else _folder(target)
            if a != b:
                edges.setdefault(a, set()).add(b)
    cycles, done, active = [], set(), []

    def visit(f):
        if f in active:
            cycles.append(active[active.index(f):] + [f])
            return
        if f in done:
            return
        active.append(f)
        for g in sorted(edges.get(f, ())):
            visit(g)
        active.pop()
        done.add(f)

    for f in sorted(edges):
        visit(f)
    return cycles


def test_the_folders_are_the_declared_ones():
    folders = {_folder(m) for m in _modules()}
    assert folders == set(MAY_IMPORT), folders
    for f in MAY_IMPORT.keys() - {TOP}:
        assert (SRC / f / "__init__.py").is_file(), f
    assert (SRC / "templates").is_dir()  # Jinja's PackageLoader reads annealbench_report/templates


def test_each_folder_imports_only_its_own_layer_and_those_below():
    graph = _graph()
    assert sum(len(v) for v in graph.values()) > 100  # the parse found the imports
    assert layer_violations(graph) == []


def test_no_cycle_between_folders():
    assert folder_cycles(_graph()) == []


def test_an_upward_import_is_caught():
    # the checks above would pass vacuously if the table let everything through
    graph = _graph()
    upward = {**graph, "records.files": [*graph["records.files"], ("pages.cells", [], 1)]}
    assert layer_violations(upward) == ["records.files:1: imports pages.cells (pages), above records"]
    assert folder_cycles(upward)
    sideways = {**graph, "figures.style": [*graph["figures.style"], ("pages", ["cells"], 1)]}
    assert len(layer_violations(sideways)) == 1


@pytest.mark.parametrize("module", sorted(_modules()))
def test_module_is_small_documented_torch_free_and_uses_no_private_name(module):
    path = _modules()[module]
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert len(text.splitlines()) <= MAX_LINES, f"{module}: {len(text.splitlines())} lines"
    assert ast.get_docstring(tree), f"{module}: no module docstring saying what it is for"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "torch" for a in node.names), module
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "torch", module
    for target, names, line in _report_imports(tree, _modules()):
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{module}:{line}: imports the private {private} of {target}"
