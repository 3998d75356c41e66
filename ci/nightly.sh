#!/usr/bin/env bash
# Nightly GPU job (see ci/README.md): both real studies at the full budget on CUDA, bench ratios,
# then the published site rebuilt with tonight's studies, the night recorded, archived and judged.
#   ci/nightly.sh SITE DATA
# Exit 0 only when the whole night passed; 3 when the torch check stopped it before it began;
# otherwise 1, with the site still written (the night marked failed) so that it can be published.
# Overridable for a dry rehearsal on a CPU: NIGHTLY_DEVICE (cuda), NIGHTLY_BUDGET (full),
# NIGHTLY_STUDIES (space-separated; default both real studies), NIGHTLY_BENCH_ARGS (added to the
# bench's arguments, e.g. "--repeats 2" for a shorter rehearsal).
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(realpath -m "${1:?usage: ci/nightly.sh SITE DATA}")
data=$(realpath -m "${2:?usage: ci/nightly.sh SITE DATA}")
commit=$(git rev-parse HEAD)
night="$(date -u +%Y%m%dT%H%M%SZ)-${commit:0:12}"
started=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
work=$(mktemp -d "${TMPDIR:-/tmp}/annealbench-nightly.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$site/bench" "$data" "$work/studies"
device=${NIGHTLY_DEVICE:-cuda}
budget=${NIGHTLY_BUDGET:-full}
names=${NIGHTLY_STUDIES:-cifar10-cnn shakespeare-lstm}
studies=() expect=()
for s in $names; do studies+=(--study "$s"); expect+=(--study "$(basename "$s" .toml)"); done

# The tested torch range (ci/nightly-constraints.txt) holds for every session nox installs; a wheel
# outside it, or built for a newer CUDA than this runner's driver, stops the night with one line.
export UV_CONSTRAINT="$PWD/ci/nightly-constraints.txt" PIP_CONSTRAINT="$PWD/ci/nightly-constraints.txt"
checked=""
for session in bench reproduce; do
  nox -s "$session" --install-only >/dev/null
  py=".nox/$session/bin/python"
  [ -x "$py" ] || py=python3  # `nox --no-venv` (an air-gapped runner): the current environment
  [ "$checked" = "$py" ] && continue
  "$py" -m annealbench.bench.versions --device "$device" --constraints "$UV_CONSTRAINT" \
    --out "$work/versions.json" || exit 3
  checked=$py
done

# A fresh output folder: run keys are config hashes, so a reused one would skip every run. The
# session's exit status cannot tell failed runs (nox -s reproduce accepts annealbench's exit 1, so
# that users keep the report): the close step below counts them from the records.
repro_rc=0
nox -s reproduce -- "${studies[@]}" --device "$device" --budget "$budget" --data-dir "$data" \
  --out "$work/studies" --no-report || repro_rc=$?

# After reproduce, which downloads CIFAR-10 on the first night: every night's bench then measures
# on CIFAR-10 (history.csv's dataset column says which data set each row measured).
bench_rc=0
# shellcheck disable=SC2086  # NIGHTLY_BENCH_ARGS is a list of words
nox -s bench -- --check --device "$device" --data-dir "$data" --out "$site/bench" \
  ${NIGHTLY_BENCH_ARGS:-} || bench_rc=$?

# Each study's thinned records replace SITE/<study>/ (no run directories, no per-step rows beyond
# those the pages read), then the pages are rebuilt from them. No torch needed from here.
stage_rc=0 report_rc=0
nox -s nightly -- stage "$work/studies" "$site" || stage_rc=$?
nox -s report -- --out "$site" || report_rc=$?

# The night's line in SITE/nightly/nights.jsonl, its archive, the history page, alerts.md and the
# size check; exits 1 when anything failed (the summary names it).
close_rc=0
nox -s nightly -- close "$site" --night "$night" --started "$started" --commit "$commit" \
  "${expect[@]}" --versions "$work/versions.json" --exit "reproduce=$repro_rc" \
  --exit "bench=$bench_rc" --exit "stage=$stage_rc" --exit "report=$report_rc" || close_rc=$?
echo "nightly: $night $( [ "$close_rc" -eq 0 ] && echo passed || echo FAILED) (site: $site)"
[ "$close_rc" -eq 0 ] || exit 1
