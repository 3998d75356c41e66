"""Real faults on the real pipeline: a tiny CIFAR-format folder, a tiny study, the two CLIs.

Everything the tests compare is written by the CLIs themselves (``python -m annealbench run`` and
``python -m annealbench_report build``) in subprocesses; faults are injected for real: SIGKILL,
ENOSPC/OOM via ``ANNEALBENCH_FAULT`` (annealbench.faults), a real file-size limit (RLIMIT_FSIZE),
two processes at once, files truncated on disk.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

STUDY = "rel"
# 4 runs (one per schedule, one seed) x 2 epochs x 4 steps of 50 CIFAR-format images.
CIFAR_STUDY = f"""
spec_version = 1

[study]
name = "{STUDY}"
description = "reliability tests: tiny CIFAR-format folder"
primary_metric = "accuracy"
epochs = 2
batch_size = 50
seeds = [0]

[model]
name = "airbench-cnn"
widths = [8, 16]

[dataset]
name = "cifar10"
download = false
train_subset = 200
val_size = 50
test_subset = 50

[optimizers.sgd]
type = "sgd"
lrs = [0.05]
momentum = 0.9

[schedules.constant]

[schedules.step]
step_size = 1
gamma = 0.5

[schedules.cosine]

[schedules.plateau]
patience = 0
"""
N_RUNS, EPOCHS = 4, 2
PER_BATCH = 60  # images per CIFAR batch file: 5 x 60 = 300 train (250 + 50 val), 60 test


def make_cifar(data_dir: Path, per_batch: int = PER_BATCH, seed: int = 0) -> Path:
    """A folder in the official ``cifar-10-batches-py`` layout with a few hundred learnable images."""
    folder = Path(data_dir) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 216, size=(10, 3))
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        labels = rng.integers(0, 10, size=per_batch)
        base = np.repeat(colours[labels][:, :, None], 1024, axis=2)  # (N, 3, 1024), channel-major
        data = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8).reshape(per_batch, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "data": data, "labels": labels.tolist(),
                         "filenames": [f"{i}.png" for i in range(per_batch)]}, f)
    return folder


def write_toml(path: Path, replace: dict | None = None, text: str = CIFAR_STUDY) -> Path:
    body = textwrap.dedent(text)
    for old, new in (replace or {}).items():
        assert old in body, f"test bug: {old!r} not in the study text"
        body = body.replace(old, new)
    path.write_text(body)
    return path


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


# Subprocesses share compiled bytecode outside the repo: where the environment sets
# PYTHONDONTWRITEBYTECODE, every CLI would otherwise compile torch and scipy from source (seconds each).
PYCACHE = Path(tempfile.gettempdir()) / f"annealbench-test-pycache-{os.getuid()}"
# The suite pins the plain runner (every run trains its own epochs), which its counts of trained
# epochs and checkpoints describe; test_prefix_faults.py repeats the fault checks with shared
# prefixes on (share_prefix=True here; in-process: conftest's plain_runner fixture).
SHARE_ENV = "ANNEALBENCH_SHARE_PREFIX"


def _env(fault: str | None, share_prefix: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANNEALBENCH_FAULT", "ANNEALBENCH_DATA", "PYTHONDONTWRITEBYTECODE", SHARE_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if fault:
        env["ANNEALBENCH_FAULT"] = fault
    if not share_prefix:
        env[SHARE_ENV] = "0"
    return env


def session_alive(sid: int) -> list[int]:
    """Pids of processes still in session ``sid`` (a CLI started with start_new_session)."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
            pids.append(int(d.name))
    return pids


def cli(*args, fault: str | None = None, timeout: float = 180, preexec_fn=None,
        share_prefix: bool = False) -> Result:
    """Run ``python -m annealbench ...`` (or ``annealbench_report`` when args[0] is "report") in its
    own session; afterwards nothing of that session may be left running."""
    module = "annealbench_report" if args[0] == "report" else "annealbench"
    argv = [sys.executable, "-m", module, *(args[1:] if args[0] == "report" else args)]
    t0 = time.perf_counter()
    p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=_env(fault, share_prefix), start_new_session=True,
                         preexec_fn=preexec_fn)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    assert not session_alive(p.pid), f"{argv}: left processes behind: {session_alive(p.pid)}"
    return Result(p.returncode, out, err, time.perf_counter() - t0)


def run_cli(study: Path, out: Path, data: Path, *extra, fault: str | None = None, **kw) -> Result:
    # training only, as these tests were written: the report is built (and faulted) by report_cli
    return cli("run", study, "--out", out, "--data-dir", data, "--device", "cpu", "--budget", "quick",
               "--no-progress", "--no-report", *extra, fault=fault, **kw)


def report_cli(out: Path, fault: str | None = None, **kw) -> Result:
    return cli("report", "build", "--out", out, fault=fault, **kw)


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    """Records minus what measures the machine (wall time, throughput), in a canonical order."""
    keep = df[df["metric"].astype(str) != "throughput"].drop(columns=["wall_time_s"])
    keep = keep.astype({c: str for c in keep.columns if isinstance(keep[c].dtype, pd.CategoricalDtype)})
    cols = ["run_key", "epoch", "step", "split", "metric"]
    return keep.sort_values(cols, kind="mergesort").reset_index(drop=True)


def assert_records_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Value for value, as the README promises: exact floats (NaN equals NaN), not rtol 1e-5."""
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def read_records(out: Path, study: str = STUDY) -> pd.DataFrame:
    return pd.read_parquet(Path(out) / study / "records.parquet")


def temp_files(root: Path) -> list[Path]:
    """Temp files anywhere under root: ``*.tmp`` or hidden names other than lock files."""
    return sorted(p for p in Path(root).rglob("*") if p.is_file() and (
        p.name.endswith(".tmp") or (p.name.startswith(".") and not p.name.endswith(".lock"))))


def run_dirs(out: Path, study: str = STUDY) -> list[Path]:
    return sorted(p for p in (Path(out) / study / "runs").iterdir() if p.is_dir())


def checkpoint_epoch(run_dir: Path) -> int | None:
    import torch
    ck = run_dir / "checkpoint.pt"
    if not ck.exists():
        return None
    return int(torch.load(ck, map_location="cpu", weights_only=True)["epoch"])


def finished_epoch_files(out: Path, study: str = STUDY) -> dict[Path, tuple[int, int]]:
    """Epoch files a rerun must never rewrite: every file of a run with a final status, and the
    files a checkpoint covers. -> {path: (inode, mtime_ns)}"""
    import json
    files = {}
    if not (Path(out) / study / "runs").is_dir():
        return files
    for rd in run_dirs(out, study):
        status = rd / "status.json"
        final = status.exists() and json.loads(status.read_text())["status"] in ("completed", "diverged")
        covered = None if final else checkpoint_epoch(rd)
        for f in sorted((rd / "epochs").glob("*.csv")) if (rd / "epochs").is_dir() else []:
            if final or (covered is not None and int(f.stem) <= covered):
                st = f.stat()
                files[f] = (st.st_ino, st.st_mtime_ns)
    return files


def assert_untouched(before: dict[Path, tuple[int, int]]) -> None:
    for f, stamp in before.items():
        assert f.exists(), f"{f}: a finished epoch file was removed"
        st = f.stat()
        assert (st.st_ino, st.st_mtime_ns) == stamp, f"{f}: a finished epoch was written again"


def assert_no_lock_holders(out: Path) -> None:
    """Every run lock can be taken at once: no process (alive or leaked) still holds one."""
    for lock in Path(out).rglob(".lock"):
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            pytest.fail(f"{lock} is still held by some process")
        finally:
            os.close(fd)


def one_line_error(r: Result, *fragments: str) -> str:
    lines = r.err_lines()
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]


@dataclass
class Baseline:
    data: Path
    study: Path
    out: Path
    records: pd.DataFrame
    seconds: float


def copy_out(baseline: Baseline, dest: Path) -> Path:
    shutil.copytree(baseline.out, dest, symlinks=True)
    return dest


def one_line(err: str, *fragments: str) -> str:
    """The single stderr line of a user error, checked to hold each fragment; no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]
