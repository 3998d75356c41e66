"""``python -m annealbench_report.nightly stage WORK SITE`` and ``... close SITE ...`` (ci/nightly.sh).

stage: each study trained under WORK becomes SITE/<study>/ with thinned records, study.json and
meta.json (annealbench_report.nightly.stage), before ``annealbench-report build --out SITE``.

close: after the build, the night's line in SITE/nightly/nights.jsonl (what failed, verdicts,
throughput, bench, versions), its archive and the retention, the history page, ``alerts.md``
(SITE/nightly/alerts.md, removed on a night without alerts), and the size check. Prints the
summary; exits 1 when the night failed or a site file is over the limit (one line naming it),
2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from annealbench_report.errors import ReportError
from annealbench_report.nightly import alerts, archive, ledger, page, stage
from annealbench_report.nightly.night import close_night

PROG = "nightly"


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ReportError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m annealbench_report.{PROG}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    s = sub.add_parser("stage", help="thinned records of each study under WORK into SITE")
    s.add_argument("work", type=Path)
    s.add_argument("site", type=Path)
    c = sub.add_parser("close", help="record, archive and judge the night built into SITE")
    c.add_argument("site", type=Path)
    c.add_argument("--night", required=True, help="the night's id (UTC time and commit)")
    c.add_argument("--started", required=True, help="when the night began (ISO 8601 with offset)")
    c.add_argument("--commit", required=True)
    c.add_argument("--study", action="append", default=[], help="a study expected tonight")
    c.add_argument("--exit", action="append", default=[], metavar="COMMAND=STATUS",
                   help="a step's exit status (repeatable), e.g. reproduce=0")
    c.add_argument("--versions", type=Path, help="the JSON the night's torch check wrote")
    return p


def _exits(items: list[str]) -> dict[str, int]:
    out = {}
    for item in items:
        cmd, _, rc = item.partition("=")
        if not cmd or not rc.lstrip("-").isdigit():
            raise ReportError(f"--exit {item!r}: give COMMAND=STATUS, STATUS an integer")
        out[cmd] = int(rc)
    return out


def _versions(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {"error": f"{path}: {e}"}  # the night goes on: a missing record is itself shown


def close(a) -> int:
    site = a.site
    earlier = [n for n in ledger.load(site) if n["night"] != a.night]
    night = close_night(site, a.night, a.started, a.commit, a.study, _exits(a.exit),
                        _versions(a.versions))
    big = archive.oversized(site)  # before the archive copies them again
    if big:
        path, size = big[0]
        too_big = (f"{path} is {size / 1e6:.1f} MB, over the {archive.MAX_FILE_BYTES / 1e6:g} MB a "
                   "site file may have; not publishable")
        print(f"{PROG}: {too_big}", file=sys.stderr)
        night.update(status="failed", failures=[*night["failures"], too_big])
    found = alerts.alerts(night, earlier)
    text = alerts.markdown(night, found) if found else None
    nights = ledger.record(site, night)
    archive.archive_night(site, night, a.study, text)
    archive.apply_retention(site)
    page.render(site, nights)
    alerts_path = site / ledger.FOLDER / "alerts.md"
    if text:
        alerts_path.write_text(text, encoding="utf-8")
    else:
        alerts_path.unlink(missing_ok=True)
    print(f"{PROG}: {a.night}: {night['status']}" + (f", {len(found)} alerts ({alerts_path})"
                                                      if found else ", no alerts"))
    for f in night["failures"]:
        print(f"{PROG}:   failed: {f}")
    return 1 if night["status"] == "failed" else 0


def main(argv: list[str] | None = None) -> int:
    try:
        a = _parser().parse_args(argv)
        if a.command == "stage":
            for dest, n, kept in stage.stage(a.work, a.site):
                print(f"{PROG}: {dest}: {n:,} rows -> {kept:,} (thinned)")
            return 0
        return close(a)
    except ReportError as e:
        print(f"{PROG}: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
