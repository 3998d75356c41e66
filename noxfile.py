"""Sessions: reproduce (train + report), report (HTML from records, no torch), tests, lint, bench.

Quick start: ``nox -s reproduce`` then ``nox -s tests``. Arguments after ``--`` go to the
session, e.g. ``nox -s reproduce -- --study smoke`` or ``-- --data-dir D --budget quick``.
"""

from __future__ import annotations

import argparse

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]

PYTHON = "3.11"
TRAIN = "packages/annealbench"
REPORT = "packages/annealbench-report"
REAL_STUDIES = ["cifar10-cnn", "shakespeare-lstm"]


def _reproduce_args(posargs: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nox -s reproduce --")
    p.add_argument("--study", action="append", help="study name or .toml path (repeatable); "
                                                     f"default: {' and '.join(REAL_STUDIES)}")
    p.add_argument("--budget", default="auto",
                   help="quick | cpu | full | auto (full on CUDA; cpu on a CPU where defined)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--data-dir", help="data folder (default $ANNEALBENCH_DATA, else ./data)")
    p.add_argument("--out", default="reports")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--executor", default="local", choices=("local", "ray"))
    p.add_argument("--ray-address", help="join this Ray cluster ('auto' or host:port)")
    p.add_argument("--workers", help="runs at once (default $ANNEALBENCH_WORKERS, else one per CPU "
                                     "on a CPU, one per GPU); 1: one after another")
    p.add_argument("--threads", help="threads per run (default $ANNEALBENCH_THREADS, else 1 on a CPU)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                   help="override the studies' precision (default: theirs, auto)")
    return p.parse_args(posargs)


def _compiled(session: nox.Session) -> list[str]:
    """uv does not write bytecode at install time, and where PYTHONDONTWRITEBYTECODE is set (many
    containers) nothing ever does: then every worker process compiles torch's Python at start-up,
    measured here 8.2 s instead of 3.6 s from a pool's start to its first epoch (pip compiles by
    default)."""
    return ["--compile-bytecode"] if session.venv_backend == "uv" else []


@nox.session(python=PYTHON)
def reproduce(session: nox.Session) -> None:
    """Train the studies (resuming anything unfinished) and render their reports."""
    a = _reproduce_args(session.posargs)
    session.install(*_compiled(session), "-e", f"{TRAIN}[ray]" if a.executor == "ray" else TRAIN,
                    "-e", REPORT)
    cmd = ["annealbench", "run", *(a.study or REAL_STUDIES), "--budget", a.budget,
           "--device", a.device, "--out", a.out]
    if a.data_dir:
        cmd += ["--data-dir", a.data_dir]
    if a.dry_run:
        cmd.append("--dry-run")
    if a.executor == "ray":
        cmd += ["--executor", "ray"] + (["--ray-address", a.ray_address] if a.ray_address else [])
    for flag in ("workers", "threads", "precision"):
        if getattr(a, flag):
            cmd += [f"--{flag}", getattr(a, flag)]
    # A failed run (exit 1) is reported with its error; a bad spec (exit 2) stops here.
    session.run(*cmd, success_codes=[0, 1])
    if not a.dry_run:
        studies = [s.removesuffix(".toml").rsplit("/", 1)[-1] for s in (a.study or REAL_STUDIES)]
        session.run("annealbench-report", "build", "--out", a.out,
                    *[x for s in studies for x in ("--study", s)])


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Rebuild the HTML from records alone: this venv has no torch."""
    session.install("-e", REPORT)
    session.run("annealbench-report", "build", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    # scikit-learn: the digits data set of examples/digits, which the tests run end to end
    session.install("-e", f"{TRAIN}[ray]", "-e", REPORT, "pytest>=8", "pytest-timeout", "playwright",
                    "scikit-learn>=1.3")
    session.run("pytest", "tests", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "packages", "tests", "noxfile.py", *session.posargs)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Speed and memory as ratios against baselines measured in the same run (see annealbench.bench;
    e.g. ``nox -s bench -- --data-dir D --check``)."""
    session.install(*_compiled(session), "-e", TRAIN)
    session.run("python", "-m", "annealbench.bench", *session.posargs)
