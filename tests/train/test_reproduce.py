"""``nox -s reproduce`` runs the command line ``noxfile.reproduce_command`` builds: the CLI's own
arguments, the real studies only as a default, and the report under the study's own name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import noxfile, untuned_smoke

ROOT = Path(__file__).resolve().parents[2]


def _run(posargs: list[str], cwd: Path) -> subprocess.CompletedProcess:
    cmd, env = noxfile().reproduce_command(posargs)
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
    cmd, env = noxfile().reproduce_command(["smoke", "--budget", "quick"])
    assert cmd == ["annealbench", "run", "smoke", "--budget", "quick"]
    assert env["ANNEALBENCH_STUDIES"].split() == noxfile().REAL_STUDIES
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


def _renamed_smoke(tmp_path: Path) -> Path:
    """A copy of the smoke study under another file name, in a folder with no tuning file (one
    seed each side, to keep it short)."""
    text = (ROOT / "experiments" / "smoke.toml").read_text()
    for old, new in (("seeds = [0, 1]", "seeds = [0]"), ("seeds = [100, 101]", "seeds = [100]")):
        assert old in text, "smoke.toml changed: update this test"
        text = text.replace(old, new)
    path = tmp_path / "tmp" / "renamed-smoke.toml"
    path.parent.mkdir()
    path.write_text(text)
    return path


def test_a_copied_study_with_no_tuning_file_tunes_itself_first_then_runs_to_its_page(tmp_path):
    study = _renamed_smoke(tmp_path)
    out = tmp_path / "out"
    p = _run(["--study", "tmp/renamed-smoke.toml", "--budget", "quick", "--device", "cpu", "--workers",
              "1", "--out", str(out), "--no-progress"], tmp_path)
    assert p.returncode == 0, p.stderr
    said = [line for line in p.stdout.splitlines() if "is missing: training budget tuning first" in line]
    assert len(said) == 1 and "smoke.quick.tuning.json" in said[0], p.stdout
    written = study.parent / "smoke.quick.tuning.json"
    assert written.is_file() and (out / "smoke" / "tuning" / "tuning").is_dir()
    assert (out / "smoke" / "index.html").is_file() and (out / "smoke" / "records.parquet").is_file()
    # the judged runs trained the chosen base LRs only
    chosen = {c["base_lr"] for c in json.loads(written.read_text())["choices"]}
    lrs = {json.loads(f.read_text())["base_lr"] for f in (out / "smoke" / "runs").glob("*/config.json")}
    assert lrs and lrs <= chosen


def test_no_tune_stops_with_one_line_and_trains_nothing(tmp_path, capsys):
    from annealbench.cli import main

    study = _renamed_smoke(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "--study", str(study), "--budget", "quick", "--device", "cpu", "--out", str(out),
                 "--no-tune", "--no-progress"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "smoke.quick.tuning.json: missing" in err[0], err
    assert not out.exists() and not (study.parent / "smoke.quick.tuning.json").exists()


def test_version_and_bare_command(capsys):
    import pytest

    from annealbench.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("annealbench 0.")
    assert main([]) == 2
    cap = capsys.readouterr()
    assert "usage: annealbench" in cap.err and "train every unfinished run" in cap.err


def test_reproduce_with_no_arguments_is_the_headline_both_real_studies_at_reference():
    from annealbench.spec.load import find_study, load_study

    cmd, env = noxfile().reproduce_command([])
    assert cmd == ["annealbench", "run"]  # --budget auto: each study's default_budget
    for name in env["ANNEALBENCH_STUDIES"].split():
        path = find_study(name, ROOT / "experiments")
        for device_type in ("cpu", "cuda"):
            assert load_study(path, "auto", device_type=device_type).budget == "reference"
