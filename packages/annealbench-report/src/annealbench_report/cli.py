"""``annealbench-report build [--out DIR] [--study NAME ...]`` and
``annealbench-report seeds TUNING_FOLDER --tuning-file FILE [--target-mde X] [--max-seeds N] [--json]``
(how many judged seeds a tuned budget needs: annealbench_report.seeds).

For each study directory under DIR (one holding ``runs/``), or only the named ones: write
``records.parquet``/``records.csv`` and the study page; then the index of all studies in DIR,
and, when every study was built, ``summary.md`` and ``forest.png`` (annealbench_report.summary).
A study directory kept with ``records.parquet`` but without ``runs/`` is rendered from the records.
A problem prints one line, ``annealbench-report: <message>``, to stderr and exits 2: a torn,
foreign or other-version records file or run directory, a full disk (the previous files are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from annealbench_report.errors import ReportError

PROG = "annealbench-report"


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage problems exit 2 with one line, like every other error
        raise ReportError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Tidy records, statistics and static HTML for annealbench "
                "study output.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    b = sub.add_parser("build", help="write records and HTML pages for studies under --out")
    b.add_argument("--out", default="reports", type=Path,
                   help="directory holding one folder per study (default: reports)")
    b.add_argument("--study", action="append", default=None, metavar="NAME",
                   help="only this study folder under --out (repeatable)")
    b.add_argument("--published", type=Path, default=None, metavar="DIR",
                   help="folder of published study folders to compare each study with (default: "
                        "the repository's docs/results when this is a clone of it)")
    s = sub.add_parser("seeds", help="how many judged seeds a tuned budget needs, from its tuning runs")
    s.add_argument("folder", type=Path, metavar="TUNING_FOLDER",
                   help="the tuning budget's output folder (OUT/<study>/tuning/<tuning budget>)")
    s.add_argument("--tuning-file", required=True, type=Path, metavar="FILE",
                   help="the tuning file annealbench tune wrote (experiments/<study>.<budget>.tuning.json)")
    s.add_argument("--target-mde", type=float, default=None, metavar="X",
                   help="the MDE to reach, in the primary metric's units (default: min_effect x 0.75)")
    s.add_argument("--max-seeds", type=int, default=None, metavar="N",
                   help="the most seeds to consider (default: 64)")
    s.add_argument("--json", action="store_true", help="print the plan as JSON")
    return p


def seeds(args) -> str:
    """The seed plan of ``annealbench-report seeds``, as text or JSON."""
    import json

    from annealbench_report import seeds as planner

    kw = {} if args.max_seeds is None else {"max_seeds": args.max_seeds}
    plan, ctx = planner.run(args.folder, args.tuning_file, args.target_mde, **kw)
    return json.dumps(planner.as_json(plan, ctx), indent=2) if args.json else planner.text(plan, ctx)


def build(out: Path, names: list[str] | None = None, published: Path | None = None) -> list[Path]:
    """Records and page per study, then the index (and, building every study, summary.md and
    forest.png: annealbench_report.pages.summary); returns the pages written. ``published``:
    the folder of published study folders each study is compared with (pages.reproduction)."""
    from annealbench_report.pages import index_page, reproduction, studies, study_page, summary
    from annealbench_report.records import collect, files
    from annealbench_report.records import contract as records

    if not out.is_dir():
        raise ReportError(f"{out}: no such directory (pass --out DIR holding study folders)")
    dirs = studies.study_dirs(out)
    if names:
        for n in names:
            if out / n not in dirs:
                known = ", ".join(p.name for p in dirs) or "none"
                raise ReportError(f"{out / n}: not a study output directory (no runs/ or "
                                  f"records.parquet); known: {known}")
        dirs = [out / n for n in names]
    root = reproduction.published_root(published)  # a missing --published DIR fails before work
    checks = {}
    files.remove_temps(out)  # temp files of a build that was killed before its os.replace
    pages = []
    analysed = {}
    for d in dirs:
        files.remove_temps(d)
        if collect.has_runs(d):
            stale = collect.stale_runs(d)
            if stale:
                print(f"{PROG}: {d}: {len(stale)} run directories from an earlier grid of this study "
                      "(another budget or spec) are kept on disk but left out of its records",
                      file=sys.stderr)
            df = collect.write_records(d)
        else:  # records kept, run directories not: rebuild the page from the table alone
            df = records.read_records(d / "records.parquet")
        pages.append(study_page.render_study(d, records=df, analysed=analysed, published=root,
                                             checks=checks))
    pages.append(index_page.render_index(out, analysed, published=root, checks=checks))
    if not names:  # the summary covers every study of the index: only a whole build rewrites it
        summary.write(out, analysed)
    return pages


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "seeds":
            print(seeds(args))
            return 0
        for page in build(args.out, args.study, args.published):
            print(page)
    except ReportError as e:
        print(f"{PROG}: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: {_one_line(e)}", file=sys.stderr)
        return 2
    return 0


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
