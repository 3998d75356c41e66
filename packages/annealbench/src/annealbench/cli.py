"""``annealbench``: validate studies, list schedules, show a grid, tune a budget, run a study.

User errors (a bad spec, missing or malformed data, a full disk) print one line and exit 2; a
study whose runs failed exits 1; otherwise 0. Two ``run`` processes may share an output folder:
each skips the runs the other holds, then waits for them (``--no-wait``: does not). ``run``
trains several runs at once in worker processes (``--workers``, ``--threads``; see
annealbench.execution.workers for the defaults and why), shows progress (annealbench.progress), then renders
each study's page and the index when annealbench-report is installed (``--no-report``: does not).
``tune`` writes a budget's tuning file (its base LRs chosen on seeds it never judges:
annealbench.spec.tuning) from the runs of its tuning budget.
Fault injection for tests: ``ANNEALBENCH_FAULT`` (see annealbench.faults).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from annealbench import __version__
from annealbench.errors import AnnealbenchError
from annealbench.execution.local import EXECUTORS
from annealbench.options import RunOptions
from annealbench.precision import PRECISIONS

STUDIES_ENV = "ANNEALBENCH_STUDIES"  # the studies `run` trains when none is named (nox -s reproduce)


def _data_dir(arg: str | None) -> Path:
    return Path(arg or os.environ.get("ANNEALBENCH_DATA") or "data").expanduser()



def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="annealbench", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"annealbench {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    _add_run(sub)
    _add_checks(sub)
    _add_tune(sub)
    sub.add_parser("schedules", help="list the registered schedules")
    return p


def _add_run(sub) -> None:
    run = sub.add_parser("run", help="train every unfinished run of one or more studies")
    run.add_argument("studies", nargs="*", metavar="STUDY",
                     help="a study name in experiments/ (e.g. smoke) or a path to its .toml "
                          f"(default: ${STUDIES_ENV}, space-separated)")
    run.add_argument("--study", action="append", default=[], dest="more_studies", metavar="STUDY",
                     help="the same as a STUDY argument (repeatable)")
    run.add_argument("--budget", default="auto",
                     help="quick, short, reference, full, or another budget the study defines; "
                          "auto (default): the study's default_budget (the shipped studies: "
                          "reference); without one, full on CUDA, on a CPU short where the study "
                          "defines it, else quick")
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    run.add_argument("--data-dir", help="folder holding the data sets "
                                        "(default: $ANNEALBENCH_DATA, else ./data)")
    run.add_argument("--out", default="reports", help="output folder (default: reports)")
    run.add_argument("--dry-run", action="store_true",
                     help="two steps of every arm in a temporary folder; writes nothing")
    run.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                     help="bar: a live line per study (runs, epochs, failures, elapsed, ETA); "
                          "lines: a line per finished run and a progress line at most every 30 s; "
                          "off: every message as it comes; auto (default): bar in a terminal, "
                          "else lines")
    run.add_argument("--no-progress", dest="progress", action="store_const", const="off",
                     help="the same as --progress off")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="per-epoch lines on screen too (they always go to each run's train.log)")
    run.add_argument("--no-tune", action="store_true",
                     help="stop with one line when a tuned budget's tuning file is missing (default: "
                          "train its tuning budget first and write the file, as annealbench tune)")
    run.add_argument("--no-report", action="store_true",
                     help="train only; by default each study's page and the index are rendered "
                          "at the end (annealbench-report build)")
    run.add_argument("--published", metavar="DIR",
                     help="folder of published study folders each study's page is compared with "
                          "(annealbench-report build --published; default: the repository's "
                          "docs/results when the report package is a clone of it)")
    run.add_argument("--no-wait", action="store_true",
                     help="leave runs another process is training to it (default: wait for them "
                          "at the end, and finish any it left unfinished)")
    run.add_argument("--experiments", default="experiments", help="where study names are looked up")
    share = run.add_mutually_exclusive_group()
    share.add_argument("--share-prefix", dest="share_prefix", action="store_true", default=None,
                       help="start runs from another run's identical first epochs, also on CUDA "
                            "(default: on CPU; whole-length only on CUDA)")
    share.add_argument("--no-share-prefix", dest="share_prefix", action="store_false",
                       help="train every run from scratch (also: ANNEALBENCH_SHARE_PREFIX=0)")
    run.add_argument("--executor", default="local", choices=EXECUTORS,
                     help="local: this machine, --workers runs at a time (default); ray: one Ray "
                          "task per run")
    run.add_argument("--workers", help="runs trained at once in local worker processes; 1: one "
                                       "after another in this process (default: $ANNEALBENCH_"
                                       "WORKERS, else auto: one per CPU on a CPU, one per GPU)")
    run.add_argument("--threads", help="intra-op threads per run (default: $ANNEALBENCH_THREADS, "
                                       "else auto: 1 on a CPU, where the thread count changes a "
                                       "run's last bits; rerun with the same value to resume)")
    run.add_argument("--precision", choices=PRECISIONS,
                     help="override the study's precision: auto (bf16 autocast where the device "
                          "computes bf16 natively, else fp32), fp32 or bf16")
    run.add_argument("--ray-address", default=None,
                     help="Ray cluster to join ('auto' or host:port); default: start one locally")
    run.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs reserved per run")
    run.add_argument("--gpus-per-run", type=float, default=1.0,
                     help="Ray GPUs reserved per run on CUDA (fractions share a GPU)")


def _add_checks(sub) -> None:
    """validate and grid: a study read, nothing trained."""
    val = sub.add_parser("validate", help="check study files without training")
    val.add_argument("studies", nargs="+", metavar="STUDY")
    val.add_argument("--budget", default="auto",
                     help="as for run (default: auto, the budget run picks on this machine's device)")
    val.add_argument("--experiments", default="experiments")
    val.add_argument("--data-dir", help="where a data set by import path reads from "
                                        "(default: $ANNEALBENCH_DATA, else ./data)")

    grid = sub.add_parser("grid", help="print the runs a study would train, as JSON lines")
    grid.add_argument("study", metavar="STUDY")
    grid.add_argument("--budget", default="auto", help="as for run (default: auto, for --device)")
    grid.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                      help="the device the runs are for (default: auto, as run picks it here)")
    grid.add_argument("--experiments", default="experiments")
    grid.add_argument("--data-dir", help="where a data set by import path reads from")
    grid.add_argument("--precision", choices=PRECISIONS,
                      help="override the study's precision (--device cuda with no GPU here: "
                           "'auto' is the GPU's to decide, so give fp32 or bf16)")


def _add_tune(sub) -> None:
    tune = sub.add_parser("tune", help="train a budget's tuning budget and write its tuning file "
                                       "(the base LRs the budget then trains) beside the study")
    tune.add_argument("study", metavar="STUDY")
    tune.add_argument("--budget", default="auto",
                      help="the judged budget (one with tuned_by); auto: as for run")
    tune.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    tune.add_argument("--data-dir", help="folder holding the data sets "
                                         "(default: $ANNEALBENCH_DATA, else ./data)")
    tune.add_argument("--out", default="reports",
                      help="output folder; the tuning runs go to OUT/NAME/tuning/BUDGET (default: reports)")
    tune.add_argument("--dry-run", action="store_true",
                      help="two steps of every arm in a temporary folder; writes nothing")
    tune.add_argument("--no-progress", action="store_true", help="no progress bars")
    tune.add_argument("--experiments", default="experiments", help="where study names are looked up")
    tune.add_argument("--workers", help="as for run")
    tune.add_argument("--threads", help="as for run")


def _run_options(a) -> RunOptions:
    """The run flags as one object (annealbench.options), before anything is resolved."""
    for flag, v in (("--cpus-per-run", a.cpus_per_run), ("--gpus-per-run", a.gpus_per_run)):
        if not v > 0:
            raise AnnealbenchError(f"{flag}: {v:g} is not allowed; give a positive number")
    display = a.progress if a.progress != "auto" else "bar" if sys.stderr.isatty() else "lines"
    return RunOptions(out=a.out, device=a.device, data_dir=a.data_dir, dry_run=a.dry_run,
                      executor=a.executor, ray_address=a.ray_address, cpus_per_run=a.cpus_per_run,
                      gpus_per_run=a.gpus_per_run, wait=not a.no_wait, share_prefix=a.share_prefix,
                      workers=a.workers, threads=a.threads, display=display, verbose=a.verbose,
                      log=lambda m: print(m, flush=True))


def _cmd_run(a) -> int:
    import torch

    from annealbench import api
    from annealbench.execution.study import run_study
    from annealbench.execution.workers import resolve
    from annealbench.spec.load import find_study

    opts = _run_options(a)
    if a.published and not Path(a.published).is_dir():  # found out before training, not after
        raise AnnealbenchError(f"--published {a.published}: no such directory (give a folder of "
                               "published study folders, such as the repository's docs/results)")
    names = [*a.studies, *a.more_studies] or os.environ.get(STUDIES_ENV, "").split()
    if not names:
        raise AnnealbenchError(f"run: no study named; give STUDY (e.g. smoke) or set {STUDIES_ENV}")
    opts, engine = resolve(opts)
    # Validate every study before any of them trains: a typo in the second must not cost the first.
    studies = [api.load_for_run(find_study(s, Path(a.experiments)), a.budget, opts, tune=not a.no_tune)
               for s in names]
    if a.precision:
        studies = [replace(s, precision=a.precision) for s in studies]
    # here too: a run this process takes over (finish_busy) computes as a worker would
    torch.set_num_threads(engine.threads)
    if opts.executor == "local" and not opts.dry_run:
        print(f"engine: {engine.workers} runs at a time x {engine.threads} threads ({engine.why})",
              flush=True)
    failed = 0
    for study in studies:
        if study.tuned_by is not None and study.tuning is None:  # its tuning file is missing
            study = api.tune_first(study, opts)
            if study is None:  # tuning runs failed, or a dry run: no choice to judge with
                failed += not opts.dry_run
                continue
            if a.precision:
                study = replace(study, precision=a.precision)
        failed += sum(o.status == "failed" for o in run_study(study, opts))
    if not (a.dry_run or a.no_report):
        api.report_pages(opts.out, [s.name for s in studies], a.published, log=opts.log)
    return 1 if failed else 0


def _cmd_tune(a) -> int:
    from annealbench import api
    from annealbench.spec import tuning

    result = api.tune(a.study, budget=a.budget, out=a.out, device=a.device,
                      data_dir=_data_dir(a.data_dir), dry_run=a.dry_run,
                      progress=not a.no_progress and sys.stderr.isatty(),
                      log=lambda m: print(m, flush=True), experiments=a.experiments,
                      workers=a.workers, threads=a.threads)
    if a.dry_run:
        print(f"dry run: would write {tuning.path(result.study)}")
        return 0
    if result.file is None:
        bad = sum(o.status not in ("completed", "diverged", "skipped") for o in result.outcomes)
        print(f"annealbench: {bad} tuning runs did not finish; no tuning file written (rerun the "
              "same command to resume)", file=sys.stderr)
        return 1
    print(f"wrote {result.file} (seeds {', '.join(map(str, result.tuning['seeds']))}):")
    print("\n".join(tuning.table(result.tuning)))
    return 0


def _cmd_validate(a) -> int:
    from annealbench.spec.grid import expand
    from annealbench.spec.load import find_study, load_study

    device_type = _device_type("auto")
    for s in a.studies:
        study = load_study(find_study(s, Path(a.experiments)), a.budget, _data_dir(a.data_dir),
                           device_type=device_type, every_mistake=True)
        how = f", base LRs from {study.tuning['file']}" if study.tuning else ""
        print(f"{study.file}: ok ({study.budget} budget: {len(expand(study, 'cpu'))} runs{how})")
    return 0


def _cmd_grid(a) -> int:
    from annealbench.spec.grid import expand
    from annealbench.spec.load import find_study, load_study

    device_type = _device_type(a.device)
    study = load_study(find_study(a.study, Path(a.experiments)), a.budget, _data_dir(a.data_dir),
                       device_type=device_type)
    if a.precision:
        study = replace(study, precision=a.precision)
    for cfg in expand(study, device_type):
        print(json.dumps(cfg, sort_keys=True))
    return 0


def _device_type(device: str) -> str:
    """"cpu" or "cuda": for "auto", the device ``run`` would train on here (and so the budget
    ``--budget auto`` picks)."""
    if device != "auto":
        return device
    from annealbench.training.runner import resolve_device

    return resolve_device("auto").type


def _cmd_schedules(a) -> int:
    from annealbench import schedules

    for name in schedules.available():
        print(f"{name:16s} stepped per {schedules.default_interval(name)}")
    print("package.module:Class   any LRScheduler or ReduceLROnPlateau subclass, by import path")
    return 0


def main(argv=None) -> int:
    parser = _parser()
    a = parser.parse_args(argv)
    if a.cmd is None:
        # a usage mistake, as argparse's 2 says: a script that forgot the command must not pass
        parser.print_help(sys.stderr)
        return 2
    try:
        return {"run": _cmd_run, "validate": _cmd_validate, "grid": _cmd_grid, "tune": _cmd_tune,
                "schedules": _cmd_schedules}[a.cmd](a)
    except AnnealbenchError as e:
        for line in str(e).splitlines():  # SpecErrors: one line per mistake
            print(f"annealbench: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("annealbench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `annealbench grid … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
