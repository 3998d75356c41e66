"""What of a run directory's progress a resume may trust: its checkpoint (model, optimizer and
scheduler after the last finished epoch) and its config.json. Anything that does not belong to
this run (another config, a foreign or truncated file) is refused, and the run starts over.
An error of the device or of memory while loading (an OOM on a GPU other workers share) is not
the file's fault: it propagates, the run fails for this invocation, and its progress is kept.

The file is read onto the CPU and ``load_state_dict`` moves each tensor where its parameter is:
loaded straight to a GPU, Adam's ``step`` counters would stay there, and its foreach
implementation then reads each of them back (``.item()``) at every step."""

from __future__ import annotations

import json

import torch

from annealbench.devices import transient
from annealbench.sharing.fork import state_bytes
from annealbench.store import RunDir, atomic_write_bytes, read_json


def save_checkpoint(run: RunDir, model, optimizer, scheduler, epoch, step, wall, averages=None) -> None:
    atomic_write_bytes(run.checkpoint, state_bytes(run, model, optimizer, scheduler, epoch, step, wall,
                                                   averages), fault="checkpoint-write")


def load_checkpoint(run: RunDir, device, model, optimizer, scheduler, log,
                     last_epoch: int, averages=None) -> tuple[int, int, float] | None:
    """Returns (epoch, step, wall) of the checkpoint, or None to start over.

    On None the model, optimizer and scheduler may hold part of a bad checkpoint: the caller
    builds them again from the seed.
    """
    if not run.checkpoint.exists():
        return None
    try:
        ck = torch.load(run.checkpoint, map_location="cpu", weights_only=True)
        if ck.get("run_key", run.root.name) != run.root.name:  # copied from another run
            raise ValueError(f"checkpoint of run {ck['run_key']}")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if averages is not None:
            averages.load_state_dict(ck["averages"])
        epoch = int(ck["epoch"])
        step = int(ck["step"])
        wall = float(ck["wall_time_s"])
        if not 1 <= epoch <= last_epoch or step < 0 or not all(
                run.epoch_file(e).exists() for e in range(epoch + 1)):
            raise ValueError(f"checkpoint of epoch {epoch} does not fit this run's epoch files")
        return epoch, step, wall
    except Exception as e:  # a truncated or foreign file: redo this run cleanly
        if transient(e):
            raise
        why = " ".join(f"{type(e).__name__}: {e}".split())[:160]
        log(f"[{run.root.name}] unreadable checkpoint {run.checkpoint} ({why}); restarting this run")
        return None  # the caller clears the run's progress and starts from fresh weights


def same_config(run: RunDir, record: dict, log) -> bool:
    """Whether config.json is this run's; if not (another spec version, a foreign or corrupt
    file), the run's progress is not trusted: say so and let the caller start it over."""
    try:
        on_disk = read_json(run.config)
    except (OSError, ValueError):
        on_disk = None
    expected = json.loads(json.dumps(record, default=str))
    if on_disk == expected:
        return True
    what = "unreadable" if on_disk is None else (
        f"from spec_version {on_disk.get('spec_version')!r}"
        if isinstance(on_disk, dict) and on_disk.get("spec_version") != record["spec_version"]
        else "for another config")
    log(f"[{run.root.name}] {run.config} is {what}; restarting this run")
    return False
