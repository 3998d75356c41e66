"""The training package's architecture, held by reading its source with ``ast`` (nothing imported):
which folder may import which, no cycle between folders, which may import the report package, no
module over 300 lines, a docstring on every module, and no import of another module's private name.

A "unit" is a folder of annealbench (spec, sharing, ...) or a module at its top level (store, cli,
...). Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import annealbench

PKG = Path(annealbench.__file__).parent
MAX_LINES = 300

# Bottom to top: a unit may import the units of the rows below its own, never its own row or above.
LAYERS = (
    ("errors", "faults", "progress", "options", "heldout"),  # no annealbench imports
    ("user_code", "store", "devices", "precision"), # import paths, files, devices, dtypes
    ("optim", "schedules", "models", "data"),       # the pieces a study names
    ("tasks",),                                     # a data set and its model trained together
    ("spec",),                                      # the study file, checked; the grid
    ("sharing",),                                   # shared prefixes: plan, trajectories, fork
    ("training",),                                  # one run
    ("execution",),                                 # a study's runs: in order, pool, Ray
    ("bench",),                                     # annealbench bench
    ("api",),
    ("estimate",),
    ("cli",),
    ("__main__",),
)
RANK = {unit: i for i, row in enumerate(LAYERS) for unit in row}
# annealbench_report may be imported from this row of LAYERS up: the tools above both packages (the
# bench's t-interval; api and cli render the report when it is installed). Never below: the core
# trains without it, and the report never imports the core.
REPORT_FROM = "bench"


def _dotted(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(dotted: str) -> str | None:
    """The unit of ``annealbench.X...`` (None for the package itself)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else None


def _modules() -> dict[str, Path]:
    return {_dotted(p): p for p in sorted(PKG.rglob("*.py"))}


def _imports(dotted: str, path: Path, tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(imported annealbench module or package, name taken from it or None, line) of a module."""
    package = dotted if path.name == "__init__.py" else dotted.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .values import y
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            out += [(base, a.name, node.lineno) for a in node.names]
    return [(m, n, line) for m, n, line in out if m == "annealbench" or m.startswith("annealbench.")]


def _targets(module: str, name: str | None, modules: dict) -> list[str]:
    """The annealbench modules an import reaches: ``from annealbench.spec import grid`` is grid."""
    if name is not None and f"{module}.{name}" in modules:
        return [f"{module}.{name}"]
    return [module]


def _private(name: str | None) -> bool:
    return bool(name) and name.startswith("_") and not name.startswith("__")


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Unit -> the other units it imports, and the breaches of the layer table."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    breaches = []
    for dotted, path in modules.items():
        here = _unit(dotted)
        for module, name, line in _imports(dotted, path, ast.parse(path.read_text())):
            for target in _targets(module, name, modules):
                there = _unit(target)
                if here is None or there is None or there == here:
                    continue
                graph.setdefault(here, set()).add(there)
                if RANK[there] >= RANK[here]:
                    breaches.append(f"{path.relative_to(PKG)}:{line} {here} imports {target} "
                                    f"({there} is not below {here} in LAYERS)")
    return graph, breaches


def test_every_unit_has_a_place_in_the_table():
    units = {_unit(d) for d in _modules()} - {None}
    assert units - set(RANK) == set(), "a new folder or top-level module: give it a row in LAYERS"


def test_no_folder_imports_upward_or_sideways():
    _, breaches = _graph()
    assert breaches == []


def _report_imports() -> list[tuple[str | None, str, int]]:
    """(unit, imported annealbench_report module, line) of every import of the report package."""
    out = []
    for dotted, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            out += [(_unit(dotted), m, node.lineno) for m in names
                    if m == "annealbench_report" or m.startswith("annealbench_report.")]
    return out


def test_only_the_tools_above_the_core_import_the_report():
    found = _report_imports()
    below = [f"{unit}:{line} imports {m}" for unit, m, line in found
             if unit is None or RANK[unit] < RANK[REPORT_FROM]]
    assert below == []
    assert REPORT_FROM in {unit for unit, _, _ in found}  # the bench's t-interval: the rule is live


def test_no_cycle_between_folders():
    graph, _ = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(unit, path):
        state[unit] = 1
        for nxt in sorted(graph.get(unit, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [unit, nxt])}"
            if nxt not in state:
                visit(nxt, path + [unit])
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [])


def test_modules_are_short_and_say_what_they_are_for():
    long = {}
    bare = []
    for dotted, path in _modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_LINES:
            long[dotted] = len(text.splitlines())
        if not (ast.get_docstring(ast.parse(text)) or "").strip():
            bare.append(dotted)
    assert long == {}
    assert bare == []


def test_no_module_imports_another_modules_private_names():
    modules = _modules()
    found = []
    for dotted, path in modules.items():
        tree = ast.parse(path.read_text())
        bound = {}  # local name -> the annealbench module it names
        for module, name, line in _imports(dotted, path, tree):
            if _private(name):
                found.append(f"{dotted}:{line} imports {module}.{name}")
            target = _targets(module, name, modules)[0]
            if name is not None and target != module:
                bound[name] = target
        aliases = {a.asname: bound[a.name] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   for a in n.names if a.asname and a.name in bound}
        bound.update(aliases)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and _private(node.attr)):
                found.append(f"{dotted}:{node.lineno} uses {bound[node.value.id]}.{node.attr}")
    assert found == []
