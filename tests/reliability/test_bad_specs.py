"""A corpus of malformed studies (bad_specs/*.toml, each saying in its header which field, value and
rule the error must name): one line on stderr, exit code 2, nothing written under --out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness import _env

from annealbench.cli import main

CORPUS = Path(__file__).parent / "bad_specs"
FILES = sorted(CORPUS.glob("*.toml"))


def _expected(path: Path) -> dict[str, str]:
    head = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        head[key] = value.strip()
    return head


def test_corpus_is_there():
    assert len(FILES) >= 25


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_spec_one_line_exit_2_nothing_written(path, command, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(CORPUS))  # where broken_sched.py lives
    exp = _expected(path)
    out = tmp_path / "out"
    argv = [command, str(path), "--budget", "quick"]
    if command == "run":
        argv += ["--out", str(out), "--device", "cpu", "--no-progress"]
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = [line for line in cap.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    msg = lines[0]
    assert msg.startswith(f"annealbench: {path}: {exp['field']}"), msg
    if exp["value"]:
        assert f"{exp['field']} = {exp['value']}" in msg, msg
    assert exp["allowed"] in msg, msg
    if path.stem == "syntax_error":
        assert "line 7, column 7" in msg, msg  # the header is 4 lines
    assert cap.out == ""
    assert not out.exists()


def test_bad_spec_through_the_installed_command(tmp_path):
    """The same, end to end through a separate interpreter: exit status and stderr as a shell sees them."""
    path = CORPUS / "budget_dataset_not_a_table.toml"
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "annealbench", "run", str(path), "--out", str(out),
                        "--device", "cpu"], capture_output=True, text=True, env=_env(None), timeout=120)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [f"annealbench: {path}: budgets.quick.dataset = 64: must be a table "
                                     "(keys override the study's)"]
    assert not out.exists()
