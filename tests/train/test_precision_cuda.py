"""Precision on CUDA, with a fake torch.cuda: bf16 only where the GPU computes it natively, no
guess for a GPU that is not there, fp32 for recurrent models (annealbench.precision says why)."""

from __future__ import annotations

import pytest
import torch

from annealbench import precision
from annealbench.errors import AnnealbenchError
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study


class FakeCuda:
    """torch.cuda as seen on a machine with ``capability``; ``emulated`` bf16 counted by default."""

    def __init__(self, capability, new_signature=True):
        self.capability, self.new_signature = capability, new_signature

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: self.capability)
        if self.new_signature:
            def supported(including_emulation=True):
                return self.capability >= (8, 0) or including_emulation
        else:
            def supported():  # an older torch: no way to leave emulation out
                return True
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", supported)


def test_cuda_bf16_is_native_only(monkeypatch):
    for capability, native in (((7, 5), False), ((7, 0), False), ((8, 0), True), ((9, 0), True)):
        for new in (True, False):
            FakeCuda(capability, new).install(monkeypatch)
            assert precision.resolve("auto", "cuda") == ("bf16" if native else "fp32"), capability
            assert precision.resolve("bf16", "cuda") == "bf16"  # asked for: kept


def test_auto_on_cuda_without_a_gpu_is_refused_not_guessed(monkeypatch, write_study):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(AnnealbenchError, match="no CUDA device is visible here; ask for fp32 or bf16"):
        precision.resolve("auto", "cuda")
    assert precision.resolve("fp32", "cuda") == "fp32"
    from annealbench.cli import main
    path = write_study()
    assert main(["grid", str(path), "--device", "cuda"]) == 2
    assert main(["grid", str(path), "--device", "cuda", "--precision", "bf16"]) == 0


def test_recurrent_models_resolve_to_fp32_on_cuda(monkeypatch, root):
    FakeCuda((9, 0)).install(monkeypatch)
    assert precision.resolve("auto", "cuda", "airbench-cnn") == "bf16"
    assert precision.resolve("auto", "cuda", "lstm") == "fp32"  # cuDNN's RNN autocast is fp16
    assert precision.resolve("bf16", "cuda", "lstm") == "bf16"
    monkeypatch.setattr(precision, "cpu_bf16", lambda: True)
    assert precision.resolve("auto", "cpu", "lstm") == "bf16"  # measured on the CPU
    lstm = load_study(root / "experiments" / "shakespeare-lstm.toml", "quick")
    assert {c["precision"] for c in expand(lstm, "cuda")} == {"fp32"}
