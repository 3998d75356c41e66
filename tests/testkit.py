"""Small helpers several test folders share (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

import csv
import functools
import importlib.util
import os
from pathlib import Path

# The fixed LR's run evaluated at two averages of its weights (EMA and SWA's uniform tail), as a
# study's arm tables: tests add them beside their own [schedules.constant].
AVERAGED_ARMS = """
[schedules.constant-ema]
type = "constant"
evaluate = { average = "ema", decay = 0.9, bn_batches = 2 }

[schedules.constant-swa]
type = "constant"
evaluate = { average = "uniform", start = { frac = 0.5 }, bn_batches = 2 }
"""


def child_pids() -> list[int]:
    """Live (not zombie) child processes of this one, from /proc (Linux)."""
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != "Z":
                kids.append(int(d.name))
    return sorted(kids)


def run_rows(run_dir: Path) -> list[tuple]:
    """Every record a run wrote but what measures the machine (wall time, throughput)."""
    rows = []
    for f in sorted((run_dir / "epochs").glob("*.csv")):
        with open(f, newline="") as fh:
            rows += [(r["epoch"], r["step"], r["split"], r["metric"], r["value"], r["lr"])
                     for r in csv.DictReader(fh) if r["metric"] != "throughput"]
    return rows


def untuned_smoke(text: str) -> str:
    """The smoke study's text with one base LR and no tuning budget for its quick budget: a copy
    under another file or study name has no tuning file of its own (the shipped one is tied to the
    shipped file's hash), and one LR keeps its quick grid at one run per schedule and seed."""
    out = text.replace("lrs = [0.05, 0.2, 0.5]", "lrs = [0.2]").replace('tuned_by = "tuning"\n', "")
    out = out.replace("lrs = [0.2, 0.5, 1.0]", "lrs = [0.5]")  # the schedule-free arm's
    assert out.count("tuned_by") == 0 and "lrs = [0.2]" in out and "lrs = [0.5]" in out, \
        "smoke.toml changed: update this"
    return out


def tiny_study() -> str:
    """tests/conftest.py's TINY_STUDY, loaded by path: in a whole-suite run another conftest
    (tests/report's) holds the module name ``conftest``."""
    spec = importlib.util.spec_from_file_location("_tests_conftest", Path(__file__).parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TINY_STUDY


def synthetic_cnn(n_train: int, n_val: int, image_size: int) -> str:
    """The [model], [dataset] and [optimizers.sgd] tables most small test studies share: the small
    CNN on synthetic images (as many test as validation images), SGD at one LR with momentum."""
    return f"""[model]
name = "airbench-cnn"
widths = [8, 16]

[dataset]
name = "synthetic-images"
n_train = {n_train}
n_val = {n_val}
n_test = {n_val}
image_size = {image_size}

[optimizers.sgd]
type = "sgd"
lrs = [0.05]
momentum = 0.9

"""


def load_text(folder: Path, text: str, filename: str):
    """The study ``text`` describes, written to ``folder/filename`` and loaded from there."""
    from annealbench.spec.load import load_study  # here: the report's tests import this module too

    path = Path(folder) / filename
    path.write_text(text)
    return load_study(path)


@functools.cache
def noxfile():
    """The repository's noxfile as a module, loaded once per process: nox registers each session as
    the file is executed, and a second registration of a name is a warning (an error to come)."""
    spec = importlib.util.spec_from_file_location("noxfile_under_test",
                                                  Path(__file__).resolve().parents[1] / "noxfile.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
