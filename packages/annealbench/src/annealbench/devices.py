"""What a CUDA device is set to and what it reported: the numeric flags every run on CUDA uses
(and meta.json records), and which exceptions from CUDA are not the run's fault.

Flags (docs/devices.md says what each guarantee then means per device):
- TF32 off for matmuls and cuDNN convolutions: "fp32" means fp32, so an fp32 run (and the
  ``bf16_accuracy`` baseline) is what its precision says, on every GPU generation;
- cuDNN ``benchmark`` off: the convolution algorithm does not depend on a timing taken at start-up;
- ``torch.use_deterministic_algorithms`` not forced: the models' backward passes include kernels
  with no deterministic CUDA version (adaptive max-pool), which would raise instead of training.
  So on CUDA two runs of one config agree within a tolerance, not bit for bit.

Step times (``StepClock``): on CUDA a host clock read after a step times its launch, not its
work, so each step records an event in the device's stream, read after the epoch's one sync.

Errors: an out-of-memory error or a CUDA runtime error while loading a checkpoint says nothing
about the file (it is kept, and the run fails for this invocation only); an error after which the
process's CUDA context is unusable (a device-side assert, an illegal address) ends the process
that hit it, since every later run in it would fail the same way.
"""

from __future__ import annotations

import time

import torch

# Message fragments of CUDA runtime errors (torch raises them as RuntimeError, or
# torch.AcceleratorError in newer versions) that leave the context unusable ("sticky" errors).
_STICKY = ("device-side assert", "illegal memory access", "illegal address", "illegal instruction",
           "unspecified launch failure", "misaligned address", "uncorrectable ecc error",
           "cuda error: launch failure")
_CUDA = ("cuda error", "cudnn_status", "cublas_status", "cuda driver", "cudaerror", "nccl error",
         "cuda runtime error")


def resolve_device(name: str) -> torch.device:
    """"auto", "cpu", "cuda" or "cuda:N" as a torch device, configured (``configure``)."""
    if name == "cuda" and not torch.cuda.is_available():
        from annealbench.errors import AnnealbenchError
        raise AnnealbenchError("--device cuda: no CUDA device is visible to torch; use --device cpu or auto")
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name)
    configure(device)
    return device


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (timings end here on CUDA; nothing to wait for on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def configure(device) -> None:
    """Set the flags above; a no-op off CUDA (the CPU has no TF32 path to turn off)."""
    if torch.device(device).type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False


def settings(device) -> dict:
    """For meta.json and the bench: the flags every run sets (set here too, so what is recorded
    is what this process runs with), the versions, and the GPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return {}
    configure(device)
    out = {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
           "tf32_cudnn": torch.backends.cudnn.allow_tf32,
           "cudnn_benchmark": torch.backends.cudnn.benchmark,
           "cudnn_deterministic": torch.backends.cudnn.deterministic,
           "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
           "cuda_runtime": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    if torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        out["gpu_name"] = torch.cuda.get_device_name(index)
        out["compute_capability"] = ".".join(map(str, torch.cuda.get_device_capability(index)))
    return out


def _text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".lower()


def broken_context(e: BaseException) -> bool:
    """Whether ``e`` leaves this process's CUDA context unusable."""
    return isinstance(e, RuntimeError) and any(s in _text(e) for s in _STICKY)


def transient(e: BaseException) -> bool:
    """Whether ``e`` comes from the device or the host's memory, not from a file's contents."""
    if isinstance(e, (torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(e, RuntimeError) and (
        broken_context(e) or any(s in _text(e) for s in _CUDA) or "out of memory" in _text(e))


class StepClock:
    """Seconds from the start of an epoch to the end of each step (``mark`` after each step,
    ``stamps`` after the epoch's sync). No sync per step: on CUDA the events are timed on the
    device."""

    def __init__(self, device):
        device = torch.device(device)
        self.stream = torch.cuda.current_stream(device) if device.type == "cuda" else None
        self.t0 = time.perf_counter()
        self.marks = []
        if self.stream is not None:
            self.start = self._event()

    def _event(self):
        e = torch.cuda.Event(enable_timing=True)
        e.record(self.stream)
        return e

    def mark(self) -> None:
        self.marks.append(self._event() if self.stream is not None
                          else time.perf_counter() - self.t0)

    def stamps(self) -> list[float]:
        if self.stream is None:
            return list(self.marks)
        return [self.start.elapsed_time(e) / 1000 for e in self.marks]
