#!/usr/bin/env bash
# Same output before and after a refactor: the smoke study's records and pages, byte for byte.
#
#   ci/same-output.sh BASE_REF [HEAD_REF]     (HEAD_REF defaults to HEAD)
#
# Checks each ref out into a temporary `git worktree`, runs `annealbench run smoke --budget quick
# --out OUT` (synthetic data: the smoke study needs no data directory) and `annealbench-report
# build --out OUT`, then compares, after masking:
#   - records.csv of the smoke study without its time columns (wall_time_s, finished_at, any
#     column named *time* or *_at) and without the throughput rows (machine measurements);
#   - every *.html page and verdicts.csv under OUT, with these masked:
#       ISO dates/times (2026-12-04, 2026-12-04T20:01:02Z, 20:01:02) and H:MM:SS durations -> DATE / TIME,
#       40- and 7-to-12-hex-digit commit hashes -> COMMIT,
#       the worktree and OUT paths -> PATH,
#       durations printed as "<number> s" / "<number> min" / "<number>s" -> DURATION,
#       throughput figures "<number> img/s" etc. -> RATE.
# One python (the one on PATH, or $PYTHON) runs both refs, with PYTHONPATH pointing at the ref's
# packages/*/src (both packages are pure Python): no venv per worktree.
# Exit 0 when identical, 1 with a unified diff otherwise, 2 on a usage or run error.
set -euo pipefail

base=${1:?usage: ci/same-output.sh BASE_REF [HEAD_REF]}
head=${2:-HEAD}
py=${PYTHON:-python}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/same-output.XXXXXX")
cleanup() {
  for side in base head; do
    [ -d "$work/$side/tree" ] && git -C "$repo" worktree remove --force "$work/$side/tree" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

produce() {  # produce SIDE REF: train, build, and write masked copies under $work/SIDE/masked
  local side=$1 ref=$2 tree="$work/$1/tree" out="$work/$1/out"
  mkdir -p "$work/$side/masked"
  git -C "$repo" worktree add --detach "$tree" "$ref" >/dev/null 2>&1 || { echo "cannot check out $ref" >&2; exit 2; }
  local pp="$tree/packages/annealbench/src:$tree/packages/annealbench-report/src"
  ( cd "$tree" && PYTHONPATH="$pp" "$py" -m annealbench run smoke --budget quick --out "$out" ) \
    >"$work/$side/run.log" 2>&1 || { echo "$ref: run failed, see $work/$side/run.log" >&2; cat "$work/$side/run.log" >&2; exit 2; }
  ( cd "$tree" && PYTHONPATH="$pp" "$py" -m annealbench_report build --out "$out" ) \
    >>"$work/$side/run.log" 2>&1 || { echo "$ref: report build failed" >&2; cat "$work/$side/run.log" >&2; exit 2; }
  PYTHONPATH="$pp" "$py" - "$out" "$work/$side/masked" "$tree" <<'PY'
import re, sys
from pathlib import Path
import pandas as pd

out, dest, tree = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
rec = pd.read_csv(out / "smoke" / "records.csv")
rec = rec[rec["metric"].astype(str) != "throughput"]
rec = rec.drop(columns=[c for c in rec.columns if "time" in c or c.endswith("_at")])
rec.to_csv(dest / "records.csv", index=False)
masks = [(re.escape(str(out)), "PATH"), (re.escape(tree), "PATH"),
         (r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?", "DATE"), (r"\b\d{1,2}:\d{2}:\d{2}\b", "TIME"),
         (r"\b[0-9a-f]{40}\b", "COMMIT"), (r"\b(?=[0-9a-f]*[a-f])[0-9a-f]{7,12}\b", "COMMIT"),
         (r"\b\d[\d,.]*\s?(s|min|h)\b", "DURATION"), (r"\b\d[\d,.]*\s?\w+/s\b", "RATE")]
for f in sorted(out.rglob("*")):
    if f.suffix == ".html" or f.name == "verdicts.csv":
        text = f.read_text(encoding="utf-8")
        for pat, rep in masks:
            text = re.sub(pat, rep, text)
        target = dest / f.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
PY
}

produce base "$base"
produce head "$head"
if diff -ru "$work/base/masked" "$work/head/masked" >"$work/diff" ; then
  echo "same output: $base and $head ($(find "$work/base/masked" -type f | wc -l) files compared)"
  exit 0
fi
cat "$work/diff"
echo "DIFFERENT output: $base and $head" >&2
exit 1
