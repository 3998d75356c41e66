#!/usr/bin/env bash
# Nightly GPU job (see ci/README.md): both real studies at the full budget on CUDA, bench ratios,
# then the published site rebuilt with tonight's studies; its history.jsonl keeps every night.
#   ci/nightly.sh SITE DATA
# Overridable for a dry rehearsal on a CPU: NIGHTLY_DEVICE (cuda), NIGHTLY_BUDGET (full),
# NIGHTLY_STUDIES (space-separated; default both real studies), NIGHTLY_BENCH_ARGS (added to the
# bench's arguments, e.g. "--repeats 2" for a shorter rehearsal).
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(realpath -m "${1:?usage: ci/nightly.sh SITE DATA}")
data=$(realpath -m "${2:?usage: ci/nightly.sh SITE DATA}")
night="$(date -u +%Y%m%dT%H%MZ)-$(git rev-parse --short=12 HEAD)"
work=$(mktemp -d "${TMPDIR:-/tmp}/annealbench-nightly.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$site/bench" "$data"
device=${NIGHTLY_DEVICE:-cuda}
budget=${NIGHTLY_BUDGET:-full}
studies=()
for s in ${NIGHTLY_STUDIES:-}; do studies+=(--study "$s"); done

# torch comes unpinned with the package: a wheel built for a newer CUDA than this runner's driver
# sees no GPU. Check each session's torch first and stop with one line instead of a failed night.
if [ "$device" = cuda ]; then
  for session in bench reproduce; do
    nox -s "$session" --install-only >/dev/null
    py=".nox/$session/bin/python"
    [ -x "$py" ] || py=python3  # `nox --no-venv` (an air-gapped runner): the current environment
    "$py" - "$session" <<'PY' || exit 3
import sys, torch
ok = torch.cuda.is_available()
print(f"nightly: {sys.argv[1]}: torch {torch.__version__} built for CUDA {torch.version.cuda}: "
      + ("sees a GPU" if ok else "sees NO GPU (driver older than this CUDA?); stopping"))
sys.exit(0 if ok else 1)
PY
  done
fi

# A fresh output folder: run keys are config hashes, so a reused one would skip every run.
# Exit 1 means some runs failed (the report shows them); anything else stops the night here.
repro_rc=0
nox -s reproduce -- "${studies[@]}" --device "$device" --budget "$budget" --data-dir "$data" \
  --out "$work" || repro_rc=$?

# After reproduce, which downloads CIFAR-10 on the first night: every night's bench then measures
# on CIFAR-10 (history.csv's dataset column says which data set each row measured).
bench_rc=0
# shellcheck disable=SC2086  # NIGHTLY_BENCH_ARGS is a list of words
nox -s bench -- --check --device "$device" --data-dir "$data" --out "$site/bench" \
  ${NIGHTLY_BENCH_ARGS:-} || bench_rc=$?
if [ "$repro_rc" -ne 0 ] && [ "$repro_rc" -ne 1 ]; then
  echo "nightly: reproduce exited $repro_rc" >&2
  exit "$repro_rc"
fi

for study in "$work"/*/; do
  name=$(basename "$study")
  [ -d "$study/runs" ] || continue
  rm -rf "${site:?}/$name"
  cp -r "$study" "$site/$name"
  find "$site/$name" -name checkpoint.pt -delete   # weights are not part of the published record
done
# No torch needed from here: pages, index and history.jsonl (one line per study per night)
nox -s report -- --out "$site"

for study in "$work"/*/; do
  name=$(basename "$study")
  mkdir -p "$site/archive/$night/$name"
  cp "$site/$name"/{index.html,records.parquet,records.csv,study.json,meta.json} \
     "$site/archive/$night/$name/"
done

echo "nightly: $night published under $site (bench exit $bench_rc, reproduce exit $repro_rc)"
exit "$bench_rc"
