"""Language modelling (after pytorch/examples): batchified token streams, BPTT windows, carried state.

The training stream is cut into `batch_size` parallel streams and read in windows of `bptt`
tokens; the LSTM state flows (detached) from one window to the next within an epoch. Each epoch
starts the streams at a random offset in [0, bptt) drawn from the (seed, epoch) generator, so
window boundaries differ between epochs while every schedule sees the same windows.
"""

from __future__ import annotations

import functools
import inspect
import math
import pathlib
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from annealbench.data.synthetic import synthetic_text
from annealbench.data.text import TokenSplits, char_corpus, read_text, word_corpus
from annealbench.data.tinyshakespeare import locate_tinyshakespeare
from annealbench.data.wikitext2 import wikitext2_paths
from annealbench.errors import DataError
from annealbench.tasks import CHAR_LM_METRICS, WORD_LM_METRICS, Task, epoch_generator

# Held-out outcomes of a text are per block of this many consecutive target tokens (characters for
# a character-level text): 1,024 characters of Shakespeare are long enough that neighbouring
# blocks are nearly independent, short enough that a 5% held-out text has ~50 of them.
HELDOUT_BLOCK = 1024


def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
    """(n,) -> (streams, n // streams): row j is the j-th contiguous slice; the remainder is dropped."""
    length = len(ids) // streams
    return ids[: length * streams].view(streams, length)


def detach(hidden):
    if hidden is None:
        return None
    return tuple(h.detach() for h in hidden) if isinstance(hidden, tuple) else hidden.detach()


def tokens_needed(batch_size: int, bptt: int) -> int:
    """Training tokens for one step: the worst start offset (bptt - 1) must still leave one full
    window (bptt + 1 tokens with its targets) per stream."""
    return batch_size * (bptt + 1) + bptt - 1


@functools.cache
def _takes_state(cls: type) -> bool:
    params = list(inspect.signature(cls.forward).parameters.values())[1:]  # after self
    return any(p.kind is p.VAR_POSITIONAL for p in params) or sum(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 2


def _losses_per_token(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each target token's cross-entropy, shaped as ``targets``."""
    return (F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                            reduction="none").view(targets.shape))


def _loss_sum(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, int]:
    """The window's summed cross-entropy and its number of target tokens."""
    total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                            reduction="sum").item()
    return total, targets.numel()


def forward(model, tokens: torch.Tensor, state):
    """(logits, state) of a text model: ``model(tokens, state)`` if its forward takes a second
    argument (a recurrent state, None at the start), else ``model(tokens)``; it may return
    logits alone (stateless) or (logits, new state)."""
    out = model(tokens, state) if _takes_state(type(model)) else model(tokens)
    return out if isinstance(out, tuple) else (out, None)


class LanguageModelTask(Task):
    item_unit = "tok"
    model_kind = "sequence"

    def __init__(
        self,
        *,
        dataset: str,
        corpus: TokenSplits,
        bptt: int,
        device: torch.device,
        batch_size: int,
        files: list[pathlib.Path],
        source: str,
    ):
        super().__init__(
            dataset=dataset,
            device=device,
            batch_size=batch_size,
            model_shapes={"vocab_size": len(corpus.vocab)},
            files=files,
        )
        self.metrics = dict(CHAR_LM_METRICS if corpus.level == "char" else WORD_LM_METRICS)
        self.vocab = corpus.vocab
        self.bptt = bptt
        unit = "characters" if corpus.level == "char" else "tokens"
        self._steps = ((len(corpus.train) - (bptt - 1)) // batch_size - 1) // bptt
        if self._steps < 1:
            raise DataError(
                f"{source}: training split has {len(corpus.train)} {unit}, fewer than "
                f"batch_size x (bptt + 1) + bptt - 1 = {tokens_needed(batch_size, bptt)}; "
                "use more data or a smaller batch_size/bptt"
            )
        for name, ids in (("val", corpus.val), ("test", corpus.test)):
            if len(ids) < 2:
                raise DataError(f"{source}: {name} split has {len(ids)} {unit}; need at least 2")
        self.train_ids = corpus.train.to(self.device)
        self.eval_streams = {
            "val": self._eval_streams(corpus.val.to(self.device)),
            "test": self._eval_streams(corpus.test.to(self.device)),
        }
        self._hidden = None

    def _eval_streams(self, ids: torch.Tensor) -> torch.Tensor:
        # As many streams as the batch size allows while each keeps at least one bptt window.
        streams = max(1, min(self.batch_size, (len(ids) - 1) // self.bptt))
        return batchify(ids, streams)

    def steps_per_epoch(self) -> int:
        return self._steps

    def train_batches(self, epoch: int, seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._hidden = None
        generator = epoch_generator(seed, epoch)
        offset = int(torch.randint(0, self.bptt, (1,), generator=generator))
        streams = batchify(self.train_ids[offset:], self.batch_size)
        for step in range(self._steps):
            start = step * self.bptt
            yield streams[:, start : start + self.bptt], streams[:, start + 1 : start + 1 + self.bptt]

    def train_loss(self, model, batch) -> tuple[torch.Tensor, int]:
        inputs, targets = batch
        logits, hidden = forward(model, inputs, self._hidden)
        # Detached: gradients stop at the window edge (truncated BPTT), memory stays bounded.
        self._hidden = detach(hidden)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        return loss, targets.numel()

    def _per_window(self, model, split: str, measure) -> list:
        """``measure(logits, targets)`` of every BPTT window of ``split`` in order, the state carried
        from one window to the next, in eval mode without grad (the model's mode restored after)."""
        if split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {split!r}")
        streams = self.eval_streams[split]
        was_training = model.training
        model.eval()
        parts = []
        hidden = None
        try:
            with torch.no_grad():
                for start in range(0, streams.shape[1] - 1, self.bptt):
                    stop = min(start + self.bptt, streams.shape[1] - 1)
                    logits, hidden = forward(model, streams[:, start:stop], hidden)
                    parts.append(measure(logits, streams[:, start + 1 : stop + 1]))
        finally:
            model.train(was_training)
        return parts

    def _token_losses(self, model, split: str) -> torch.Tensor:
        """The loss of every target token of ``split``, (streams, length - 1), no grad."""
        return torch.cat(self._per_window(model, split, _losses_per_token), dim=1)

    def evaluate(self, model, split: str) -> dict[str, float]:
        sums = self._per_window(model, split, _loss_sum)
        nll = sum(s for s, _ in sums)  # in window order, as a running total would add them
        count = sum(n for _, n in sums)
        loss = nll / count
        if "bpc" in self.metrics:
            return {"loss": loss, "bpc": loss / math.log(2)}
        # exp overflows past ~709 nats; a diverged (nan) loss stays nan.
        return {"loss": loss, "ppl": math.inf if loss > 709 else math.exp(loss)}

    def evaluate_examples(self, model, split: str) -> dict[str, np.ndarray]:
        """The mean loss of each block of HELDOUT_BLOCK consecutive target tokens of ``split``
        (in text order, stream by stream; a last shorter block is left out, so every block
        weighs the same); one block of all of them when the split is shorter than a block."""
        tokens = self._token_losses(model, split).reshape(-1).double()
        n = len(tokens) // HELDOUT_BLOCK
        blocks = tokens[: n * HELDOUT_BLOCK].view(n, HELDOUT_BLOCK).mean(1) if n else tokens.mean()[None]
        return {"loss": blocks.cpu().numpy()}


def build(dataset: str, kw: dict, *, data_dir, device: torch.device, batch_size: int) -> LanguageModelTask:
    if dataset == "wikitext2":
        files = list(wikitext2_paths(data_dir))
        corpus = word_corpus(*files).capped(kw["train_tokens"], kw["eval_tokens"])
        source = str(files[0].parent)
    elif dataset == "tinyshakespeare":
        path = locate_tinyshakespeare(data_dir, download=kw["download"])
        files = [path]
        source = str(path)
        corpus = char_corpus(read_text(path), path, kw["heldout"], kw["heldout_block"]).capped(
            kw["train_chars"], kw["eval_chars"])
    else:
        files = []
        source = "synthetic-text"
        corpus = synthetic_text(
            n_chars=kw["n_chars"],
            vocab_size=kw["vocab_size"],
            order=kw["order"],
            alpha=kw["alpha"],
            seed=kw["seed"],
        ).capped(kw["train_chars"], kw["eval_chars"])
    return LanguageModelTask(
        dataset=dataset,
        corpus=corpus,
        bptt=kw["bptt"],
        device=device,
        batch_size=batch_size,
        files=files,
        source=source,
    )
