"""The report side must never import torch (it runs where torch is not installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


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
        from annealbench_report import render
        render.render_index({str(synth.dir.parent)!r})
        assert "torch" not in sys.modules, "torch was imported"
        print(len(names))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) >= 6  # collect, stats, figures, render, cli, errors
