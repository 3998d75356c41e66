"""The nightly workflow's git steps (ci/site.sh), rehearsed for several nights in a temporary
repository the way a persistent self-hosted runner lives them, and the workflow's wiring."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # Ray's dependency; the tests session installs it

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "init.defaultBranch=main",
       "-c", "protocol.file.allow=always"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def clone(tmp_path, root):
    """A runner's workspace: a clone of a bare origin holding ci/site.sh on main."""
    origin, work = tmp_path / "origin.git", tmp_path / "seed"
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    _git(tmp_path, "init", "-q", str(work))
    (work / "ci").mkdir()
    shutil.copy2(root / "ci" / "site.sh", work / "ci" / "site.sh")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "main")
    _git(work, "push", "-q", str(origin), "HEAD:refs/heads/main")
    runner = tmp_path / "runner"
    _git(tmp_path, "clone", "-q", str(origin), str(runner))
    return runner, origin


def _night(runner: Path, n: int) -> None:
    site = runner / "site"
    subprocess.run(["ci/site.sh", "restore", "site"], cwd=runner, check=True, capture_output=True)
    (site / f"night-{n}.txt").write_text(f"night {n}\n")
    subprocess.run(["ci/site.sh", "publish", "site", f"nightly {n}"], cwd=runner, check=True,
                   capture_output=True)
    # the next night's actions/checkout cleans the workspace (git clean -ffdx): the worktree's
    # folder goes, its registration in .git/worktrees stays
    shutil.rmtree(site)


def test_the_site_survives_night_after_night_on_a_persistent_runner(clone):
    runner, origin = clone
    for n in (1, 2, 3):
        _night(runner, n)
    published = _git(origin, "ls-tree", "--name-only", "gh-pages").split()
    assert published == ["night-1.txt", "night-2.txt", "night-3.txt"]
    assert _git(origin, "log", "--format=%s", "gh-pages").split("\n")[:3] == [
        "nightly 3", "nightly 2", "nightly 1"]
    # a rerun by hand while the folder is still there starts from origin again
    subprocess.run(["ci/site.sh", "restore", "site"], cwd=runner, check=True, capture_output=True)
    assert sorted(p.name for p in (runner / "site").glob("*.txt")) == published


def test_an_unreachable_origin_is_not_taken_for_a_first_night(clone):
    runner, _ = clone
    _git(runner, "remote", "set-url", "origin", str(runner.parent / "gone.git"))
    p = subprocess.run(["ci/site.sh", "restore", "site"], cwd=runner, capture_output=True, text=True)
    assert p.returncode != 0 and "cannot reach origin" in p.stderr
    assert not (runner / "site").exists()


def test_the_workflow_can_push_and_finds_its_tools(root):
    wf = yaml.safe_load((root / "ci" / "github" / "nightly-gpu.yml").read_text())
    assert wf["permissions"] == {"contents": "write", "issues": "write"}
    steps = {s.get("name"): s for s in wf["jobs"]["nightly"]["steps"]}
    assert steps["Restore the published site"]["run"] == "ci/site.sh restore site"
    assert steps["Publish"]["run"].startswith("ci/site.sh publish site ")
    tools = steps["Tools"]["run"]
    assert "--user" not in tools and "venv" in tools and "GITHUB_PATH" in tools
    post = steps["Post the night's alerts to the tracking issue"]
    assert post["if"].startswith("always()") and "vars.NIGHTLY_ISSUE" in post["if"]
    assert "gh issue comment" in post["run"] and "site/nightly/alerts.md" in post["run"]
    names = list(steps)
    assert names.index("Publish") < names.index("Post the night's alerts to the tracking issue")
    nightly = (root / "ci" / "nightly.sh").read_text()
    assert "annealbench.bench.versions" in nightly  # the torch and driver check before the night


def test_publish_refuses_a_file_over_50_mb_with_one_line(clone):
    runner, origin = clone
    subprocess.run(["ci/site.sh", "restore", "site"], cwd=runner, check=True, capture_output=True)
    (runner / "site" / "cnn").mkdir()
    with open(runner / "site" / "cnn" / "records.csv", "wb") as f:  # sparse: 51 MB on no disk
        f.truncate(51_000_000)
    p = subprocess.run(["ci/site.sh", "publish", "site", "nightly"], cwd=runner, capture_output=True,
                       text=True)
    assert p.returncode == 1
    assert p.stderr.strip() == ("site: site/cnn/records.csv is 51 MB, over the 50 MB a site file may "
                                "have; not publishing")
    assert subprocess.run([*GIT, "ls-remote", "--exit-code", "--heads", str(origin), "gh-pages"],
                          capture_output=True).returncode == 2  # nothing was pushed


def test_the_torch_check_stops_outside_the_tested_range_with_one_line(tmp_path, root):
    pytest.importorskip("torch")
    from annealbench.bench import versions

    bounds = versions.torch_range(root / "ci" / "nightly-constraints.txt")
    assert bounds == [(">=", (2, 11)), ("<", (2, 16))]
    assert versions.in_range("2.15.0+cu132", bounds) and versions.in_range("2.11.0", bounds)
    assert not versions.in_range("2.16.0", bounds) and not versions.in_range("2.10.1+cpu", bounds)
    far = tmp_path / "c.txt"
    far.write_text("torchvision>=0.1\ntorch>=99.0  # a future torch\n")
    out = tmp_path / "v.json"
    p = subprocess.run([sys.executable, "-m", "annealbench.bench.versions", "--device", "cpu",
                        "--constraints", str(far), "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 3
    assert p.stderr.strip().splitlines() == [
        f"nightly: torch {json.loads(out.read_text())['torch']} is outside the tested range "
        f"torch>=99.0 ({far}); stopping"]
