#!/usr/bin/env bash
# The GPU check: everything CUDA-side run once on one GPU, every figure written under OUT.
#   ci/gpu-check.sh OUT DATA [CPU_RECORDS]
# OUT          a new folder for everything measured (summary.txt first).
# DATA         the data folder. Missing data sets are built there from GPU_CHECK_SHARED (default
#              ../shared/data beside the tree: make_cifar10.py, tinyshakespeare/input.txt) or, if
#              that has none, downloaded (online machines only).
# CPU_RECORDS  an output folder of the same studies, budget and precision run on a CPU at the same
#              commit; without it the check trains its own CPU side (stage cpu).
# Runs from a plain working tree with the machine's own Python and torch: no nox, no build backend,
# no package index (the packages are put on PYTHONPATH). The report's side needs numpy, pandas,
# scipy, jinja2 and matplotlib; make_cifar10.py needs pillow.
# Stages, each under its own time limit (GPU_CHECK_LIMIT_<STAGE>, seconds) and all of them under
# GPU_CHECK_TOTAL (540 s): a stage that would pass it gets what is left.
#   env          Python, torch, CUDA, cuDNN and the GPU; the packages import
#   data         the data sets in DATA, each prepared once under its lock
#   gpu          smoke (GPU_CHECK_EXTRA) and the studies (GPU_CHECK_STUDIES, at GPU_CHECK_BUDGET, GPU_CHECK_PRECISION)
#                on the device, 4 processes on the GPU (GPU_CHECK_WORKERS)
#   cpu          the same studies, budget, precision and commit on the CPU (unless CPU_RECORDS)
#   consistency  CPU against GPU by annealbench_report.compare's declared rule (docs/gpu.md); no
#                CPU records is a failure, never a skip
#   bench        `annealbench bench --check` on the device: every measure, gpu_runs for 1, 2, 4
#   full-*       one run of each real study's full configuration timed per epoch, and the full
#                budget's wall time predicted with the measured gpu_runs factor
# Exit 0 only if every stage exited 0. GPU_CHECK_DEVICE=cpu rehearses every stage on a machine
# without a GPU (no figures); size knobs for that: GPU_CHECK_STUDIES, GPU_CHECK_BUDGET,
# GPU_CHECK_EXTRA, GPU_CHECK_BENCH_ARGS (`skip` allowed on a CPU only), GPU_CHECK_ESTIMATE_ARGS,
# GPU_CHECK_FULL_STUDIES, and the limits.
set -uo pipefail
cd "$(dirname "$0")/.."
tree=$PWD
out=$(realpath -m "${1:?usage: ci/gpu-check.sh OUT DATA [CPU_RECORDS]}")
data=$(realpath -m "${2:?usage: ci/gpu-check.sh OUT DATA [CPU_RECORDS]}")
cpu=${3:+$(realpath -m "$3")}
mkdir -p "$out" "$data"
summary="$out/summary.txt"
: > "$summary"
failed=0
start=$SECONDS
total=${GPU_CHECK_TOTAL:-540}

py=${GPU_CHECK_PYTHON:-python3}
export PYTHONPATH="$tree/packages/annealbench/src:$tree/packages/annealbench-report/src${PYTHONPATH:+:$PYTHONPATH}"
dev=${GPU_CHECK_DEVICE:-cuda}
budget=${GPU_CHECK_BUDGET:-quick}
precision=${GPU_CHECK_PRECISION:-fp32}   # the same on both sides (compare voids otherwise)
workers=${GPU_CHECK_WORKERS:-4}
shared=${GPU_CHECK_SHARED:-$tree/../shared/data}
read -r -a studies <<< "${GPU_CHECK_STUDIES:-cifar10-cnn shakespeare-lstm}"
read -r -a full_studies <<< "${GPU_CHECK_FULL_STUDIES:-cifar10-cnn shakespeare-lstm}"
names=()
for s in "${studies[@]}"; do n=$(basename "$s"); names+=("${n%.toml}"); done

stage() {  # stage NAME LIMIT_S COMMAND...: run it, log it, note its exit status and seconds
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  local left=$((total - (SECONDS - start)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -le 0 ]; then
    printf '%-24s not run: the check used its %d s\n' "$name" "$total" | tee -a "$summary"
    failed=1
    return 0
  fi
  echo "== $name (at most ${limit} s): $*"
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$out/$name.log" 2>&1 || rc=$?
  printf '%-24s exit %3d  %4d s\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$summary"
  [ "$rc" -eq 0 ] || failed=1
  return 0
}

stage env "${GPU_CHECK_LIMIT_ENV:-45}" "$py" - "$dev" <<'EOF'
import importlib, platform, shutil, subprocess, sys, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", torch.cuda.get_device_name(0), f"{p.total_memory / 2**30:.0f} GiB",
          f"sm_{p.major}{p.minor}", "count", torch.cuda.device_count())
if shutil.which("nvidia-smi"):
    print(subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True).stdout.strip())
print(subprocess.run(["sh", "-c", "lscpu | grep 'Model name'; nproc"], capture_output=True,
                     text=True).stdout.strip())
for m in ("annealbench", "annealbench_report", "pandas", "scipy", "jinja2", "matplotlib"):
    importlib.import_module(m)
if sys.argv[1] == "cuda" and not torch.cuda.is_available():
    sys.exit("env: this torch sees no GPU (a wheel built for a newer CUDA than the driver?)")
EOF

stage data "${GPU_CHECK_LIMIT_DATA:-90}" "$py" - "$data" "$shared" <<'EOF'
import os, shutil, subprocess, sys, tempfile
from pathlib import Path
from annealbench.data import cifar10, tinyshakespeare
from annealbench.data.prepare import prepare
from annealbench.store import atomic_write_bytes
from annealbench.tasks.prepare import prepare_data
data, shared = Path(sys.argv[1]), Path(sys.argv[2])
maker, text = shared / "make_cifar10.py", shared / "tinyshakespeare" / "input.txt"

def build_cifar10():  # in a staging folder, renamed into place whole, as a download is
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-staging-", dir=data))
    try:
        subprocess.run([sys.executable, str(maker), str(staging)], check=True)
        os.replace(staging / cifar10.FOLDER, data / cifar10.FOLDER)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

if maker.is_file():  # the offline copy, under the lock a download would take
    prepare(data, "cifar10", (data / cifar10.FOLDER).is_dir, build_cifar10)
if text.is_file():
    dest = tinyshakespeare.tinyshakespeare_path(data)
    prepare(data, "tinyshakespeare", dest.is_file,
            lambda: atomic_write_bytes(dest, text.read_bytes(), fault=None))
for name in ("cifar10", "tinyshakespeare"):  # checked, or downloaded where neither was there
    prepare_data(name, {}, data)
    print(name, "ready in", data)
EOF

run_studies() {  # run_studies DEVICE OUTDIR WORKERS STUDY...
  local on=$1 dir=$2 n=$3
  shift 3
  "$py" -m annealbench run "$@" --budget "$budget" --device "$on" --precision "$precision" \
    ${n:+--workers "$n"} --data-dir "$data" --out "$dir" --progress lines
}
consistency() {  # consistency CPU GPU OUT STUDY...: no CPU records is a failure, never a skip
  local a=$1 b=$2 dir=$3 args=()
  shift 3
  for n in "$@"; do
    [ -f "$a/$n/records.parquet" ] || { echo "consistency: no CPU records at $a/$n"; return 3; }
    args+=(--study "$n")
  done
  "$py" -m annealbench_report.compare "$a" "$b" "${args[@]}" --out "$dir"
}
export -f run_studies consistency  # run by `timeout` through bash -c
export py budget precision data
read -r -a extra <<< "${GPU_CHECK_EXTRA-smoke}"  # every schedule kind on the device, in seconds
stage gpu "${GPU_CHECK_LIMIT_GPU:-150}" bash -c 'run_studies "$@"' _ "$dev" "$out/gpu" "$workers" \
  "${extra[@]}" "${studies[@]}"
if [ -z "$cpu" ]; then  # the CPU side: the same tree, studies, budget and precision
  cpu="$out/cpu"
  stage cpu "${GPU_CHECK_LIMIT_CPU:-180}" bash -c 'run_studies "$@"' _ cpu "$cpu" "" "${studies[@]}"
fi

# judged before the bench, so that a slow bench cannot take the comparison's time
stage consistency "${GPU_CHECK_LIMIT_CONSISTENCY:-60}" bash -c 'consistency "$@"' _ "$cpu" "$out/gpu" \
  "$out/consistency" "${names[@]}"

bench_args=${GPU_CHECK_BENCH_ARGS:---repeats 2}
if [ "$bench_args" = skip ] && [ "$dev" = cpu ]; then  # a CPU rehearsal of the other stages only
  echo "bench                    skipped (GPU_CHECK_BENCH_ARGS=skip, on a CPU)" | tee -a "$summary"
else
  # shellcheck disable=SC2086  # a list of words
  stage bench "${GPU_CHECK_LIMIT_BENCH:-300}" "$py" -m annealbench.bench --check --device "$dev" \
    --data-dir "$data" --out "$out/bench" $bench_args
fi

# the measured gain of several processes on one GPU: measures.gpu_runs.ratio of the bench's JSON
# (1.0, said in the summary, where the bench did not measure it)
speedup=$("$py" - "$out/bench" <<'EOF'
import json, pathlib, sys
runs = sorted(pathlib.Path(sys.argv[1]).glob("bench-*.json"))
measures = json.loads(runs[-1].read_text()).get("measures", {}) if runs else {}
print((measures.get("gpu_runs") or {}).get("ratio") or 1.0)
EOF
)
echo "gpu_runs factor used for the full predictions: $speedup" | tee -a "$summary"
mkdir -p "$out/full"
for s in "${full_studies[@]}"; do
  n=$(basename "$s")
  # shellcheck disable=SC2086  # GPU_CHECK_ESTIMATE_ARGS is a list of words
  stage "full-${n%.toml}" "${GPU_CHECK_LIMIT_FULL:-75}" "$py" -m annealbench.estimate "$s" --budget full \
    --device "$dev" --data-dir "$data" --speedup "$speedup" --json "$out/full/${n%.toml}.json" \
    ${GPU_CHECK_ESTIMATE_ARGS:---epochs 4}
done

{
  echo
  cat "$out/env.log"
  echo
  grep -hE "^[a-z0-9_-]+: .* in [0-9.]+ s$" "$out/gpu.log" "$out/cpu.log"
  grep -h -A12 "^bench on " "$out/bench.log"
  for s in "${full_studies[@]}"; do n=$(basename "$s"); tail -n 1 "$out/full-${n%.toml}.log"; done
  if [ -f "$out/consistency/compare.txt" ]; then cat "$out/consistency/compare.txt"
  else tail -n 1 "$out/consistency.log"; fi
} >> "$summary" 2>/dev/null
echo "gpu-check: $( [ "$failed" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - start)) s" \
  "(summary: $summary)" | tee -a "$summary"
exit "$failed"
