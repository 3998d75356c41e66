"""Per-example held-out outcomes: what the tasks return, and what the runner stores beside the
records at the epochs a verdict judges."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from annealbench.execution.study import run_study
from annealbench.options import RunOptions
from annealbench.spec.load import load_study
from annealbench.store import RunDir, heldout_key
from annealbench.tasks import Task, language_model, make_task

CPU = torch.device("cpu")


def test_classification_outcomes_average_to_the_split_metrics():
    torch.manual_seed(0)
    task = make_task("synthetic-images", {"n_val": 40, "n_test": 30}, data_dir=None, device=CPU,
                     batch_size=8)
    net = task.build_model("airbench-cnn", {"widths": [8]})
    for split, n in (("val", 40), ("test", 30)):
        out = task.evaluate_examples(net, split)
        whole = task.evaluate(net, split)
        assert out["loss"].shape == (n,) and out["correct"].dtype == bool
        assert out["loss"].mean() == pytest.approx(whole["loss"], rel=1e-5)
        assert out["correct"].mean() == pytest.approx(whole["accuracy"])
    with pytest.raises(ValueError):
        task.evaluate_examples(net, "train")


@pytest.mark.parametrize("block", [1, 7, 10_000])
def test_text_blocks_are_the_mean_loss_of_consecutive_tokens(block, monkeypatch):
    monkeypatch.setattr(language_model, "HELDOUT_BLOCK", block)
    torch.manual_seed(0)
    task = make_task("synthetic-text", {"bptt": 16, "n_chars": 4000}, data_dir=None, device=CPU,
                     batch_size=4)
    net = task.build_model("lstm", {"emb": 8, "hidden": 8})
    tokens = task._token_losses(net, "val").reshape(-1).double().numpy()
    blocks = task.evaluate_examples(net, "val")["loss"]
    n = len(tokens) // block
    if n == 0:  # shorter than a block: one block of all of it, the split's loss
        assert blocks == pytest.approx([task.evaluate(net, "val")["loss"]], rel=1e-6)
    else:
        assert blocks == pytest.approx(tokens[: n * block].reshape(n, block).mean(1), rel=1e-6)
    if block == 1:
        assert blocks.mean() == pytest.approx(task.evaluate(net, "val")["loss"], rel=1e-6)


def test_a_task_without_outcomes_returns_none():
    class Bare(Task):
        def steps_per_epoch(self):
            return 1

        def train_batches(self, epoch, seed):
            yield None

        def train_loss(self, model, batch):
            raise NotImplementedError

        def evaluate(self, model, split):
            return {"loss": 0.0}

    bare = Bare(dataset="x", device=CPU, batch_size=1, model_shapes={}, files=[])
    assert bare.evaluate_examples(torch.nn.Linear(1, 1), "test") is None


def test_runs_store_outcomes_at_each_judged_epoch(write_study, tmp_path):
    path = write_study(replace={"seeds = [0, 1]": "seeds = [0]\nbudget_curve = [0.5]",
                                "epochs = 3": "epochs = 4"})
    full = load_study(path)
    study = dataclasses.replace(full, schedules={"constant": full.schedules["constant"]})
    outcomes = run_study(study, RunOptions(tmp_path / "out", CPU, None, log=lambda _m: None))
    assert [o.status for o in outcomes] == ["completed"] * 2
    stored = {}
    for o in outcomes:
        run = RunDir(tmp_path / "out" / "tiny" / "runs" / o.run_key)
        cfg = json.loads(run.config.read_text())
        arrays = run.read_heldout()
        stored[cfg["epochs"]] = arrays
        assert {int(k.rsplit(".", 1)[1]) for k in arrays} == ({2} if cfg["epochs"] == 2 else {2, 4})
        for epoch in {2, cfg["epochs"]}:
            rows = {(r.split, r.metric): r.value for r in run.read_epoch(epoch)}
            for split in ("val", "test"):
                loss = arrays[heldout_key(split, "loss", epoch)]
                n = int(arrays[heldout_key(split, "n", epoch)][0])
                correct = np.unpackbits(arrays[heldout_key(split, "correct", epoch)])[:n]
                assert loss.dtype == np.float16 and len(loss) == n
                assert loss.astype(float).mean() == pytest.approx(rows[(split, "loss")], rel=2e-3)
                assert correct.mean() == pytest.approx(rows[(split, "accuracy")])
    # the 4-epoch run's epoch 2 is the 2-epoch run's (same trajectory, shared or retrained)
    for k, a in stored[2].items():
        assert np.array_equal(a, stored[4][k])


def test_spread_held_out_text_takes_blocks_from_every_part_of_the_corpus():
    from annealbench.data.text import char_corpus, split_90_5_5, split_spread
    from annealbench.tasks import check_dataset_kwargs

    ids = torch.arange(20 * 10 * 7 + 33)  # 7 periods of 20 blocks of 10, and a partial period
    train, val, test = split_spread(ids, 10)
    assert len(val) == len(test) == 70 and len(train) == len(ids) - 140
    assert val[:10].tolist() == list(range(180, 190)) and test[:10].tolist() == list(range(190, 200))
    assert val[-10:].tolist() == list(range(6 * 200 + 180, 6 * 200 + 190))
    assert sorted(torch.cat([train, val, test]).tolist()) == ids.tolist()  # a partition
    text = "".join(chr(97 + (i * 7919) % 26) for i in range(5000))
    tail = char_corpus(text, "t")
    whole = torch.cat([tail.train, tail.val, tail.test])
    assert all(torch.equal(a, b) for a, b in zip((tail.train, tail.val, tail.test),
                                                 split_90_5_5(whole)))  # the default is unchanged
    spread = char_corpus(text, "t", "spread", 100)
    assert len(spread.val) == len(spread.test) == 2 * 100
    assert check_dataset_kwargs("tinyshakespeare", {"heldout": "spread", "heldout_block": 512}) is None
    assert "one of 'tail', 'spread'" in check_dataset_kwargs("tinyshakespeare", {"heldout": "middle"})


def test_judged_on_is_declared_and_checked_in_the_study_file(write_study):
    from annealbench.errors import SpecError

    assert load_study(write_study()).judged_on == "test"
    path = write_study(replace={"seeds = [0, 1]": "seeds = [0, 1]\njudged_on = \"val\""})
    assert load_study(path).to_dict()["judged_on"] == "val"
    bad = write_study(replace={"seeds = [0, 1]": "seeds = [0, 1]\njudged_on = \"train\""})
    with pytest.raises(SpecError, match=r"study\.judged_on.*allowed: test, val"):
        load_study(bad)
