"""Data readers and batchers on small files the tests write themselves."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from annealbench.data.images import crop_flip, normalise
from annealbench.data.synthetic import synthetic_images, synthetic_text
from annealbench.data.text import char_corpus, split_90_5_5
from annealbench.errors import AnnealbenchError, DataError, SpecError
from annealbench.tasks import DATASETS, check_dataset_kwargs, make_task

CPU = torch.device("cpu")
PER_BATCH = 20


def write_fake_cifar(root, per_batch=PER_BATCH, bad=None):
    """Official layout and dict structure; image i of the train set is filled with i % 256."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        first = b * per_batch
        data = np.repeat((np.arange(first, first + per_batch) % 256).astype(np.uint8)[:, None], 3072, axis=1)
        if name == bad:
            data = data[:, :3000]
        batch = {
            "batch_label": f"fake {name}",
            "labels": [int(i % 10) for i in range(first, first + per_batch)],
            "data": data,
            "filenames": [f"img_{i}.png" for i in range(first, first + per_batch)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


def cifar_task(root, batch_size=8, **kwargs):
    kwargs = {"download": False, "val_size": PER_BATCH, **kwargs}
    return make_task("cifar10", kwargs, data_dir=root, device=CPU, batch_size=batch_size)


# --- CIFAR-10 -------------------------------------------------------------------------------


def test_cifar_reader_splits_and_files(tmp_path):
    write_fake_cifar(tmp_path)
    task = cifar_task(tmp_path, val_size=30, test_subset=7)
    train, val, test = (task.splits[s] for s in ("train", "val", "test"))
    assert train.x.shape == (70, 3, 32, 32) and train.x.dtype == torch.uint8
    # validation is the held-out tail of the 100 training images, in file order
    assert val.x[:, 0, 0, 0].tolist() == list(range(70, 100))
    assert val.y.tolist() == [i % 10 for i in range(70, 100)]
    assert train.x[:, 0, 0, 0].tolist() == list(range(70))
    assert test.x[:, 0, 0, 0].tolist() == list(range(100, 107))
    assert [p.name for p in task.data_files()] == [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    assert cifar_task(tmp_path, train_subset=11).splits["train"].x.shape[0] == 11


def test_cifar_wrong_shape_names_the_file(tmp_path):
    write_fake_cifar(tmp_path, bad="data_batch_3")
    with pytest.raises(DataError) as e:
        cifar_task(tmp_path)
    msg = str(e.value)
    assert "data_batch_3" in msg and "3072" in msg and "\n" not in msg


def test_cifar_missing_folder_without_download(tmp_path):
    with pytest.raises(DataError) as e:
        cifar_task(tmp_path / "nowhere")
    msg = str(e.value)
    assert "\n" not in msg and "--data-dir" in msg and "cifar-10-batches-py" in msg


def test_cifar_val_size_too_large(tmp_path):
    write_fake_cifar(tmp_path)
    with pytest.raises(DataError, match="val_size"):
        cifar_task(tmp_path, val_size=100)


def test_cifar_augmentation_is_seeded(tmp_path):
    write_fake_cifar(tmp_path)
    task = cifar_task(tmp_path)

    def epoch(e, seed=0):
        return [(x.clone(), y.clone()) for x, y in task.train_batches(e, seed)]

    a, b = epoch(1), epoch(1)
    assert len(a) == task.steps_per_epoch() == 80 // 8
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, epoch(2)))
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, epoch(1, seed=1)))
    x, y = a[0]
    assert x.dtype == torch.float32 and x.shape == (8, 3, 32, 32) and y.shape == (8,)


def test_crop_flip_matches_pad_crop_flip():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (6, 3, 10, 12), dtype=torch.uint8)
    idx = torch.tensor([5, 0, 3, 3])
    dy, dx = torch.tensor([-4, 0, 3, 4]), torch.tensor([4, -2, 0, -4])
    flip = torch.tensor([True, False, True, False])
    got = crop_flip(images, idx, dy, dx, flip)
    padded = F.pad(images.float(), (4, 4, 4, 4), mode="reflect")
    for k in range(4):
        ref = padded[idx[k], :, 4 + dy[k] : 4 + dy[k] + 10, 4 + dx[k] : 4 + dx[k] + 12]
        if flip[k]:
            ref = ref.flip(-1)  # the crop is taken first, then mirrored
        assert torch.equal(got[k].float(), ref)


def test_normalise_uses_channel_stats():
    x = torch.full((2, 3, 4, 4), 51, dtype=torch.uint8)
    out = normalise(x, torch.tensor([0.2, 0.1, 0.0]), torch.tensor([0.5, 0.1, 1.0]))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.2]))


# --- text -----------------------------------------------------------------------------------

CORPUS = "".join(f"line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(200))


def write_shakespeare(root, text=CORPUS):
    path = root / "tinyshakespeare" / "input.txt"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def lm_task(root, batch_size=4, **kwargs):
    kwargs = {"download": False, "bptt": 8, **kwargs}
    return make_task("tinyshakespeare", kwargs, data_dir=root, device=CPU, batch_size=batch_size)


def test_char_vocab_and_split_sizes(tmp_path):
    path = write_shakespeare(tmp_path)
    task = lm_task(tmp_path)
    assert task.vocab == sorted(set(CORPUS))
    n = len(CORPUS)
    n_train = int(0.9 * n)
    assert len(task.train_ids) == n_train
    assert task.eval_streams["val"].numel() <= (n - n_train) // 2
    assert task.data_files() == [path]
    assert task.metrics == {"loss": "min", "bpc": "min"} and task.item_unit == "tok"
    train, val, test = split_90_5_5(torch.arange(1000))
    assert (len(train), len(val), len(test)) == (900, 50, 50) and val[0] == 900 and test[0] == 950


def test_char_ids_decode_back():
    splits = char_corpus(CORPUS, "mem")
    decoded = "".join(splits.vocab[i] for i in torch.cat([splits.train, splits.val, splits.test]).tolist())
    assert decoded == CORPUS


def test_lm_batches_shapes_targets_and_carry(tmp_path):
    write_shakespeare(tmp_path)
    task = lm_task(tmp_path, batch_size=4)
    batches = list(task.train_batches(1, 0))
    assert len(batches) == task.steps_per_epoch() > 10
    for x, y in batches:
        assert x.shape == y.shape == (4, 8) and x.dtype == torch.int64
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    for (_, y0), (x1, _) in zip(batches, batches[1:]):
        assert torch.equal(x1[:, 0], y0[:, -1])  # windows continue each stream
    stream = task.train_ids.tolist()
    text = "".join(task.vocab[i] for i in stream)
    row = "".join(task.vocab[i] for i in batches[0][0][0].tolist())
    assert row in text


def test_lm_batches_seeded_per_epoch(tmp_path):
    write_shakespeare(tmp_path)
    task = lm_task(tmp_path)

    def first(epoch, seed=0):
        return next(iter(task.train_batches(epoch, seed)))[0]

    assert torch.equal(first(3), first(3))
    assert any(not torch.equal(first(1), first(e)) for e in range(2, 8))
    assert all(len(list(task.train_batches(e, 0))) == task.steps_per_epoch() for e in range(1, 9))


def test_empty_or_tiny_corpus(tmp_path):
    write_shakespeare(tmp_path, "")
    with pytest.raises(DataError, match="input.txt"):
        lm_task(tmp_path)


def test_corpus_too_small_for_batch(tmp_path):
    write_shakespeare(tmp_path)
    with pytest.raises(DataError, match="batch_size"):
        lm_task(tmp_path, batch_size=2000)


def test_missing_shakespeare_without_download(tmp_path):
    with pytest.raises(DataError) as e:
        lm_task(tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "tinyshakespeare" / "input.txt") in msg and "--data-dir" in msg and "\n" not in msg


def test_train_and_eval_caps(tmp_path):
    write_shakespeare(tmp_path)
    task = lm_task(tmp_path, train_chars=2000, eval_chars=300)
    assert len(task.train_ids) == 2000
    assert task.eval_streams["val"].numel() <= 300


def test_bpc_is_loss_over_ln2(tmp_path):
    write_shakespeare(tmp_path)
    task = lm_task(tmp_path)
    torch.manual_seed(0)
    model = task.build_model("lstm", {"emb": 16, "hidden": 16, "layers": 1})
    out = task.evaluate(model, "test")
    assert out["bpc"] == pytest.approx(out["loss"] / math.log(2))
    assert out["loss"] == pytest.approx(math.log(len(task.vocab)), rel=0.05)  # untrained ~ uniform


def write_wikitext(root, folder="wikitext-2-raw", suffix="raw"):
    base = root / folder
    base.mkdir(parents=True)
    train = "".join(f" = Heading {i} = \n the cat sat on the mat {i % 7} \n\n" for i in range(60))
    (base / f"wiki.train.{suffix}").write_text(train)
    (base / f"wiki.valid.{suffix}").write_text(" the dog sat on the cat \n" * 20)
    (base / f"wiki.test.{suffix}").write_text(" the cat sat on the zebra \n" * 20)


@pytest.mark.parametrize("layout", [("wikitext-2-raw", "raw"), ("wikitext-2", "tokens")])
def test_wikitext_words(tmp_path, layout):
    write_wikitext(tmp_path, *layout)
    task = make_task("wikitext2", {"bptt": 5}, data_dir=tmp_path, device=CPU, batch_size=2)
    assert task.metrics == {"loss": "min", "ppl": "min"}
    assert task.vocab[:2] == ["<unk>", "<eos>"] and "dog" not in task.vocab and "zebra" not in task.vocab
    unk = task.vocab.index("<unk>")
    val = task.eval_streams["val"].flatten().tolist()
    assert val.count(unk) == 20 and val.count(task.vocab.index("<eos>")) == 20  # 'dog' is unseen in train
    assert len(task.data_files()) == 3
    torch.manual_seed(0)
    model = task.build_model("lstm", {"emb": 8, "hidden": 8, "layers": 1})
    out = task.evaluate(model, "val")
    assert out["ppl"] == pytest.approx(math.exp(out["loss"]))


def test_wikitext_missing(tmp_path):
    with pytest.raises(DataError) as e:
        make_task("wikitext2", {}, data_dir=tmp_path, device=CPU, batch_size=2)
    assert "wiki.train.raw" in str(e.value) and "\n" not in str(e.value)


def test_real_dataset_needs_a_data_dir(monkeypatch):
    monkeypatch.delenv("ANNEALBENCH_DATA", raising=False)
    with pytest.raises(DataError, match="--data-dir"):
        make_task("tinyshakespeare", {}, data_dir=None, device=CPU, batch_size=2)


# --- synthetic ------------------------------------------------------------------------------


def test_synthetic_images_deterministic_from_seed():
    kw = dict(n_train=20, n_val=10, n_test=10, image_size=16, num_classes=4, noise=1.0)
    a, b, c = synthetic_images(**kw, seed=0), synthetic_images(**kw, seed=0), synthetic_images(**kw, seed=1)
    assert all(torch.equal(x.x, y.x) and torch.equal(x.y, y.y) for x, y in zip(a, b))
    assert not torch.equal(a[0].x, c[0].x)
    assert a[0].x.dtype == torch.uint8 and a[0].x.shape == (20, 3, 16, 16)
    assert sorted(a[0].y.tolist()) == sorted([i % 4 for i in range(20)])  # balanced classes


def test_synthetic_text_deterministic_and_split():
    a = synthetic_text(n_chars=1000, vocab_size=8, order=2, alpha=0.2, seed=0)
    b = synthetic_text(n_chars=1000, vocab_size=8, order=2, alpha=0.2, seed=0)
    c = synthetic_text(n_chars=1000, vocab_size=8, order=2, alpha=0.2, seed=1)
    assert torch.equal(a.train, b.train) and not torch.equal(a.train, c.train)
    assert (len(a.train), len(a.val), len(a.test)) == (900, 50, 50)
    assert len(a.vocab) == 8 and int(a.train.max()) < 8
    task = make_task("synthetic-text", {"bptt": 8}, data_dir=None, device=CPU, batch_size=4)
    assert task.data_files() == [] and task.metrics == {"loss": "min", "bpc": "min"}


# --- kwargs checking and errors -------------------------------------------------------------


def test_check_dataset_kwargs_messages():
    assert check_dataset_kwargs("cifar10", {}) is None
    assert check_dataset_kwargs("cifar10", {"train_subset": 100, "augment": False}) is None
    assert (
        check_dataset_kwargs("cifar10", {"trainsubset": 3})
        == "takes train_subset, val_size, test_subset, augment, download; got 'trainsubset'"
    )
    assert check_dataset_kwargs("cifar10", {"val_size": -3}) == "val_size must be an int >= 1, got -3"
    assert "an int" in check_dataset_kwargs("cifar10", {"val_size": True})
    assert "true or false" in check_dataset_kwargs("cifar10", {"augment": 1})
    assert check_dataset_kwargs("imagenet", {}).startswith("unknown dataset 'imagenet'; allowed: cifar10")
    assert check_dataset_kwargs("synthetic-images", {"noise": 0.5, "image_size": 32}) is None
    assert "noise must be" in check_dataset_kwargs("synthetic-images", {"noise": "lots"})
    assert check_dataset_kwargs("wikitext2", {"train_chars": 5}).startswith("takes bptt, train_tokens")


def test_dataset_info_is_consistent():
    for name, info in DATASETS.items():
        assert info.kind in ("classification", "language_model")
        assert set(info.metrics) >= {"loss"} and set(info.metrics.values()) <= {"min", "max"}
        for key, spec in info.kwargs.items():
            types, default, constraint = spec.types, spec.default, spec.constraint
            assert isinstance(types, tuple) and constraint and "\n" not in constraint, (name, key)
            assert default is None or spec.accepts(default), (name, key)


def test_make_task_rejects_bad_kwargs():
    with pytest.raises(AnnealbenchError, match="n_train must be"):
        make_task("synthetic-images", {"n_train": 0}, data_dir=None, device=CPU, batch_size=4)


def test_spec_error_format():
    err = SpecError("exp.toml", "dataset.val_size", -3, "must be an int >= 1")
    assert str(err) == "exp.toml: dataset.val_size = -3: must be an int >= 1"
    assert isinstance(err, AnnealbenchError) and issubclass(DataError, AnnealbenchError)
