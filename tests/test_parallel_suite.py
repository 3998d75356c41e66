"""``nox -s tests`` runs the suite in parallel (pytest-xdist): the command line the noxfile builds
from the user's arguments, and the scheduler tests/conftest.py gives ``--dist loadfile``, which keeps
the test files that start a local Ray cluster on one worker."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import testkit

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def noxfile():
    return testkit.noxfile()  # one load per process, shared with tests/train/test_reproduce.py


@pytest.fixture(scope="module")
def conftest():
    return _load(ROOT / "tests" / "conftest.py", "tests_conftest_under_test")


@pytest.mark.parametrize(("cpus", "workers"), [(2, "2"), (3, "3"), (4, "4"), (64, "4")])
def test_one_worker_per_cpu_up_to_the_cap_with_whole_files_per_worker(noxfile, cpus, workers):
    assert noxfile.pytest_command([], cpus=cpus) == ["pytest", "-n", workers, "--dist", "loadfile"]
    assert noxfile.MAX_TEST_WORKERS == 4
    # a folder and pytest's own options still go through, after the parallel ones
    assert noxfile.pytest_command(["tests/report", "-x"], cpus=2) == [
        "pytest", "-n", "2", "--dist", "loadfile", "tests/report", "-x"]


@pytest.mark.parametrize("args", [["-n", "0"], ["-n0"], ["-n", "3"], ["--numprocesses=3"], ["-p", "no:xdist"],
                                  ["-pno:xdist"], ["tests/report", "--pdb"], ["--trace"],
                                  ["tests/report/test_report_calibration.py", "-s"], ["--capture=no"]])
def test_arguments_that_choose_the_workers_or_need_one_process_are_left_as_they_are(noxfile, args):
    assert noxfile.pytest_command(args, cpus=4) == ["pytest", *args]


def test_serial_on_one_cpu_or_without_xdist_and_a_chosen_dist_mode_is_kept(noxfile):
    assert noxfile.pytest_command(["-x"], cpus=1) == ["pytest", "-x"]
    assert noxfile.pytest_command(["-x"], cpus=4, xdist=False) == ["pytest", "-x"]
    assert noxfile.pytest_command(["--dist", "load"], cpus=2) == ["pytest", "-n", "2", "--dist", "load"]
    assert noxfile.pytest_command(["--dist=loadgroup"], cpus=2) == ["pytest", "-n", "2", "--dist=loadgroup"]


def test_every_file_that_starts_a_ray_cluster_runs_on_the_ray_worker(conftest):
    starts_ray = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("*.py")
                  if re.search(r"\bray\.init\(", p.read_text())}
    assert starts_ray  # the pattern still finds them
    assert {f for f, group in conftest.SAME_WORKER.items() if group == "ray"} == starts_ray
    assert all((ROOT / f).is_file() for f in conftest.SAME_WORKER)


class _Config:
    """What pytest-xdist's schedulers read of the configuration: two local workers."""

    def __init__(self, dist: str):
        self.dist = dist

    def getvalue(self, name):
        return {"dist": self.dist, "tx": ["popen", "popen"]}.get(name)


def test_loadfile_scopes_are_files_except_the_grouped_ones(conftest):
    pytest.importorskip("xdist")
    sched = conftest.pytest_xdist_make_scheduler(_Config("loadfile"), None)
    cli = "tests/report/test_report_cli.py"
    assert sched._split_scope(f"{cli}::test_x[a]") == cli
    assert sched._split_scope("tests/train/test_executors.py::test_ray") == "ray"
    assert sched._split_scope("tests/train/test_user_pieces.py::test_other") == "ray"
    # another mode the user chose stays pytest-xdist's own
    assert conftest.pytest_xdist_make_scheduler(_Config("load"), None) is None
