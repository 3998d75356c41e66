"""Python API for notebooks and scripts: load a study, run it, get its records and report.

    from annealbench import api

    result = api.run("examples/digits/digits.toml", budget="ci", out="reports")
    result.records          # the tidy records, a pandas DataFrame
    result.report           # reports/digits/index.html

    api.tune("experiments/cifar10-cnn.toml", budget="short", data_dir="data")  # its tuning file

``run`` does what ``annealbench run`` does (train, then ``annealbench-report build`` of the study
by its own name; ``report=False`` as ``--no-report``): the same
validation before anything trains, the same executors and run store (per-run locks, atomic
records, resume, finished runs skipped), so a study run here and from the shell writes the same
records into the same folders. Problems raise ``AnnealbenchError`` (``SpecError`` for the study
file) with the one-line message the CLI prints.

The report side is the separate ``annealbench-report`` package (no torch); it is imported only
when records or a report are asked for.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from annealbench.errors import MISSING, AnnealbenchError, SpecError
from annealbench.options import RunOptions
from annealbench.spec.load import Study, find_study, load_study
from annealbench.training.runner import RunOutcome

DICT_SOURCE = "<dict>"  # how a study given as a dict is named in messages; its code is looked up in the cwd


@dataclass
class Result:
    """What ``run`` did: the study as validated, one outcome per run, and where it all went."""

    study: Study
    outcomes: list[RunOutcome]
    folder: Path  # <out>/<study name>
    report: Path | None = None  # the study's index.html (None: dry run, or report=False)
    records: object = field(default=None, repr=False)  # pandas.DataFrame of the tidy records

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def load(source, budget: str = "quick", *, data_dir=None, experiments="experiments",
         device_type: str = "cpu", with_tuning: bool = True) -> Study:
    """A validated study from a .toml path, a study name in ``experiments``, or a dict holding
    the same tables as the file (``{"spec_version": 1, "study": {...}, "model": {...}, ...}``).

    Models, data sets and optimizers named by import path are built once on a tiny input here,
    as ``annealbench validate`` does; ``data_dir`` is what a data set by import path receives.
    A budget tuned on other seeds comes with its tuning file's choices (``with_tuning``).
    """
    if isinstance(source, Study):
        return source
    if isinstance(source, Mapping):
        try:  # TOML's value types only: tuples become lists, anything else is refused
            doc = json.loads(json.dumps(source))
        except (TypeError, ValueError) as e:
            raise SpecError(DICT_SOURCE, "(dict)", type(source).__name__,
                            f"must hold only tables, lists, strings, numbers and booleans ({e})") from None
        return load_study(DICT_SOURCE, budget, data_dir, doc=doc, device_type=device_type,
                          with_tuning=with_tuning)
    return load_study(find_study(str(source), Path(experiments)), budget, data_dir,
                      device_type=device_type, with_tuning=with_tuning)


def run(source, *, budget: str = "auto", report: bool = True, experiments="experiments",
        published=None, **options) -> Result:
    """Train every unfinished run of the study (as ``annealbench run``), then build its records
    and report (as ``annealbench-report build --study NAME``) unless ``report=False``.

    ``budget="auto"`` is chosen as on the command line (``annealbench.spec.budgets.auto_budget``); a
    ``Study`` already loaded keeps its own. The other keyword arguments are the CLI's run options
    under their flags' names, with the same defaults (``annealbench.options.RunOptions``): ``out``,
    ``device``, ``data_dir``, ``dry_run``, ``executor``, ``ray_address``, ``cpus_per_run``,
    ``gpus_per_run``, ``wait`` (``--no-wait`` is ``wait=False``), ``share_prefix``, ``workers`` and
    ``threads`` (default: the environment, else ``annealbench.execution.workers.choose``; the thread
    count can change the last digits of the records, the number of workers cannot), ``progress``
    (a bar per epoch), ``log``. ``published``: as ``build_report``'s.
    """
    from annealbench.execution.study import run_study

    opts = _resolved(RunOptions(**options))
    study = load(source, budget, data_dir=opts.data_dir, experiments=experiments,
                 device_type=opts.device.type)
    outcomes = run_study(study, opts)
    result = Result(study, outcomes, opts.out / study.name)
    if report and not opts.dry_run:
        result.report = build_report(opts.out, study.name, published)
        result.records = records(result.folder)
    return result


def _resolved(opts: RunOptions) -> RunOptions:
    """``opts`` resolved (annealbench.execution.workers.resolve), this process's threads set as the
    CLI sets them: a run taken over here computes as a worker would."""
    import torch

    from annealbench.execution.workers import resolve

    opts, engine = resolve(opts)
    torch.set_num_threads(engine.threads)
    return opts


@dataclass
class Tuned:
    """What ``tune`` did: the judged budget (with the new choice), the tuning runs' outcomes."""

    study: Study
    outcomes: list[RunOutcome]
    folder: Path  # <out>/<study name>/tuning/<tuning budget>: the tuning runs
    file: Path | None = None  # the tuning file written (None: dry run, or runs failed)
    tuning: dict | None = None  # its content


def tune(source, *, budget: str = "auto", experiments="experiments", **options) -> Tuned:
    """Train the runs of the tuning budget that ``budget`` names in ``tuned_by`` (every base LR,
    schedule and curve length, on the tuning seeds; finished ones are skipped), then write the
    judged budget's tuning file beside the study (annealbench.spec.tuning). The tuning runs go to
    ``<out>/<name>/tuning/<tuning budget>``, apart from the judged runs and their records.
    With failed runs nothing is written (``file`` None); a dry run writes nothing either.
    The other keyword arguments are run options, as for ``run``.
    """
    opts = _resolved(RunOptions(**options))
    judged = load(source, budget, data_dir=opts.data_dir, experiments=experiments,
                  device_type=opts.device.type, with_tuning=False)
    if judged.tuned_by is None:
        raise SpecError(judged.file, f"budgets.{judged.budget}.tuned_by", MISSING,
                        f"budget {judged.budget} chooses its base LRs inside the study; to tune it, "
                        "name a budget of the same runs on other seeds (tuned_by = \"NAME\")")
    tuner = load(source, judged.tuned_by, data_dir=opts.data_dir, experiments=experiments,
                 device_type=opts.device.type)
    return tune_loaded(judged, tuner, opts)


def tune_loaded(judged: Study, tuner: Study, opts: RunOptions) -> Tuned:
    """``tune`` of a judged budget and its tuning budget already loaded, with ``opts`` resolved
    (``annealbench run`` tunes a budget whose tuning file is missing this way)."""
    from annealbench.execution.study import git_commit, run_study
    from annealbench.spec import tuning
    from annealbench.spec.grid import expand

    folder = opts.out / judged.name / "tuning" / tuner.budget
    outcomes = run_study(tuner, opts, root=folder)
    result = Tuned(judged, outcomes, folder)
    if opts.dry_run or any(o.status not in ("completed", "diverged", "skipped") for o in outcomes):
        return result
    choices = tuning.choose(tuner, expand(tuner, opts.device.type), folder)
    result.tuning = tuning.write(judged, tuner, choices, git_commit(Path(judged.file).resolve().parent))
    result.file = tuning.path(judged)
    result.study = replace(judged, tuning={**result.tuning, "file": result.file.name})
    return result


def load_for_run(path, budget: str, opts: RunOptions, *, tune: bool = True) -> Study:
    """The study as ``annealbench run`` trains it (``opts`` resolved). A tuned budget whose tuning
    file is missing comes back without a choice (``tuning`` None), for :func:`tune_first`, unless
    ``tune`` is False: then the one-line TuningError. A stale or unreadable file always stops: it
    is a choice someone made, not a gap."""
    from annealbench.spec import tuning

    study = load_study(path, budget, opts.data_dir, device_type=opts.device.type, with_tuning=False)
    if study.tuned_by is None or (tune and not tuning.path(study).exists()):
        return study
    return replace(study, tuning=tuning.read(study))


def tune_first(study: Study, opts: RunOptions) -> Study | None:
    """Train the tuning budget of ``study`` (whose tuning file is missing) and write the file, as
    ``tune`` does, saying so in one line first; the study with that choice, or None when no file
    was written (a dry run, or tuning runs that did not finish)."""
    from annealbench.spec import tuning

    opts.log(f"annealbench: {tuning.path(study)} is missing: training budget {study.tuned_by} first "
             f"to choose budget {study.budget}'s base LRs (as annealbench tune; --no-tune: stop "
             "instead), then the judged runs")
    tuner = load_study(study.file, study.tuned_by, opts.data_dir, device_type=opts.device.type)
    result = tune_loaded(study, tuner, opts)
    if result.file is not None:
        opts.log("\n".join([f"wrote {result.file}:", *tuning.table(result.tuning)]))
        return result.study
    opts.log(f"dry run: would write {tuning.path(study)}, then train the judged runs" if opts.dry_run
             else f"annealbench: tuning runs of {study.name} did not finish; no tuning file written, "
                  "its judged runs not started (rerun the same command to resume)")
    return None


def report_pages(out, names: list[str], published=None, *, log=print) -> None:
    """What ``annealbench run`` does after training: render the studies' pages and the index, by
    the studies' own names (not their files'), each page's path logged; ``published``: the
    folder of published answers they are compared with. Without annealbench-report installed, one
    line says how to build them later."""
    try:
        from annealbench_report.cli import build
        from annealbench_report.errors import ReportError
    except ImportError:  # the training package does not depend on the report package
        log("annealbench: report skipped: annealbench-report is not installed (pip install -e "
            f"packages/annealbench-report, then: annealbench-report build --out {out})")
        return
    try:
        for page in build(out, names, Path(published) if published else None):
            log(f"report: {page}")
    except (ReportError, OSError) as e:
        raise AnnealbenchError(f"annealbench-report: {' '.join(str(e).split())} (the runs are kept; "
                               f"retry with: annealbench-report build --out {out})") from None


def _report_package():
    try:
        import annealbench_report.cli as report_cli
        from annealbench_report.errors import ReportError
    except ImportError:
        raise AnnealbenchError("records and reports need the annealbench-report package: pip install "
                               "-e packages/annealbench-report (the runs are kept; then call "
                               "api.build_report)") from None
    return report_cli, ReportError


def build_report(out, name: str, published=None) -> Path:
    """Write ``<out>/<name>/records.parquet`` and the study's page (and ``<out>/index.html``);
    return the page's path. ``published``: the folder of published answers the page is compared
    with (default: the repository's docs/results when the report package is a clone of it)."""
    report_cli, report_error = _report_package()
    try:
        report_cli.build(Path(out), [name], Path(published) if published else None)
    except (report_error, OSError) as e:
        raise AnnealbenchError(f"annealbench-report: {' '.join(str(e).split())}") from None
    return Path(out) / name / "index.html"


def records(folder):
    """The tidy records of a study folder (``<out>/<name>``) that a report build wrote, as a
    pandas DataFrame (columns as in docs/design.md)."""
    _report_package()
    import pandas as pd

    path = Path(folder) / "records.parquet"
    if not path.exists():
        raise AnnealbenchError(f"{path}: no records yet; run the study, then api.build_report")
    return pd.read_parquet(path)


__all__ = ["Result", "Tuned", "build_report", "load", "load_for_run", "records", "report_pages", "run",
           "tune", "tune_first", "tune_loaded"]
