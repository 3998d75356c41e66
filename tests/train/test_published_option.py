"""``annealbench run --published DIR``: checked before anything trains, and handed to the report
build that compares each study with its published answer."""

from __future__ import annotations

from pathlib import Path

import annealbench_report.cli as report_cli
from annealbench import api, cli

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_published_dir_exits_2_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "smoke", "--experiments", str(ROOT / "experiments"), "--out", str(out),
                     "--published", str(tmp_path / "nope"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"annealbench: --published {tmp_path / 'nope'}: no such directory")
    assert not out.exists()


def test_the_published_dir_reaches_the_report_build(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(report_cli, "build", lambda out, names, published=None: seen.append(
        (out, names, published)) or [])
    api.report_pages(tmp_path, ["smoke"], str(tmp_path / "pub"))
    api.report_pages(tmp_path, ["smoke"])
    assert seen == [(tmp_path, ["smoke"], tmp_path / "pub"), (tmp_path, ["smoke"], None)]
