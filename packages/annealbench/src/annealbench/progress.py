"""What a person sees while a study trains: one live line per study in a terminal, a short log
without one, per-epoch lines in each run's ``train.log`` (and on screen with ``-v``).

The runners report through a plain ``log(message)`` callable, in this process or relayed from
worker processes; ``Progress.log`` sorts those messages: an epoch line counts toward the total
and goes to the run's log file, anything else (a failure, the pool starting) is printed. The ETA
is the epochs left divided by the epochs per second measured in this invocation, across all
workers, so it includes their parallelism and waits.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

# the line annealbench.training.runner.train_run logs after each epoch: "[run_key] label epoch 3/10 loss …"
EPOCH_LINE = re.compile(r"^\[(?P<key>[^\]]+)\] .* epoch (?P<epoch>\d+)/(?P<of>\d+) ")
QUIET_EVERY_S = 30.0  # without a terminal: at most one progress line this often


def clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """Counts runs and epochs of one study's grid and shows them as ``mode`` says: "bar" (a tqdm
    line on stderr), "lines" (one line per finished run, a progress line at most every 30 s) or
    "off" (print every message, as before). ``verbose``: epoch lines on screen too."""

    def __init__(self, name: str, grid: list[dict], root: Path, *, mode: str = "lines",
                 verbose: bool = False, out=print, clock=time.monotonic):
        self.name = name
        self.root = Path(root)
        self.mode = mode
        self.verbose = verbose
        self.out = out
        self.clock = clock
        self.t0 = clock()
        self.last_line = clock()
        self.epochs_of = {c["run_key"]: int(c["epochs"]) for c in grid}
        self.done: dict[str, int] = {}  # epochs finished per run
        self.trained = 0  # epochs trained in this invocation: what the rate is measured on
        self.runs_done = self.failed = 0
        self.predicted: float | None = None  # the whole study's expected seconds (estimate.expected_seconds)
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            size = shutil.get_terminal_size()
            self.bar = tqdm(total=sum(self.epochs_of.values()), unit="epoch", file=sys.stderr,
                            bar_format="{desc}",
                            # tqdm's own guess on a pty without a size (script, some CI
                            # runners) is 0 columns and -1 rows, which hides the line; shutil
                            # falls back to 80x24 there
                            ncols=size.columns, nrows=size.lines)
            self._refresh()

    @property
    def total_epochs(self) -> int:
        return sum(self.epochs_of.values())

    def line(self) -> str:
        """runs 3/10, epochs 40/100, 1 failed, 1:02 elapsed, ETA 1:33 (predicted 2:40 in all)"""
        elapsed = self.clock() - self.t0
        done = sum(self.done.values())
        left = self.total_epochs - done
        eta = "0:00" if not left else clock(left * elapsed / self.trained) if self.trained else "--:--"
        failed = f", {self.failed} failed" if self.failed else ""
        # the study's measured figures' prediction for the whole study, beside this run's own ETA
        predicted = f" (predicted {clock(self.predicted)} in all)" if self.predicted is not None else ""
        return (f"runs {self.runs_done}/{len(self.epochs_of)}, epochs {done}/{self.total_epochs}"
                f"{failed}, {clock(elapsed)} elapsed, ETA {eta}{predicted}")

    def _refresh(self) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"{self.name}: {self.line()}", refresh=True)

    def _print(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stdout)
        else:
            self.out(msg)

    def log(self, msg: str) -> None:
        m = EPOCH_LINE.match(msg) if self.mode != "off" else None
        if m is None:
            self._print(msg)
            return
        key = m["key"]
        try:
            with open(self.root / "runs" / key / "train.log", "a", encoding="utf-8") as f:
                f.write(msg + "\n")
        except OSError:
            pass  # a log line is not worth failing a run over; the records are what counts
        self.done[key] = max(self.done.get(key, 0), int(m["epoch"]))
        self.trained += 1
        if self.verbose:
            self._print(msg)
        self._tick()

    def finished(self, key: str, status: str, message: str = "") -> None:
        """A run's outcome: its epochs count as done (a shared prefix or a skip trains fewer)."""
        self.runs_done += 1
        self.failed += status == "failed"
        self.done[key] = self.epochs_of.get(key, 0)
        if self.mode == "lines" and status != "skipped":
            why = f" ({message})" if message and status != "completed" else ""
            self._print(f"[{key}] {status}{why}; {self.line()}")
            self.last_line = self.clock()
        self._tick()

    def _tick(self) -> None:
        if self.bar is not None:
            self._refresh()
        elif self.mode == "lines" and self.clock() - self.last_line >= QUIET_EVERY_S:
            self._print(f"{self.name}: {self.line()}")
            self.last_line = self.clock()

    def close(self) -> None:
        if self.bar is not None:
            self._refresh()
            self.bar.close()
            self.bar = None
