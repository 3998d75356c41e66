"""Sessions: reproduce (train + report), report (HTML from records, no torch), tests, lint, bench,
nightly (the nightly job's report side, ci/README.md).

Quick start: ``nox -s reproduce`` then ``nox -s tests``. Arguments after ``--`` go straight to
``annealbench run`` (``nox -s reproduce -- --help``), e.g. ``nox -s reproduce -- smoke`` or
``-- --data-dir D --budget short``; with no study named, the real studies, each at its
``default_budget`` (the headline ``reference``; ``annealbench run --budget auto``).
"""

from __future__ import annotations

import importlib.util
import os

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

PYTHON = "3.11"
TRAIN = "packages/annealbench"
REPORT = "packages/annealbench-report"
REAL_STUDIES = ["cifar10-cnn", "shakespeare-lstm"]
# pytest-xdist workers of ``nox -s tests``: the suite's tests start training processes of their own,
# so more workers than this only queue for the same cores of a small CI machine
MAX_TEST_WORKERS = 4


def reproduce_command(posargs: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of ``nox -s reproduce -- ARGS``: ARGS go to ``annealbench
    run`` untouched (its own parser is the only one, so ``-- --help`` shows its help); the real
    studies are its default through the environment, used only when ARGS name no study."""
    return ["annealbench", "run", *posargs], {"ANNEALBENCH_STUDIES": " ".join(REAL_STUDIES)}


def _wants_ray(posargs: list[str]) -> bool:
    return "--executor=ray" in posargs or any(
        a == "--executor" and b == "ray" for a, b in zip(posargs, posargs[1:]))


def _install(session: nox.Session, *args: str) -> None:
    """``session.install``, except under ``nox --no-venv``: there the sessions run in the current
    environment, which must already hold what they need (an air-gapped GPU runner with the packages
    installed from wheels, as ci/gpu-check.sh was run), and nox refuses to install into it."""
    if session.venv_backend == "none":
        session.log(f"--no-venv: using the current environment as it is (not installing {args})")
        return
    session.install(*args)


def _compiled(session: nox.Session) -> list[str]:
    """uv does not write bytecode at install time, and where PYTHONDONTWRITEBYTECODE is set (many
    containers) nothing ever does: then every worker process compiles torch's Python at start-up,
    measured here 8.2 s instead of 3.6 s from a pool's start to its first epoch (pip compiles by
    default)."""
    return ["--compile-bytecode"] if session.venv_backend == "uv" else []


@nox.session(python=PYTHON)
def reproduce(session: nox.Session) -> None:
    """Train the studies (resuming anything unfinished) and render their reports."""
    extra = "[ray]" if _wants_ray(session.posargs) else ""
    _install(session, *_compiled(session), "-e", f"{TRAIN}{extra}", "-e", REPORT)
    cmd, env = reproduce_command(session.posargs)
    # A failed run (exit 1) is reported with its error; a bad spec (exit 2) stops here.
    session.run(*cmd, env=env, success_codes=[0, 1])


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Rebuild the HTML from records alone: this venv has no torch."""
    _install(session, "-e", REPORT)
    session.run("annealbench-report", "build", *session.posargs)


@nox.session(python=PYTHON)
def nightly(session: nox.Session) -> None:
    """The nightly job's report side (ci/nightly.sh): ``-- stage WORK SITE``, ``-- close SITE ...``
    (python -m annealbench_report.nightly; no torch)."""
    _install(session, "-e", REPORT)
    session.run("python", "-m", "annealbench_report.nightly", *session.posargs)


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # a container's share, not the host's count
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _chooses_workers(posargs: list[str]) -> bool:
    """Whether ARGS already say how pytest-xdist runs: ``-n N``/``-nN``/``--numprocesses``, ``-p
    no:xdist``; or need one process: a debugger (xdist refuses ``--pdb``; ``--trace`` needs a
    terminal), or the tests' own output on screen (``-s``: xdist's workers do not show it)."""
    return any(a.startswith(("-n", "--numprocesses", "--pdb", "--trace")) or a.endswith("no:xdist")
               or a in ("-s", "--capture=no") for a in posargs)


def pytest_command(posargs: list[str], cpus: int | None = None, xdist: bool = True) -> list[str]:
    """The command line of ``nox -s tests -- ARGS``: in parallel, one pytest-xdist worker per usable
    CPU up to MAX_TEST_WORKERS, a test file's tests kept on one worker (``--dist loadfile``: its
    module fixtures are built once; tests/conftest.py also keeps files that must not overlap on one
    worker), unless ARGS choose otherwise (``-- -n 0`` runs serially) or pytest-xdist is missing."""
    workers = min(MAX_TEST_WORKERS, cpus or _usable_cpus())
    if not xdist or _chooses_workers(posargs) or workers < 2:
        return ["pytest", *posargs]
    dist = [] if any(a.startswith("--dist") for a in posargs) else ["--dist", "loadfile"]
    return ["pytest", "-n", str(workers), *dist, *posargs]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    # scikit-learn: the digits data set of examples/digits, which the tests run end to end
    _install(session, "-e", f"{TRAIN}[ray]", "-e", REPORT, "pytest>=8", "pytest-timeout", "pytest-xdist",
             "playwright", "scikit-learn>=1.3", "nox")
    # testpaths (pyproject) is tests/: `nox -s tests -- tests/report -x` runs that folder only
    # under --no-venv the current environment may lack pytest-xdist: then the suite runs serially
    xdist = session.venv_backend != "none" or importlib.util.find_spec("xdist") is not None
    session.run(*pytest_command(session.posargs, xdist=xdist))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    _install(session, "ruff")
    session.run("ruff", "check", "packages", "tests", "noxfile.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Speed and memory as ratios against baselines measured in the same run (see annealbench.bench.main;
    e.g. ``nox -s bench -- --data-dir D --check``). The report package too: bf16_accuracy's
    t-interval is the one its pages show (annealbench_report.analysis.inference.t_interval)."""
    _install(session, *_compiled(session), "-e", TRAIN, "-e", REPORT)
    session.run("python", "-m", "annealbench.bench", *session.posargs)
