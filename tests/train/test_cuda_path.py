"""The CUDA side on a CPU machine: fakes for torch.cuda, monkeypatched loads and injected CUDA
errors stand in for a GPU (what only a GPU can measure is in docs/devices.md)."""

from __future__ import annotations

import json
import weakref

import pytest
import torch

from annealbench.errors import DeviceLost
from annealbench.execution.study import run_study
from annealbench.options import RunOptions, TrainOptions
from annealbench.spec.grid import expand
from annealbench.spec.load import load_study
from annealbench.store import RunDir
from annealbench.training import epoch, resume, runner

CPU = torch.device("cpu")
ONE_SEED = {"seeds = [0, 1]": "seeds = [0]"}


def _quiet(_msg):
    pass


QUIET = TrainOptions(log=_quiet)


class _FakeEvent:
    """torch.cuda.Event on a fake device whose every recorded step takes 0.5 s of device time."""
    clock = 0.0

    def __init__(self, enable_timing=False):
        self.at = None

    def record(self, stream=None):
        self.at = _FakeEvent.clock
        _FakeEvent.clock += 0.5

    def elapsed_time(self, end):
        return (end.at - self.at) * 1000


@pytest.fixture
def fake_gpu(monkeypatch):
    """A CUDA device on this CPU machine: tensors stay on the CPU, events and syncs are fakes."""
    _FakeEvent.clock = 0.0
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a: "stream")
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    return torch.device("cuda")


def _finished_run(write_study, tmp_path):
    """A tiny study trained on the CPU; its first run made unfinished, its checkpoint kept."""
    study = load_study(write_study(replace=ONE_SEED))
    outcomes = run_study(study, RunOptions(tmp_path / "out", CPU, None, log=_quiet))
    rd = RunDir(tmp_path / "out" / "tiny" / "runs" / outcomes[0].run_key)
    rd.status.unlink()
    return study, rd


@pytest.mark.parametrize("error", [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"),
    RuntimeError("CUDA error: out of memory"),
    MemoryError()])
def test_a_device_error_while_loading_keeps_the_checkpoint(write_study, tmp_path, monkeypatch,
                                                          error):
    study, rd = _finished_run(write_study, tmp_path)
    before = rd.checkpoint.read_bytes()
    epochs = sorted(p.name for p in rd.epochs.iterdir())

    def load(*a, **k):
        raise error

    monkeypatch.setattr(torch, "load", load)
    got = run_study(study, RunOptions(tmp_path / "out", CPU, None, log=_quiet))[0]
    assert got.status == "failed" and got.epochs_trained == 0
    assert rd.checkpoint.read_bytes() == before  # not taken for a corrupt file and deleted
    assert sorted(p.name for p in rd.epochs.iterdir()) == epochs
    monkeypatch.undo()
    again = run_study(study, RunOptions(tmp_path / "out", CPU, None, log=_quiet))[0]
    assert again.status == "completed" and again.epochs_trained == 0  # resumed, nothing redone


def test_checkpoints_load_onto_the_cpu_and_adam_steps_stay_there(write_study, tmp_path):
    """Loaded with map_location=<the GPU>, Adam's step counters would land on the GPU (and each
    step of a resumed run would read every one back). Here a CUDA device on a CPU machine: a load
    straight onto it fails, one through the CPU works."""
    study, rd = _finished_run(write_study, tmp_path)
    cfg = json.loads(rd.config.read_text())
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    resume.save_checkpoint(rd, model, opt, sched, cfg["epochs"], 7, 1.0)
    model2 = torch.nn.Linear(2, 2)
    opt2 = torch.optim.Adam(model2.parameters())
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda e: 1.0)
    logged = []
    got = resume.load_checkpoint(rd, torch.device("cuda"), model2, opt2, sched2, logged.append,
                                 cfg["epochs"])
    assert got == (cfg["epochs"], 7, 1.0), logged
    assert all(s["step"].device.type == "cpu" for s in opt2.state.values())
    assert torch.equal(model2.weight, model.weight)


def _cfg(write_study):
    study = load_study(write_study(replace=ONE_SEED))
    return dict(expand(study, "cpu")[0], precision="fp32"), study


def test_cuda_memory_is_released_after_the_oom_handler(write_study, tmp_path, monkeypatch,
                                                       fake_gpu):
    """empty_cache() inside the except block frees nothing the traceback still holds."""
    from annealbench.tasks import make_task
    cfg, study = _cfg(write_study)
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=study.batch_size)
    models = []
    build = task.build_model
    monkeypatch.setattr(task, "build_model", lambda *a: models.append(build(*a)) or models[-1])
    alive_at_release = []
    monkeypatch.setattr(torch.cuda, "empty_cache",
                        lambda: alive_at_release.append([m() is not None for m in refs]))

    def hit(point, *_):
        if point == "train-step":
            raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(epoch.faults, "hit", hit)
    refs = []
    real_train = runner.train_run

    def train(*a, **k):
        try:
            return real_train(*a, **k)
        finally:
            refs.extend(weakref.ref(m) for m in models)
            models.clear()

    monkeypatch.setattr(runner, "train_run", train)
    rd = RunDir(tmp_path / "runs" / cfg["run_key"])
    got = runner.run_one(cfg, rd, task, torch.device("cuda"), QUIET)
    assert got.status == "failed" and "out of memory on cuda" in got.message
    assert alive_at_release == [[False] * len(refs)] and refs


def test_a_broken_cuda_context_stops_the_process_not_the_next_run(write_study, tmp_path,
                                                                 monkeypatch):
    from annealbench.tasks import make_task
    cfg, study = _cfg(write_study)
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=study.batch_size)
    error = [RuntimeError("CUDA error: device-side assert triggered\nCompile with "
                          "`TORCH_USE_CUDA_DSA` to enable device-side assertions.")]

    def hit(point, *_):
        if point == "train-step":
            raise error[0]

    monkeypatch.setattr(epoch.faults, "hit", hit)
    rd = RunDir(tmp_path / "runs" / cfg["run_key"])
    with pytest.raises(DeviceLost, match="CUDA context is unusable") as e:
        runner.run_one(cfg, rd, task, CPU, QUIET)
    assert e.value.outcome.status == "failed"
    assert json.loads(rd.status.read_text())["status"] == "failed"  # retried next invocation
    error[0] = RuntimeError("mat1 and mat2 shapes cannot be multiplied")  # an ordinary failure
    assert runner.run_one(cfg, rd, task, CPU, QUIET).status == "failed"


@pytest.fixture
def tf32_on():
    """TF32 and cuDNN's benchmark on (torch's default for cuDNN convolutions, and what user code
    often sets); the process's flags restored after the test."""
    saved = _flags()
    _set(True, True, True)
    yield
    _set(*saved)


def _set(matmul, cudnn, benchmark):
    torch.backends.cuda.matmul.allow_tf32 = matmul
    torch.backends.cudnn.allow_tf32 = cudnn
    torch.backends.cudnn.benchmark = benchmark


def _flags():
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
            torch.backends.cudnn.benchmark)


def test_every_cuda_run_computes_fp32_without_tf32(write_study, tmp_path, monkeypatch, tf32_on,
                                                  fake_gpu):
    """A run on CUDA (here a CUDA device on a CPU machine, stopped at its first step) turns TF32
    and cuDNN's benchmark off in its process; a CPU run leaves them."""
    from annealbench.tasks import make_task
    cfg, study = _cfg(write_study)
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=study.batch_size)

    def hit(point, *_):
        if point == "train-step":
            raise ValueError("stop here")

    monkeypatch.setattr(epoch.faults, "hit", hit)
    runner.run_one(cfg, RunDir(tmp_path / "a"), task, CPU, QUIET)
    assert _flags() == (True, True, True)
    runner.run_one(cfg, RunDir(tmp_path / "b"), task, torch.device("cuda"), QUIET)
    assert _flags() == (False, False, False)


def test_meta_records_the_cuda_flags_versions_and_gpu(monkeypatch, tf32_on):
    from annealbench.execution.study import environment
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    env = environment(torch.device("cuda"))
    assert env["device_name"] == "NVIDIA H200" and env["cuda"] == torch.version.cuda
    assert env["cuda_settings"] == {
        "tf32_matmul": False, "tf32_cudnn": False, "cudnn_benchmark": False,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "deterministic_algorithms": False, "cuda_runtime": torch.version.cuda, "cudnn": 91002,
        "gpu_name": "NVIDIA H200", "compute_capability": "9.0"}
    assert "cuda_settings" not in environment(CPU)


def test_step_times_on_cuda_are_the_device_s_not_the_launches(write_study, tmp_path, fake_gpu,
                                                             tf32_on):
    """Each step's wall_time_s is its end on the device (events read after the epoch's sync),
    not the host's clock after queueing it."""
    from annealbench.tasks import make_task
    cfg, study = _cfg(write_study)
    cfg["epochs"] = 1
    task = make_task(study.dataset, study.dataset_kwargs, data_dir=None, device=CPU,
                     batch_size=study.batch_size)
    rd = RunDir(tmp_path / "r")
    assert runner.run_one(cfg, rd, task, fake_gpu, QUIET).status == "completed"
    import csv
    with open(rd.epoch_file(1), newline="") as f:
        walls = [float(r["wall_time_s"]) for r in csv.DictReader(f) if r["metric"] == "step_loss"]
    assert walls == [0.5 * (i + 1) for i in range(task.steps_per_epoch())]
