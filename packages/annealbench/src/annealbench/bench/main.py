"""``annealbench bench``: speed and memory of the training side, as ratios against baselines
measured in the same process and run, so numbers from different machines and commits compare.

Measures (each: baseline, candidate, ratio, target):
- ``runner_throughput``: images/s of the runner's training loop (per-step LR capture, loss
  bookkeeping, NaN checks, records) over a bare PyTorch loop on the same task, model and batches.
  Target >= 0.95: the bookkeeping may cost at most 5%.
- ``augment_throughput``: images/s of the on-device batched crop+flip pipeline over torchvision's
  per-sample ``RandomCrop``/``RandomHorizontalFlip`` through a ``DataLoader``. Target >= 1.
- ``runner_peak_memory``: peak memory of one runner epoch over the bare loop (CUDA: peak
  allocated bytes above what the set-up left allocated, so the data set held on the GPU is not
  counted; CPU: peak RSS of a child process during the epoch, set-up excluded).
  Target <= 1.10.

And the engine's (annealbench.bench.engine says how each is measured): ``engine_throughput``
(target >= 1.7 on CPU), ``study_speedup`` (>= 2.0 where the engine differs from one run at a time:
always on CPU, on CUDA with several processes per GPU), ``bf16_accuracy`` (the paired difference's
95% t-interval holds 0), ``prefix_saved`` (reported) and, on CUDA, ``gpu_runs`` (reported). Results
go to ``<out>/bench-<UTC time>.json`` (none for a dry run) and one row per measure is appended to
``<out>/history.csv`` (commit, device, measure, ratio), which the nightly job keeps across commits.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from annealbench.bench import engine as bench_engine
from annealbench.bench.output import HISTORY, add_samples, append_history, history_rows  # noqa: F401
from annealbench.bench.output import line as _line
from annealbench.data.cifar10 import FOLDER as CIFAR_FOLDER
from annealbench.devices import resolve_device
from annealbench.devices import sync as _sync
from annealbench.options import TrainOptions
from annealbench.store import RunDir, atomic_write_json
from annealbench.training.runner import train_run

TARGETS = {"runner_throughput": (">=", 0.95), "augment_throughput": (">=", 1.0),
           "runner_peak_memory": ("<=", 1.10)}


def _task(device, data_dir: Path | None, dry_run: bool):
    from annealbench.tasks import make_task

    cifar = data_dir is not None and (data_dir / CIFAR_FOLDER).is_dir()
    batch = 256 if device.type == "cuda" else 128
    if cifar and not dry_run:
        n = None if device.type == "cuda" else 4096
        kwargs = {"train_subset": n, "val_size": 1000, "test_subset": 1000, "augment": True}
        return "cifar10", make_task("cifar10", kwargs, data_dir=data_dir, device=device, batch_size=batch)
    n = 256 if dry_run else 4096
    kwargs = {"n_train": n, "n_val": 64, "n_test": 64, "image_size": 32, "augment": True}
    return "synthetic-images", make_task("synthetic-images", kwargs, data_dir=None, device=device,
                                         batch_size=batch)


def _model_kwargs(device) -> dict:
    return {"widths": [64, 128, 256] if device.type == "cuda" else [16, 32, 64]}


def bare_loop(task, device, epoch: int = 1, max_steps: int | None = None) -> float:
    """The baseline: what a user would write by hand. Returns images/s."""
    torch.manual_seed(0)
    model = task.build_model("airbench-cnn", _model_kwargs(device))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    items = 0
    t0 = time.perf_counter()
    for i, batch in enumerate(task.train_batches(epoch, 0)):
        if max_steps is not None and i >= max_steps:
            break
        loss, n = task.train_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        items += n
    _sync(device)
    return items / (time.perf_counter() - t0)


def runner_epoch(task, device, dataset: str, max_steps: int | None = None) -> float:
    """One epoch through the real runner; returns the throughput the runner itself recorded."""
    cfg = {"run_key": "bench", "seed": 0, "model": "airbench-cnn", "model_kwargs": _model_kwargs(device),
           "optimizer_type": "sgd", "optimizer_kwargs": {"momentum": 0.9}, "base_lr": 0.01,
           "schedule": "constant", "schedule_type": "constant", "schedule_kwargs": {},
           "schedule_interval": "epoch", "optimizer": "sgd", "epochs": 1, "eval_test": "final",
           "primary_metric": "accuracy", "clip_grad_norm": None, "dataset": dataset}
    with tempfile.TemporaryDirectory(prefix="annealbench-bench-") as tmp:
        run = RunDir(Path(tmp) / "run")
        train_run(cfg, run, task, device, TrainOptions(log=lambda m: None, max_steps=max_steps))
        rates = [r.value for r in run.read_epoch(1) if r.metric == "throughput"]
    if not rates:
        raise RuntimeError("the runner recorded no throughput")
    return rates[0]


def augment_rates(task, device, steps: int) -> tuple[float, float]:
    """(torchvision per-sample DataLoader, on-device batched) images/s over the same images."""
    from torch.utils.data import DataLoader, Dataset
    from torchvision.transforms import v2

    train = task.splits["train"]
    x_cpu = train.x[: steps * task.batch_size].cpu()
    tf = v2.Compose([v2.RandomCrop(x_cpu.shape[-1], padding=4), v2.RandomHorizontalFlip(),
                     v2.ToDtype(torch.float32, scale=True),
                     v2.Normalize(task.mean.tolist(), task.std.tolist())])

    class PerSample(Dataset):
        def __len__(self):
            return len(x_cpu)

        def __getitem__(self, i):
            return tf(x_cpu[i])
    t0 = time.perf_counter()
    n = 0
    for xb in DataLoader(PerSample(), batch_size=task.batch_size, shuffle=True, num_workers=0):
        xb = xb.to(device, non_blocking=True)
        n += len(xb)
    _sync(device)
    per_sample = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    n = 0
    for i, (xb, _) in enumerate(task.train_batches(1, 0)):
        if i >= steps:
            break
        n += len(xb)
    _sync(device)
    return per_sample, n / (time.perf_counter() - t0)


def _peak_child(mode: str, device: str, data_dir: Path | None, dry_run: bool) -> float:
    """Peak memory of a fresh process running one epoch of ``mode`` (bare | runner)."""
    cmd = [sys.executable, "-m", "annealbench.bench", "--_child", mode, "--device", device]
    if data_dir:
        cmd += ["--data-dir", str(data_dir)]
    if dry_run:
        cmd.append("--dry-run")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"benchmark child {mode} exited {proc.returncode}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak"])


def _child(mode: str, device, data_dir, dry_run, a=None) -> None:
    dataset, task = _task(device, data_dir, dry_run)
    if mode == "loop":  # one of bench_engine's training processes
        torch.set_num_threads(a.threads)

        def go():
            print("ready", flush=True)
            sys.stdin.readline()

        print(json.dumps(bench_engine.loop(task, device, _model_kwargs(device), a.precision,
                                           a.activation, go, 2 if dry_run else None)))
        return
    held = 0
    if device.type == "cuda":  # the data set stays on the GPU: count the epoch's memory alone
        held = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        _reset_peak_rss()  # loading CIFAR peaks higher than training: measure the epoch alone
    if mode == "bare":
        bare_loop(task, device)
    else:
        runner_epoch(task, device, dataset)
    peak = torch.cuda.max_memory_allocated(device) - held if device.type == "cuda" else _peak_rss()
    print(json.dumps({"peak": peak}))


def _reset_peak_rss() -> None:
    # Linux: writing 5 to clear_refs resets the VmHWM high-water mark to the current RSS.
    import gc
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # elsewhere the peak includes set-up; both modes pay it alike


def _peak_rss() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _git_commit() -> str | None:
    try:
        p = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return p.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def run_bench(device, data_dir: Path | None, out: Path | None, repeats: int, dry_run: bool,
              experiments: Path = Path("experiments")) -> dict:
    from annealbench.execution.study import environment

    dataset, task = _task(device, data_dir, dry_run)
    steps = 2 if dry_run else None
    bare_loop(task, device, max_steps=2)  # warm-up: allocator, kernels, caches
    bare, runner = [], []
    for _ in range(1 if dry_run else repeats):  # interleaved so drift hits both alike
        bare.append(bare_loop(task, device, max_steps=steps))
        runner.append(runner_epoch(task, device, dataset, max_steps=steps))
    rates = [augment_rates(task, device, steps=2 if dry_run else task.steps_per_epoch())
             for _ in range(1 if dry_run else repeats)]
    per_sample = statistics.median(r[0] for r in rates)
    batched = statistics.median(r[1] for r in rates)
    mem_bare = _peak_child("bare", device.type, data_dir, dry_run)
    mem_runner = _peak_child("runner", device.type, data_dir, dry_run)
    measures = {
        "runner_throughput": (statistics.median(bare), statistics.median(runner), "img/s"),
        "augment_throughput": (per_sample, batched, "img/s"),
        "runner_peak_memory": (mem_bare, mem_runner, "bytes"),
    }
    result = {"dataset": dataset, "steps_per_epoch": task.steps_per_epoch(), "repeats": repeats,
              "git_commit": _git_commit(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              **environment(device), "measures": {}}
    for name, (base, cand, unit) in measures.items():
        result["measures"][name] = judge(name, base, cand, unit)
    add_samples(result["measures"], {"runner_throughput": [*zip(bare, runner)], "augment_throughput": rates})
    result["measures"].update(bench_engine.measures(device, data_dir, dry_run, repeats, experiments))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / f"bench-{result['time'].replace(':', '')}.json", result)
        append_history(out / "history.csv", history_rows(result))
    return result


def judge(name: str, base: float, cand: float, unit: str) -> dict:
    """One measure against its target, from the measured figures (a seam to test on fixed ones)."""
    op, target = TARGETS[name]
    ratio = cand / base
    ok = ratio >= target if op == ">=" else ratio <= target
    return {"baseline": base, "candidate": cand, "unit": unit,
            "ratio": ratio, "target": f"{op} {target}", "met": ok}


def gate(measures: dict, check: bool, dry_run: bool) -> int:
    """--check's exit status: 1 when a measure missed its target (a dry run gates nothing)."""
    missed = [n for n, m in measures.items() if m.get("met") is False]
    return 1 if check and missed and not dry_run else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="annealbench bench", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", type=_device_arg,
                   help="auto, cpu, cuda or cuda:N (the engine's child processes get cuda:N)")
    p.add_argument("--data-dir", help="use CIFAR-10 from here when present, else synthetic images")
    p.add_argument("--out", default="reports/bench")
    p.add_argument("--repeats", type=int, default=5,
                   help="interleaved repetitions per measure; the median is reported")
    p.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat, nothing written")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a measure misses its target (the nightly job's gate)")
    p.add_argument("--experiments", default="experiments",
                   help="where the default CIFAR-10 study is (for prefix_saved)")
    p.add_argument("--_child", help=argparse.SUPPRESS)
    for hidden in ("--threads", "--precision", "--activation"):  # bench_engine's loops
        p.add_argument(hidden, help=argparse.SUPPRESS, type=int if hidden == "--threads" else str)
    a = p.parse_args(argv)
    if a.repeats < 1:
        print(f"annealbench bench: --repeats {a.repeats}: give 1 or more", file=sys.stderr)
        return 2
    device = resolve_device(a.device)
    data_dir = Path(a.data_dir or os.environ.get("ANNEALBENCH_DATA") or "data").expanduser()
    if a._child:
        _child(a._child, device, data_dir, a.dry_run, a)
        return 0
    out = None if a.dry_run else Path(a.out)  # a dry run's figures mean nothing to a history
    r = run_bench(device, data_dir, out, a.repeats, a.dry_run, Path(a.experiments))
    print(f"bench on {r['device_name']} ({r['dataset']}, commit {r['git_commit']}):")
    for name, m in r["measures"].items():
        print(f"  {name:20s} " + _line(m))
    return gate(r["measures"], a.check, a.dry_run)


def _device_arg(v: str) -> str:
    if v in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", v):
        return v
    raise argparse.ArgumentTypeError(f"{v!r}: give auto, cpu, cuda or cuda:N")


if __name__ == "__main__":
    sys.exit(main())
