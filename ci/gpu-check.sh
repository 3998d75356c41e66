#!/usr/bin/env bash
# The GPU check: everything CUDA-side run once on one GPU, every figure written under OUT.
# Sized for about 8 minutes on one H200 (docs/gpu.md gives the last run's figures).
#   ci/gpu-check.sh OUT DATA [CPU_RECORDS]
# OUT          a new folder for everything measured (summary.txt first).
# DATA         the data folder (CIFAR-10 and Tiny Shakespeare; fetched there if missing and online).
# CPU_RECORDS  an output folder of the quick CNN and LSTM studies run on a CPU with the same seeds
#              (`nox -s reproduce -- cifar10-cnn shakespeare-lstm --budget quick --device cpu
#              --out CPU_RECORDS`): the CPU side of the consistency check, skipped without it.
# Stages, in order, each under its own time limit so that one slow stage cannot eat the others:
#   env          torch, CUDA, cuDNN and the GPU, as this machine has them
#   nightly      ci/nightly.sh at the quick budget: `nox -s bench -- --check` on CUDA (every measure,
#                gpu_runs for 1, 2 and 4 processes), both real studies on CUDA, the site published
#                into OUT/site (a rehearsal of the night)
#   quick        the smoke study and examples/digits at their quick budgets on CUDA, every schedule,
#                several processes on the GPU, through `nox -s reproduce`
#   full-*       one run of each real study's full configuration, timed per epoch, and the full
#                budget's wall time predicted from it with the measured gpu_runs factor
#   consistency  the quick CNN and LSTM studies, CUDA (from nightly) against CPU_RECORDS, judged by
#                the rules declared in annealbench_report.compare
# Exit 0 only if every stage exited 0. On a machine without network, install annealbench and
# annealbench-report yourself and put a `nox` first on PATH that runs `nox --no-venv` (the noxfile
# then uses the current environment); GPU_CHECK_PYTHON names that environment's python.
# GPU_CHECK_DEVICE=cpu rehearses the script's plumbing on a machine without a GPU (no figures).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:?usage: ci/gpu-check.sh OUT DATA [CPU_RECORDS]}")
data=$(realpath -m "${2:?usage: ci/gpu-check.sh OUT DATA [CPU_RECORDS]}")
cpu=${3:+$(realpath -m "$3")}
mkdir -p "$out" "$data"
summary="$out/summary.txt"
: > "$summary"
failed=0

stage() {  # stage NAME LIMIT_S COMMAND...: run it, log it, note its exit status and seconds
  local name=$1 limit=$2 t0=$SECONDS rc=0
  shift 2
  echo "== $name (at most ${limit} s): $*"
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$out/$name.log" 2>&1 || rc=$?
  printf '%-12s exit %3d  %4d s\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$summary"
  [ "$rc" -eq 0 ] || failed=1
  return 0
}

py=${GPU_CHECK_PYTHON:-.nox/reproduce/bin/python}  # has annealbench (made by the nightly stage)

stage env 30 "${GPU_CHECK_PYTHON:-python3}" - <<'EOF'
import platform, shutil, subprocess, torch
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
EOF

dev=${GPU_CHECK_DEVICE:-cuda}
# several runs per GPU (small models leave an H200 mostly idle): the bench's gpu_runs measures 1, 2
# and 4 processes; its study_speedup candidate runs the default engine whatever this says
ANNEALBENCH_WORKERS=${GPU_CHECK_WORKERS:-4} NIGHTLY_DEVICE=$dev NIGHTLY_BUDGET=quick NIGHTLY_BENCH_ARGS="${GPU_CHECK_BENCH_ARGS:---repeats 2}" \
  stage nightly "${GPU_CHECK_LIMIT_NIGHTLY:-360}" ci/nightly.sh "$out/site" "$data"

stage quick "${GPU_CHECK_LIMIT_QUICK:-110}" nox -s reproduce -- smoke examples/digits/digits.toml \
  --budget quick --device "$dev" --workers "${GPU_CHECK_WORKERS:-4}" --data-dir "$data" \
  --out "$out/quick"

# the measured gain of several processes on one GPU (1.0 where the bench did not get that far)
speedup=$("$py" - "$out/site/bench" <<'EOF'
import json, pathlib, sys
runs = sorted(pathlib.Path(sys.argv[1]).glob("bench-*.json"))
ratio = json.loads(runs[-1].read_text()).get("gpu_runs", {}).get("ratio") if runs else None
print(ratio or 1.0)
EOF
)
mkdir -p "$out/full"
for s in cifar10-cnn shakespeare-lstm; do
  stage "full-$s" "${GPU_CHECK_LIMIT_FULL:-75}" "$py" -m annealbench.estimate "$s" --budget full \
    --device "$dev" --data-dir "$data" --epochs 4 --speedup "$speedup" --json "$out/full/$s.json"
done

if [ -n "$cpu" ]; then
  stage consistency 30 "${GPU_CHECK_REPORT_PYTHON:-${GPU_CHECK_PYTHON:-.nox/report/bin/python}}" \
    -m annealbench_report.compare "$cpu" "$out/site" --study cifar10-cnn --study shakespeare-lstm \
    --out "$out/consistency"
else
  echo "consistency  skipped (no CPU_RECORDS)" | tee -a "$summary"
fi

{
  echo
  cat "$out/env.log"
  echo
  tail -n 1 "$out/nightly.log"
  grep -h -A12 "^bench on " "$out/nightly.log"
  grep -hE "^(smoke|digits): .* in [0-9.]+ s$" "$out/quick.log"
  for s in cifar10-cnn shakespeare-lstm; do tail -n 1 "$out/full-$s.log"; done
  [ -f "$out/consistency/compare.txt" ] && cat "$out/consistency/compare.txt"
} >> "$summary" 2>/dev/null
echo "gpu-check: $( [ "$failed" -eq 0 ] && echo passed || echo FAILED ) (summary: $summary)" \
  | tee -a "$summary"
exit "$failed"
