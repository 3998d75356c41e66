"""``python -m annealbench.bench.versions --device D --constraints FILE --out FILE``: the nightly
job's torch check. Writes the versions the night runs with (torch, CUDA, cuDNN, driver, GPU,
Python) as JSON for its history, then stops the night with one line and exit 3 when torch is
outside the tested range that FILE declares (a line ``torch>=A,<B``), or, on CUDA, sees no GPU (a
wheel built for a newer CUDA than the driver)."""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import torch

OPS = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
       "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def release(version: str) -> tuple[int, ...]:
    """'2.15.0+cu132' -> (2, 15, 0): the numeric release, local and pre-release tags dropped."""
    return tuple(int(x) for x in re.findall(r"\d+", version.split("+")[0].split("a")[0].split("rc")[0])[:3])


def torch_range(constraints: Path) -> list[tuple[str, tuple[int, ...]]]:
    """The (operator, release) bounds of the ``torch`` line in a constraints file."""
    for line in constraints.read_text().splitlines():
        line = line.split("#")[0].replace(" ", "")
        if line.startswith("torch") and not line.startswith("torchvision"):
            return [(op, release(v)) for op, v in re.findall(r"(>=|<=|==|<|>)([\d.]+)", line[5:])]
    raise ValueError(f"{constraints}: no torch line (e.g. torch>=2.11,<2.16)")


def in_range(version: str, bounds) -> bool:
    v = release(version)
    return all(OPS[op](v, b) for op, b in bounds)


def _nvidia_smi() -> dict:
    if not shutil.which("nvidia-smi"):
        return {}
    p = subprocess.run(["nvidia-smi", "--query-gpu=driver_version,name", "--format=csv,noheader"],
                       capture_output=True, text=True, timeout=30)
    first = (p.stdout.strip().splitlines() or [""])[0]
    driver, _, name = first.partition(", ")
    return {"driver": driver or None, "gpu": name or None}


def versions(device: str) -> dict:
    cuda = device == "cuda" and torch.cuda.is_available()
    return {"torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "driver": None,
            **{k: v for k, v in _nvidia_smi().items() if v}, "device": device,
            "python": platform.python_version()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m annealbench.bench.versions", description=__doc__)
    p.add_argument("--device", default="cuda", choices=("cpu", "cuda"))
    p.add_argument("--constraints", type=Path, required=True)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    found = versions(a.device)
    if a.out:
        a.out.write_text(json.dumps(found, sort_keys=True) + "\n")
    bounds = torch_range(a.constraints)
    tested = ",".join(f"{op}{'.'.join(map(str, b))}" for op, b in bounds)
    if not in_range(torch.__version__, bounds):
        print(f"nightly: torch {torch.__version__} is outside the tested range torch{tested} "
              f"({a.constraints}); stopping", file=sys.stderr)
        return 3
    if a.device == "cuda" and not torch.cuda.is_available():
        print(f"nightly: torch {torch.__version__} built for CUDA {torch.version.cuda} sees NO GPU "
              f"(driver {found.get('driver') or 'unknown'} older than this CUDA?); stopping",
              file=sys.stderr)
        return 3
    print(f"nightly: torch {found['torch']} (tested torch{tested}), CUDA {found['cuda']}, cuDNN "
          f"{found['cudnn']}, driver {found['driver']}, GPU {found['gpu']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
