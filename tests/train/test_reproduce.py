"""``nox -s reproduce`` runs the command line ``noxfile.reproduce_command`` builds: the CLI's own
arguments, the real studies only as a default, and the report under the study's own name."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from testkit import untuned_smoke

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def _noxfile():
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(posargs: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd, env = _noxfile().reproduce_command(posargs)
    exe = Path(sys.executable).parent / cmd[0]  # the entry point of this venv, as nox's PATH has it
    return subprocess.run([str(exe), *cmd[1:]], cwd=cwd, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def test_study_whose_file_name_differs_from_its_name_trains_and_reports(tmp_path):
    text = untuned_smoke((ROOT / "experiments" / "smoke.toml").read_text())
    text = text.replace('name = "smoke"', 'name = "held-byo"').replace("seeds = [0, 1]", "seeds = [0]")
    (tmp_path / "my").mkdir()
    (tmp_path / "my" / "held.toml").write_text(text)
    out = tmp_path / "out"
    p = _run(["--study", "my/held.toml", "--budget", "quick", "--device", "cpu", "--workers", "1",
              "--out", str(out), "--no-progress"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert (out / "held-byo" / "index.html").is_file()
    assert (out / "held-byo" / "records.parquet").is_file()
    assert (out / "index.html").is_file()
    assert not (out / "held").exists()


def test_help_is_the_cli_help(tmp_path):
    p = _run(["--help"], tmp_path)
    assert p.returncode == 0
    assert "usage: annealbench run" in p.stdout and "--no-report" in p.stdout


def test_real_studies_are_only_the_default(tmp_path):
    cmd, env = _noxfile().reproduce_command(["smoke", "--budget", "quick"])
    assert cmd == ["annealbench", "run", "smoke", "--budget", "quick"]
    assert env["ANNEALBENCH_STUDIES"].split() == _noxfile().REAL_STUDIES
    # the CLI takes them from the environment only when no study is named
    p = subprocess.run([str(Path(sys.executable).parent / "annealbench"), "run", "--dry-run"],
                       cwd=tmp_path, env={k: v for k, v in os.environ.items()
                                          if k != "ANNEALBENCH_STUDIES"},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "no study named" in p.stderr


def test_without_the_report_package_training_ends_with_one_line(tmp_path, monkeypatch, capsys):
    from annealbench.cli import main

    monkeypatch.setitem(sys.modules, "annealbench_report.cli", None)  # import fails, as uninstalled
    text = untuned_smoke((ROOT / "experiments" / "smoke.toml").read_text())
    text = text.replace("seeds = [0, 1]", "seeds = [0]")
    (tmp_path / "s.toml").write_text(text)
    rc = main(["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "out"), "--device", "cpu",
               "--budget", "quick", "--workers", "1", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0
    assert [x for x in out.splitlines() if "report skipped" in x] == [
        "annealbench: report skipped: annealbench-report is not installed (pip install -e "
        f"packages/annealbench-report, then: annealbench-report build --out {tmp_path / 'out'})"]
    assert not (tmp_path / "out" / "index.html").exists()
