"""Three nights of ci/nightly.sh on this CPU, published through ci/site.sh to a bare git remote
standing in for gh-pages, the way the workflow runs them on a persistent runner.

The studies really train (the smoke study at its quick budget, one process, on the CPU); nox runs
the noxfile's sessions in this environment (``--no-venv``); the bench is a stand-in that writes a
bench result with set figures (the bench itself is tested in test_bench.py and takes minutes).
Night 1 passes. Night 2 has a run that runs out of memory: the night exits 1, is published and
marked failed. Night 3 has a diverging cosine run (its verdict becomes 'unstable') and a 30%
slower bench: alerts.md names both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "-c", "init.defaultBranch=main",
       "-c", "protocol.file.allow=always"]

FAKE_BENCH = '''
import json, os, sys, time
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
speed = float(os.environ.get("REHEARSAL_SPEED", "1"))
samples = [r * speed for r in (1000.0, 1010.0, 990.0, 1020.0, 980.0)]
now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
# a slower machine slows the bare loop alike: the ratio holds, the throughput drops
m = {"baseline": 1000.0 * speed, "candidate": sorted(samples)[2], "unit": "img/s", "target": ">= 0.95",
     "samples": {"candidate": samples}}
m["ratio"] = m["candidate"] / m["baseline"]
m["met"] = m["ratio"] >= 0.95
(out / f"bench-{now.replace(':', '')}.json").write_text(json.dumps(
    {"time": now, "dataset": "synthetic-images", "device_name": "rehearsal CPU",
     "measures": {"runner_throughput": m}}))
print("bench (stand-in):", m["candidate"], "img/s")
'''

NOX = '''#!/bin/sh
# the rehearsal's nox: the real one on the noxfile, in this environment; the bench a stand-in
case " $* " in *" --install-only"*) exit 0 ;; esac
case " $* " in *" -s bench "*) exec {python} {bench} "$@" ;; esac
exec {python} -m nox --no-venv "$@"
'''


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def runner(tmp_path, root):
    """A clone of a bare origin whose main holds ci/, the noxfile and the smoke study, and a PATH
    whose nox and python are this environment's."""
    origin, seed = tmp_path / "origin.git", tmp_path / "seed"
    _git(tmp_path, "init", "-q", "--bare", str(origin))
    _git(tmp_path, "init", "-q", str(seed))
    shutil.copytree(root / "ci", seed / "ci")
    shutil.copy2(root / "noxfile.py", seed / "noxfile.py")
    (seed / "experiments").mkdir()
    for f in ("smoke.toml", "smoke.quick.tuning.json"):
        shutil.copy2(root / "experiments" / f, seed / "experiments" / f)
    _git(seed, "add", "-A")
    _git(seed, "commit", "-qm", "main")
    _git(seed, "push", "-q", str(origin), "HEAD:refs/heads/main")
    clone = tmp_path / "runner"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "fake_bench.py").write_text(FAKE_BENCH)
    nox = bin_dir / "nox"
    nox.write_text(NOX.format(python=sys.executable, bench=tmp_path / "fake_bench.py"))
    nox.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "NIGHTLY_DEVICE": "cpu", "NIGHTLY_BUDGET": "quick", "NIGHTLY_STUDIES": "smoke",
           "ANNEALBENCH_WORKERS": "1", "ANNEALBENCH_THREADS": "1", "TMPDIR": str(tmp_path)}
    for k in ("ANNEALBENCH_FAULT", "REHEARSAL_SPEED", "ANNEALBENCH_STUDIES"):
        env.pop(k, None)
    return clone, origin, env


def _night(clone: Path, env: dict, **extra: str) -> subprocess.CompletedProcess:
    """One night as the workflow runs it: restore the site, the night, publish (always), then
    the next checkout's clean removes the site folder."""
    subprocess.run(["ci/site.sh", "restore", "site"], cwd=clone, check=True, capture_output=True)
    p = subprocess.run(["ci/nightly.sh", "site", str(clone.parent / "data")], cwd=clone,
                       env={**env, **extra}, capture_output=True, text=True)
    alerts = clone / "site" / "nightly" / "alerts.md"
    p.alerts = alerts.read_text() if alerts.exists() else ""
    subprocess.run(["ci/site.sh", "publish", "site", "nightly"], cwd=clone, check=True,
                   capture_output=True)
    shutil.rmtree(clone / "site")
    return p


def _published(origin: Path, path: str) -> str:
    return _git(origin, "show", f"gh-pages:{path}")


@pytest.mark.timeout(1200)  # about 2.5 CPU minutes; minutes more on a busy machine
def test_three_nights_pass_fail_and_alert_and_the_site_stays_small(runner):
    clone, origin, env = runner
    n1 = _night(clone, env)
    assert n1.returncode == 0, n1.stdout[-3000:] + n1.stderr[-3000:]
    assert n1.alerts == ""  # nothing to post on a quiet night

    # a run runs out of memory: the night is red, says what failed, and is still published
    n2 = _night(clone, env, ANNEALBENCH_FAULT="oom:train-step:5")
    assert n2.returncode == 1, n2.stdout[-3000:] + n2.stderr[-3000:]
    assert "smoke: 1 run failed" in n2.stdout
    assert "## failed night" in n2.alerts and "1 run failed" in n2.alerts

    # a diverging cosine run flips its verdict, and the bench is 30% slower
    n3 = _night(clone, env, ANNEALBENCH_FAULT="nan:train-step:80", REHEARSAL_SPEED="0.7")
    assert "## verdict change" in n3.alerts, n3.alerts + n3.stdout[-3000:] + n3.stderr[-3000:]
    assert "smoke / sgd / tuned / better / cosine: inconclusive → unstable" in n3.alerts
    drop = n3.alerts.split("## throughput drop")[1]
    assert "bench runner_throughput (candidate): median 0.70×" in drop

    nights = [json.loads(line) for line in _published(origin, "nightly/nights.jsonl").splitlines()]
    assert [n["status"] for n in nights[:2]] == ["passed", "failed"]
    assert nights[1]["failures"] == ["smoke: 1 run failed"]
    assert all(n["versions"]["torch"] for n in nights)
    page = _published(origin, "nightly/index.html")
    assert "FAILED" in page and nights[1]["night"] in page
    # two charts, each drawn wide and for a phone
    assert page.count('class="fig fig-wide"') == 2 and page.count('class="fig fig-narrow"') == 2
    tree = _git(origin, "ls-tree", "-r", "-l", "gh-pages").splitlines()
    files = {line.split("\t")[1]: int(line.split()[3]) for line in tree}
    assert {p.split("/")[1] for p in files if p.startswith("archive/")} == {n["night"] for n in nights}
    assert not any("/runs/" in p or p.endswith("records.csv") for p in files)  # no raw step rows
    assert max(files.values()) < 1_000_000 and sum(files.values()) < 5_000_000, sorted(
        files.items(), key=lambda x: -x[1])[:3]
