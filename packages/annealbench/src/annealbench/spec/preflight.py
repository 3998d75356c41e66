"""Before any run starts: build each user piece once on a tiny input, and check the limits torch
imposes, so that a study that validates also runs.

User pieces (a model, a data set by import path) are code the spec cannot read: the only way to
know that ``mypkg.nets:Net`` returns a module whose output fits the data set is to build it and
call it. That is done here, on the CPU and from the study's first seed, inside a forked RNG so
the caller's random state is left as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from annealbench import user_code
from annealbench.errors import MISSING, AnnealbenchError
from annealbench.spec.checker import Checker
from annealbench.tasks import (
    CHAR_LM_METRICS,
    CLASSIFICATION_METRICS,
    DATASETS,
    WORD_LM_METRICS,
    Facts,
    default_data_dir,
    make_task,
)
from annealbench.tasks import user as user_data
from annealbench.user_code import PieceError, is_path

EPOCH_SEED_STRIDE = 1_000_003  # runner.epoch_seed: seed * stride + epoch goes to torch.manual_seed
TORCH_SEED_MAX = 2**64 - 1  # the largest seed torch.manual_seed accepts
PROBE_BATCH = 2
PROBE_TOKENS = 8
CPU = torch.device("cpu")


def max_seed(epochs: int) -> int:
    return (TORCH_SEED_MAX - epochs) // EPOCH_SEED_STRIDE


def uses_user_code(doc: dict) -> bool:
    """Whether the study names anything by import path (a model, data set, optimizer, schedule)."""
    def tables(key):
        t = doc.get(key)
        return list(t.values()) if isinstance(t, dict) else []

    names = [doc[k].get("name") for k in ("model", "dataset") if isinstance(doc.get(k), dict)]
    names += [b[k].get("name") for b in tables("budgets") if isinstance(b, dict)
              for k in ("model", "dataset") if isinstance(b.get(k), dict)]
    names += [t.get("type") for t in tables("optimizers") + tables("schedules") if isinstance(t, dict)]
    return any(is_path(n) for n in names)


@dataclass(frozen=True)
class Fields:
    """Where each value came from (the study or its budget), so a message names the field written."""

    budget: str = "quick"
    batch_size: str = "study.batch_size"
    seeds: str = "study.seeds"
    overrides: dict = field(default_factory=dict)  # "model"/"dataset" -> keys the budget set

    def of(self, part: str, key: str) -> str:
        over = key in self.overrides.get(part, ())
        return f"budgets.{self.budget}.{part}.{key}" if over else f"{part}.{key}"


def check(c: Checker, study, data_dir, fields: Fields):
    """The study (a spec.Study), with a user data set's metrics filled in; SpecError at the first
    problem."""
    top = max_seed(study.epochs)
    for s in study.seeds:
        if s > top:
            c.fail(fields.seeds, s, f"seeds must be <= {top}: each epoch seeds torch with seed x "
                                    f"{EPOCH_SEED_STRIDE} + epoch, and torch.manual_seed takes at most "
                                    "2**64 - 1")
    if not (is_path(study.model) or is_path(study.dataset)):
        facts = DATASETS[study.dataset].facts(_resolved(study))
        _check_batch(c, study, facts, fields)
        _check_step_schedules(c, study, _steps_per_epoch(study, facts))
        return study
    data_dir = default_data_dir(data_dir)
    own_task, facts, metrics = _data(c, study, data_dir, fields)
    if is_path(study.dataset):
        c.str_(study.primary_metric, "study.primary_metric", set(metrics))
        study = replace(study, metric_directions=dict(metrics))
    _check_batch(c, study, facts, fields)
    _check_step_schedules(c, study, own_task.steps_per_epoch() if own_task is not None
                          else _steps_per_epoch(study, facts))
    task = own_task
    if task is None and is_path(study.dataset):  # the user's data through the built-in task
        try:
            task = user_data.build_task(study.dataset, study.dataset_kwargs, data_dir=data_dir,
                                        device=CPU, batch_size=study.batch_size)
        except (ValueError, AnnealbenchError) as e:
            _fail_piece(c, fields, "dataset", study.dataset, study.dataset_kwargs, e)
    elif task is None and facts.shapes is None:  # a text set's vocabulary: only its files tell
        task = make_task(study.dataset, study.dataset_kwargs, data_dir=data_dir, device=CPU,
                         batch_size=study.batch_size)
    if task is not None:
        facts = replace(facts, shapes=task.model_shapes)
    _probe_model(c, study, task, facts, fields, own_task is not None)
    return study


def _resolved(study) -> dict:
    from annealbench.models.kwargs import resolve_kwargs

    return resolve_kwargs(DATASETS[study.dataset].kwargs, study.dataset_kwargs)


def _fail_piece(c: Checker, fields: Fields, part: str, name: str, kwargs: dict, e: Exception):
    key = getattr(e, "key", None)
    if key is not None:
        c.fail(fields.of(part, key), kwargs.get(key, MISSING), str(e))
    c.fail(fields.of(part, "name"), name, str(e))


def _data(c: Checker, study, data_dir, fields: Fields):
    """(the user's Task built on the CPU or None, Facts, metrics) of the study's data set."""
    name = study.dataset
    kwargs = study.dataset_kwargs
    if not is_path(name):
        info = DATASETS[name]
        return None, info.facts(_resolved(study)), info.metrics
    try:
        if user_data.is_task_class(user_data.load_source(name)):
            task = user_data.build_task(name, kwargs, data_dir=data_dir, device=CPU,
                                        batch_size=study.batch_size)
            metrics = _task_contract(name, task)
            return task, Facts(task.model_kind, task.model_shapes, None), metrics
        data = user_data.load_data(name, kwargs, data_dir)
        user_data.check_reserved(name, kwargs, data.kind)
    except (ValueError, AnnealbenchError) as e:
        _fail_piece(c, fields, "dataset", name, kwargs, e)
    if data.kind == "image":
        x = data.splits["train"].x
        facts = Facts("image", {"num_classes": data.size, "in_channels": x.shape[1],
                                "image_size": x.shape[2]}, len(x), exact=True)
        return None, facts, CLASSIFICATION_METRICS
    facts = Facts("sequence", {"vocab_size": data.size}, len(data.splits["train"]), exact=True)
    return None, facts, CHAR_LM_METRICS if data.level == "char" else WORD_LM_METRICS


def _task_contract(name: str, task) -> dict:
    metrics = getattr(task, "metrics", None)
    if not isinstance(metrics, dict) or "loss" not in metrics or any(
            d not in ("max", "min") for d in metrics.values()):
        raise PieceError(f"'{name}' has metrics = {metrics!r}; expected a dict of metric name -> "
                         "'max' | 'min' that includes 'loss'")
    steps = task.steps_per_epoch()
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise PieceError(f"'{name}'.steps_per_epoch() returned {steps!r}; expected an integer >= 1")
    if not isinstance(getattr(task, "item_unit", None), str):
        raise PieceError(f"'{name}' has no item_unit; expected a string such as 'img' or 'tok'")
    return metrics


def _check_batch(c: Checker, study, facts: Facts, fields: Fields) -> None:
    limit = facts.train_at_most
    if limit is None:
        return
    if facts.model_kind == "image" and study.batch_size > limit:
        c.fail(fields.batch_size, study.batch_size,
               f"larger than the training split ({limit} images of {study.dataset}); "
               "every step trains on one full batch")
    if facts.model_kind == "sequence":
        from annealbench.tasks.language_model import tokens_needed

        need = tokens_needed(study.batch_size, _bptt(study))
        if need > limit:
            c.fail(fields.batch_size, study.batch_size,
                   f"the training split of {study.dataset} has at most {limit} tokens, fewer than "
                   f"batch_size x (bptt + 1) + bptt - 1 = {need} for one step")


def _bptt(study) -> int:
    if is_path(study.dataset):
        return study.dataset_kwargs.get("bptt", user_data.RESERVED["bptt"].default)
    return _resolved(study)["bptt"]


def _steps_per_epoch(study, facts: Facts) -> int | None:
    """As the task will count them (after _check_batch), where the training split's size is known."""
    if not facts.exact:
        return None
    if facts.model_kind == "image":
        return facts.train_at_most // study.batch_size
    bptt = _bptt(study)
    return ((facts.train_at_most - (bptt - 1)) // study.batch_size - 1) // bptt


def _check_step_schedules(c: Checker, study, steps_per_epoch: int | None) -> None:
    """Per-step schedules depend on the steps per epoch (a OneCycleLR phase can be empty): checked
    where they are known, for every run length of the budget curve, as spec does per-epoch ones."""
    from annealbench import schedules

    if steps_per_epoch is None:
        return
    for name, arm in study.schedules.items():
        if arm.interval != "step":
            continue
        for epochs in study.curve_epochs:
            try:
                schedules.resolve(arm.type, arm.kwargs, epochs=epochs, steps_per_epoch=steps_per_epoch,
                                  interval="step")
            except ValueError as e:
                c.fail(f"schedules.{name}", arm.kwargs, f"{e} (for a {epochs}-epoch run of "
                                                        f"{steps_per_epoch} steps per epoch)")


def _probe_model(c: Checker, study, task, facts: Facts, fields: Fields, own_task: bool) -> None:
    """Build the model from the first seed and train it one step on a tiny batch."""
    from annealbench.models import MODELS, build_model, models_of
    from annealbench.models import user as user_models

    name = study.model
    kwargs = study.model_kwargs
    where = fields.of("model", "name")
    info = MODELS.get(name)
    if info is not None and facts.model_kind not in (None, info.kind):
        what = "an image" if facts.model_kind == "image" else "a text"
        c.fail(where, name, f"{study.dataset} is {what} data set; it works with "
                            f"{', '.join(models_of(facts.model_kind))} or 'package.module:callable'")
    shapes = facts.shapes or {}
    if is_path(name):
        missing = user_models.missing(name, kwargs, shapes)
        if missing:
            c.fail(fields.of("model", missing[0]), MISSING,
                   f"{name} requires {', '.join(missing)}, which {study.dataset} does not supply")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(study.seeds[0])
        try:
            model = build_model(name, kwargs, **shapes)
        except Exception as e:  # the user's factory: whatever it raises, one line
            c.fail(where, name, f"raised {type(e).__name__}: {user_code.one_line(e)}")
        if not any(p.requires_grad for p in model.parameters()):
            c.fail(where, name, "returned a module without trainable parameters")
        try:
            problem = _one_step(model, task, facts, study, own_task)
        except Exception as e:
            problem = f"failed one training step on a tiny batch: {type(e).__name__}: {user_code.one_line(e)}"
    if problem:
        c.fail(where, name, problem)


def _one_step(model, task, facts: Facts, study, own_task: bool) -> str | None:
    """None if one forward/backward in training mode and one forward in evaluation mode fit."""
    from annealbench.tasks.language_model import detach, forward

    b = min(PROBE_BATCH, study.batch_size)
    model.train()
    if own_task:  # a user Task: its own batches, loss and metrics
        batch = next(iter(task.train_batches(1, study.seeds[0])))
        loss, _ = task.train_loss(model, batch)
        if not (isinstance(loss, torch.Tensor) and loss.dim() == 0 and loss.requires_grad):
            return f"{study.dataset}.train_loss returned {_shape(loss)}; expected a scalar tensor with grad"
        loss.backward()
        got = task.evaluate(model, "val")
        if not isinstance(got, dict) or set(got) != set(task.metrics):
            return (f"{study.dataset}.evaluate returned {got!r}; expected a dict with "
                    f"{', '.join(sorted(task.metrics))}")
        return None
    if facts.model_kind == "image":
        n_cls, c_in, size = (facts.shapes[k] for k in ("num_classes", "in_channels", "image_size"))
        width = task.splits["train"].x.shape[3] if task is not None else size
        x = torch.randn(b, c_in, size, width).contiguous(memory_format=torch.channels_last)
        out = model.to(memory_format=torch.channels_last)(x)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (b, n_cls):
            return (f"returned {_shape(out)} for a batch of {b} images of {c_in} x {size} x {width}; "
                    f"expected logits of shape ({b}, {n_cls}) (num_classes = {n_cls})")
        F.cross_entropy(out, torch.arange(b) % n_cls).backward()
        model.eval()
        with torch.no_grad():
            model(x[:1])
        return None
    vocab = facts.shapes["vocab_size"]
    t = PROBE_TOKENS
    x = torch.randint(0, vocab, (b, t))
    logits, state = forward(model, x, None)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (b, t, vocab):
        return (f"returned {_shape(logits)} for {b} x {t} token ids; expected logits of shape "
                f"({b}, {t}, {vocab}) (vocab_size = {vocab}), or (logits, state)")
    F.cross_entropy(logits.reshape(-1, vocab), x.reshape(-1)).backward()
    model.eval()
    with torch.no_grad():
        forward(model, x, detach(state))  # the state it returned goes back in, as in training
    return None


def _shape(out) -> str:
    if isinstance(out, torch.Tensor):
        return f"output of shape {tuple(out.shape)}"
    return f"a {type(out).__name__}"
