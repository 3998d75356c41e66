"""Tasks end to end on synthetic data: learning happens, metrics are complete, state is carried."""

from __future__ import annotations

import math

import pytest
import torch

from annealbench.errors import AnnealbenchError
from annealbench.tasks import DATASETS, make_task

CPU = torch.device("cpu")


def sgd_epochs(task, model, epochs, lr, clip=None, momentum=0.0):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    steps = 0
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in task.train_batches(epoch, 0):
            loss, n = task.train_loss(model, batch)
            assert n > 0 and loss.dim() == 0
            opt.zero_grad()
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            steps += 1
    return steps


def test_synthetic_images_learns():
    torch.manual_seed(0)
    task = make_task("synthetic-images", {}, data_dir=None, device=CPU, batch_size=32)
    model = task.build_model("airbench-cnn", {"widths": [8, 16]})
    before = task.evaluate(model, "val")
    steps = sgd_epochs(task, model, 8, lr=0.05, momentum=0.9)
    after = task.evaluate(model, "val")
    assert steps == 8 * 16
    assert after["loss"] < 0.5 * before["loss"], (before, after)
    assert after["accuracy"] > 0.6 > before["accuracy"] + 0.3, (before, after)


def test_synthetic_text_learns():
    torch.manual_seed(0)
    task = make_task("synthetic-text", {"bptt": 32}, data_dir=None, device=CPU, batch_size=16)
    model = task.build_model("lstm", {"emb": 32, "hidden": 64, "layers": 1, "dropout": 0.0})
    before = task.evaluate(model, "val")
    steps = sgd_epochs(task, model, 6, lr=5.0, clip=0.5)
    after = task.evaluate(model, "val")
    assert steps >= 200
    assert before["loss"] == pytest.approx(math.log(16), abs=0.05)  # untrained: uniform over 16 symbols
    assert after["loss"] < before["loss"] - 0.5, (before, after)
    assert after["bpc"] == pytest.approx(after["loss"] / math.log(2))


@pytest.mark.parametrize(
    "dataset,kwargs,model,model_kwargs",
    [
        ("synthetic-images", {"n_train": 64, "n_val": 20, "n_test": 30}, "article-cnn", {"hidden": 16}),
        ("synthetic-images", {"n_train": 64, "augment": True}, "airbench-cnn", {"widths": [8]}),
        ("synthetic-text", {"bptt": 16, "n_chars": 4000}, "lstm", {"emb": 8, "hidden": 8}),
    ],
)
def test_evaluate_returns_every_metric_and_restores_mode(dataset, kwargs, model, model_kwargs):
    task = make_task(dataset, kwargs, data_dir=None, device=CPU, batch_size=8)
    assert task.metrics == DATASETS[dataset].metrics
    assert task.item_unit == ("img" if DATASETS[dataset].kind == "classification" else "tok")
    assert task.data_files() == []
    net = task.build_model(model, model_kwargs)
    for mode in (True, False):
        net.train(mode)
        for split in ("val", "test"):
            out = task.evaluate(net, split)
            assert set(out) == set(task.metrics) and all(math.isfinite(v) for v in out.values())
            assert net.training is mode
    assert len(list(task.train_batches(1, 0))) == task.steps_per_epoch()
    with pytest.raises(ValueError):
        task.evaluate(net, "train")


def test_classification_epoch_drops_the_ragged_tail():
    task = make_task("synthetic-images", {"n_train": 100}, data_dir=None, device=CPU, batch_size=32)
    assert task.steps_per_epoch() == 3
    batches = list(task.train_batches(1, 0))
    assert [len(y) for _, y in batches] == [32, 32, 32]
    small = make_task("synthetic-images", {"n_train": 10}, data_dir=None, device=CPU, batch_size=32)
    assert [len(y) for _, y in small.train_batches(1, 0)] == [10]


def test_batches_leave_the_global_rng_alone():
    task = make_task("synthetic-images", {"augment": True}, data_dir=None, device=CPU, batch_size=32)
    state = torch.random.get_rng_state()
    list(task.train_batches(1, 0))
    assert torch.equal(state, torch.random.get_rng_state())


class Spy(torch.nn.Module):
    """Records the hidden state each call receives."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = []

    def forward(self, x, hidden=None):
        self.seen.append(hidden)
        return self.inner(x, hidden)


def test_hidden_state_carried_detached_and_reset():
    task = make_task("synthetic-text", {"bptt": 8, "n_chars": 4000}, data_dir=None, device=CPU, batch_size=4)
    torch.manual_seed(0)
    inner = task.build_model("lstm", {"emb": 8, "hidden": 8, "layers": 2, "dropout": 0.0})
    model = Spy(inner)
    batches = task.train_batches(1, 0)
    first = next(batches)
    loss1, n1 = task.train_loss(model, first)
    loss1.backward()
    loss2, _ = task.train_loss(model, next(batches))
    loss2.backward()  # would fail ("backward through the graph a second time") if state were attached
    assert n1 == 4 * 8
    assert model.seen[0] is None
    h, c = model.seen[1]
    assert h.grad_fn is None and not h.requires_grad and c.grad_fn is None
    with torch.no_grad():
        _, (h_ref, c_ref) = inner(first[0])
    assert torch.allclose(h, h_ref) and torch.allclose(c, c_ref)
    # evaluating mid-epoch neither uses nor disturbs the carried state
    task.evaluate(model, "val")
    task.train_loss(model, next(batches))
    assert model.seen[-1] is not None and model.seen[-1][0].shape == (2, 4, 8)
    task.train_loss(model, next(task.train_batches(2, 0)))
    assert model.seen[-1] is None  # a new epoch starts from a zero state


def test_build_model_checks_the_pairing():
    task = make_task("synthetic-text", {"bptt": 8}, data_dir=None, device=CPU, batch_size=4)
    with pytest.raises(AnnealbenchError, match="does not fit dataset synthetic-text"):
        task.build_model("airbench-cnn", {})
    with pytest.raises(AnnealbenchError, match="emb == hidden"):
        task.build_model("lstm", {"tie_weights": True})
