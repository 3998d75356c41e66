"""ci/gpu-check.sh rehearsed to the end on a CPU (GPU_CHECK_DEVICE=cpu), as a bare GPU machine runs
it: a plain copy of the tree (a git checkout, no .nox, nothing installed), this interpreter as
the machine's Python, no nox on PATH, the data sets built from a shared folder. Sized down with
the script's knobs: a seconds-long study for both sides of the comparison, the estimate's dry
run, no bench (it takes minutes even in its dry run on two cores)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from testkit import synthetic_cnn

ROOT = Path(__file__).resolve().parents[2]  # the repository

pytestmark = pytest.mark.timeout(1600)
LIMITS = ("ENV", "DATA", "GPU", "CPU", "FULL", "CONSISTENCY")

STUDY = """
spec_version = 1

[study]
name = "gcheck"
description = "tests: ci/gpu-check.sh's consistency stage"
primary_metric = "accuracy"
epochs = 2
batch_size = 64
seeds = [0, 1, 2]
min_effect = 0.05

""" + synthetic_cnn(256, 128, 16) + """[schedules.constant]

[schedules.cosine]

[budgets.quick]
"""

MAKER = """
import pickle, sys
from pathlib import Path
import numpy as np
folder = Path(sys.argv[1]) / "cifar-10-batches-py"
folder.mkdir(parents=True)
rng = np.random.default_rng(0)
for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {"data": rng.integers(0, 256, (1200, 3072), dtype=np.uint8),
             "labels": [int(x) for x in rng.integers(0, 10, 1200)]}
    (folder / name).write_bytes(pickle.dumps(batch))
"""


def _plain_tree(dest: Path) -> Path:
    """The working tree's files (tracked and untracked, not ignored), committed in a fresh git."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dest / f)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "tree"]):
        subprocess.run([*git, *cmd], cwd=dest, check=True)
    return dest


def _shared(dest: Path) -> Path:
    (dest / "tinyshakespeare").mkdir(parents=True)
    rng = np.random.default_rng(1)
    text = "".join(rng.choice(list("abcdefgh \n"), 300_000))
    (dest / "tinyshakespeare" / "input.txt").write_text(text)
    (dest / "make_cifar10.py").write_text(textwrap.dedent(MAKER))
    return dest


def test_gpu_check_runs_to_the_end_on_a_cpu_without_nox(tmp_path):
    tree = _plain_tree(tmp_path / "tree")
    (tree / "gcheck.toml").write_text(STUDY)
    path = os.pathsep.join(p for p in ("/usr/bin", "/bin") if os.path.isdir(p))
    assert shutil.which("nox", path=path) is None
    env = {"PATH": path, "HOME": str(tmp_path), "LANG": "C.UTF-8", "GPU_CHECK_DEVICE": "cpu",
           "GPU_CHECK_PYTHON": sys.executable, "GPU_CHECK_SHARED": str(_shared(tmp_path / "shared")),
           "GPU_CHECK_STUDIES": str(tree / "gcheck.toml"), "GPU_CHECK_WORKERS": "2",
           "GPU_CHECK_BENCH_ARGS": "skip", "GPU_CHECK_ESTIMATE_ARGS": "--dry-run --epochs 2",
           "GPU_CHECK_EXTRA": "", "ANNEALBENCH_THREADS": "1",
           # about 2 minutes on two idle cores; room for cores that other jobs share
           "GPU_CHECK_TOTAL": "1500", **{f"GPU_CHECK_LIMIT_{s}": "400" for s in LIMITS}}
    out, data = tmp_path / "out", tmp_path / "data"
    r = subprocess.run(["bash", "ci/gpu-check.sh", str(out), str(data)], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=1550)
    summary = (out / "summary.txt").read_text()
    assert r.returncode == 0, summary + r.stdout[-3000:] + r.stderr[-3000:]
    print(summary)
    lines = summary.splitlines()
    for stage in ("env", "data", "gpu", "cpu", "full-cifar10-cnn", "full-shakespeare-lstm", "consistency"):
        assert any(x.startswith(f"{stage} ") and " exit   0 " in x for x in lines), stage
    assert (data / "cifar-10-batches-py" / "test_batch").is_file()
    assert (data / "tinyshakespeare" / "input.txt").read_text() == (
        tmp_path / "shared" / "tinyshakespeare" / "input.txt").read_text()
    # both sides of the comparison were trained here, from this tree, and judged
    assert "gcheck: " in summary and "agree: yes" in summary
    assert (out / "cpu" / "gcheck" / "records.parquet").is_file()
    assert "gpu-check: passed" in summary.splitlines()[-1]


def test_no_cpu_records_is_a_failure_not_a_skip(tmp_path):
    """The consistency stage alone, given an empty CPU folder: one line, non-zero."""
    (tmp_path / "cpu").mkdir()
    script = (ROOT / "ci" / "gpu-check.sh").read_text()
    body = script[script.index("consistency() {"):script.index("export -f")]
    r = subprocess.run(["bash", "-c", body + '\nconsistency "$@"', "_", str(tmp_path / "cpu"),
                        str(tmp_path / "gpu"), str(tmp_path / "o"), "cifar10-cnn"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and r.stdout.strip().splitlines() == [
        f"consistency: no CPU records at {tmp_path / 'cpu'}/cifar10-cnn"]
