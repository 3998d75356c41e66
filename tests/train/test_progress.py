"""Progress as a person sees it: a live line with an ETA in a terminal, a short log without one,
per-epoch lines in each run's train.log (and on screen with -v)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from testkit import untuned_smoke

from annealbench.cli import main
from annealbench.progress import QUIET_EVERY_S, Progress

ROOT = Path(__file__).resolve().parents[2]
GRID = [{"run_key": "a", "epochs": 3}, {"run_key": "b", "epochs": 3}]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _epoch(key, e, of=3):
    return f"[{key}] sgd lr=0.1 cosine epoch {e}/{of} loss 1.0000 val_accuracy 0.5000 lr 0.1 9 img/s"


def test_lines_mode_counts_epochs_and_gives_an_eta(tmp_path):
    (tmp_path / "runs" / "a").mkdir(parents=True)
    clock, out = Clock(), []
    p = Progress("s", GRID, tmp_path, mode="lines", out=out.append, clock=clock)
    for e in (1, 2, 3):
        clock.t += 5
        p.log(_epoch("a", e))
    p.finished("a", "completed")
    # 3 epochs in 15 s, 3 left: 15 s more
    assert out == ["[a] completed; runs 1/2, epochs 3/6, 0:15 elapsed, ETA 0:15"]
    assert (tmp_path / "runs" / "a" / "train.log").read_text().splitlines() == [
        _epoch("a", e) for e in (1, 2, 3)]
    p.log("pool: something else")  # anything not an epoch line is shown
    assert out[-1] == "pool: something else"


def test_lines_mode_prints_progress_at_most_every_30_s(tmp_path):
    clock, out = Clock(), []
    p = Progress("s", GRID, tmp_path, mode="lines", out=out.append, clock=clock)
    for e in (1, 2, 3):
        clock.t += QUIET_EVERY_S / 2
        p.log(_epoch("b", e))
    assert out == ["s: runs 0/2, epochs 2/6, 0:30 elapsed, ETA 1:00"]  # 2 epochs in 30 s, 4 left
    p.finished("b", "failed", "boom")
    assert out[-1] == "[b] failed (boom); runs 1/2, epochs 3/6, 1 failed, 0:45 elapsed, ETA 0:45"


def test_verbose_shows_epoch_lines(tmp_path):
    out = []
    Progress("s", GRID, tmp_path, mode="lines", verbose=True, out=out.append).log(_epoch("a", 1))
    assert out == [_epoch("a", 1)]


def _smoke(tmp_path) -> Path:
    text = untuned_smoke((ROOT / "experiments" / "smoke.toml").read_text())
    text = text.replace("seeds = [0, 1]", "seeds = [0]")
    (tmp_path / "smoke.toml").write_text(text)
    return tmp_path / "smoke.toml"


def _run(tmp_path, *extra):
    return main(["run", str(_smoke(tmp_path)), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--budget", "quick", "--workers", "1", "--no-report", "--no-share-prefix", *extra])


def test_without_a_terminal_one_line_per_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out.splitlines()
    assert not [x for x in out if " epoch " in x]
    finished = [x for x in out if "] completed; runs " in x]
    assert len(finished) == 6 and "runs 6/6, epochs 18/18" in finished[-1]
    assert out[-1].startswith("smoke: 6 completed in ")  # the summary stays
    logs = sorted((tmp_path / "out" / "smoke" / "runs").glob("*/train.log"))
    assert len(logs) == 6 and all(len(f.read_text().splitlines()) == 3 for f in logs)


def test_in_a_terminal_a_live_line_with_an_eta(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _run(tmp_path, "-v") == 0
    cap = capsys.readouterr()
    assert "smoke: runs 6/6, epochs 18/18" in cap.err
    assert re.search(r"smoke: runs \d/6, epochs \d+/18, \d+:\d\d elapsed, ETA \d+:\d\d", cap.err)
    assert len([x for x in cap.out.splitlines() if " epoch " in x]) >= 6  # -v: epoch lines too


def test_the_live_line_shows_the_measured_prediction_beside_the_eta(tmp_path):
    clock, out = Clock(), []
    p = Progress("s", GRID, tmp_path, mode="lines", out=out.append, clock=clock)
    p.predicted = 3725.0
    clock.t += 6
    p.finished("a", "completed")
    assert out == ["[a] completed; runs 1/2, epochs 3/6, 0:06 elapsed, ETA --:-- (predicted 1:02:05 in all)"]


def test_run_says_the_expected_time_before_training_from_the_budgets_measured_figure(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    path = _smoke(tmp_path)
    text = path.read_text()
    measured = 'measured = { seconds_per_epoch = 2.0, workers = 2, machine = "a test machine, today" }\n'
    text = text.replace("[budgets.quick]\n", "[budgets.quick]\n" + measured, 1)
    (tmp_path / "measured.toml").write_text(text)
    assert main(["run", str(tmp_path / "measured.toml"), "--out", str(tmp_path / "out"), "--device", "cpu",
                 "--budget", "quick", "--workers", "1", "--no-report", "--no-share-prefix"]) == 0
    out = capsys.readouterr().out.splitlines()
    said = [i for i, x in enumerate(out) if x.startswith("smoke: expected")]
    # 6 runs x 3 epochs, nothing shared (--no-share-prefix): 18 epochs x 2.0 s / 2 runs at once
    assert len(said) == 1 and out[said[0]] == (
        "smoke: expected 0:18 for the whole quick budget (18 epochs to train), predicted from its "
        "measured 2 s per epoch with 2 runs at once (a test machine, today), not timed on this machine")
    first_run = next(i for i, x in enumerate(out) if "] completed; runs " in x)
    assert said[0] < first_run and "(predicted 0:18 in all)" in out[first_run]


def test_a_budget_without_a_measured_figure_predicts_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert _run(tmp_path) == 0
    out = capsys.readouterr().out
    assert "smoke: expected" not in out and "(predicted" not in out
