"""The report side must never import torch (it runs where torch is not installed), and its
modules stay layered: no import cycle, none much over 300 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import annealbench_report


def test_package_and_every_module_import_without_torch(rendered):
    synth, _ = rendered
    code = textwrap.dedent(f"""
        import importlib, pkgutil, sys
        import annealbench_report
        names = [m.name for m in pkgutil.walk_packages(annealbench_report.__path__,
                                                       "annealbench_report.")
                 if m.name != "annealbench_report.__main__"]
        for n in names:
            importlib.import_module(n)
        from annealbench_report.pages import index_page
        index_page.render_index({str(synth.dir.parent)!r})
        assert "torch" not in sys.modules, "torch was imported"
        print(len(names))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 20


def _imports() -> dict[str, set[str]]:
    """Module (dotted, below annealbench_report) -> the report modules it imports; every folder."""
    src = Path(annealbench_report.__file__).parent
    mods = {".".join(p.relative_to(src).with_suffix("").parts): p for p in src.rglob("*.py")}
    out = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("annealbench_report"):
                base = node.module.split(".", 1)[1] if "." in node.module else ""
                subs = {f"{base}.{a.name}".lstrip(".") for a in node.names}
                deps |= (subs & set(mods)) or ({base} if base in mods else set())
        out[name] = deps - {name}
    return out


def test_modules_have_no_import_cycle_and_stay_small():
    graph = _imports()
    done, active = set(), []

    def visit(m):
        assert m not in active, f"import cycle: {' -> '.join(active + [m])}"
        if m in done:
            return
        active.append(m)
        for d in sorted(graph.get(m, ())):
            visit(d)
        active.pop()
        done.add(m)

    for m in sorted(graph):
        visit(m)
    src = Path(annealbench_report.__file__).parent
    sizes = {str(p.relative_to(src)): len(p.read_text().splitlines()) for p in src.rglob("*.py")}
    assert max(sizes.values()) <= 310, sizes
