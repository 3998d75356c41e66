"""Plain-PyTorch text corpora (after pytorch/examples word_language_model): vocab, ids, splits.

Token ids stay on the CPU here; the language-model task batchifies them onto its device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from annealbench.errors import DataError

EOS = "<eos>"
UNK = "<unk>"
MIN_TOKENS = 100  # below this a corpus cannot give train, val and test windows worth scoring


@dataclass
class TokenSplits:
    train: torch.Tensor  # (n,) int64
    val: torch.Tensor
    test: torch.Tensor
    vocab: list[str]
    level: str  # "char" | "word"

    def capped(self, train: int | None, evaluation: int | None) -> TokenSplits:
        """The first `train` training tokens and first `evaluation` val/test tokens (None = all)."""
        return TokenSplits(
            self.train[:train], self.val[:evaluation], self.test[:evaluation], self.vocab, self.level
        )


def split_90_5_5(ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First 90% train; the held-out last 10% is halved: val first, then test."""
    n_train = int(len(ids) * 0.9)
    n_val = (len(ids) - n_train) // 2
    return ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :]


HELDOUT_LAYOUTS = ("tail", "spread")
SPREAD_PERIOD = 20  # blocks per period: 18 train, then 1 validation, then 1 test (90/5/5)


def split_spread(ids: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """90/5/5 by blocks of ``block`` tokens spread through the text: of every 20 consecutive
    blocks the 19th is validation and the 20th test, the rest (and a last partial period)
    training, concatenated in order. Held-out text from every part of the corpus instead of its
    end, so the verdict does not rest on one stretch (one play's last acts)."""
    period = block * SPREAD_PERIOD
    n = len(ids) // period
    body = ids[: n * period].view(n, SPREAD_PERIOD, block)
    train = torch.cat([body[:, : SPREAD_PERIOD - 2].reshape(-1), ids[n * period:]])
    return train, body[:, SPREAD_PERIOD - 2].reshape(-1), body[:, SPREAD_PERIOD - 1].reshape(-1)


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from exc


def char_corpus(text: str, source: Path | str, heldout: str = "tail", block: int = 1024) -> TokenSplits:
    """Char-level ids over the sorted distinct characters of the whole text, split 90/5/5: the
    last 10% held out (``heldout="tail"``) or blocks spread through it (split_spread)."""
    if len(text) < MIN_TOKENS or len(set(text)) < 2:
        raise DataError(
            f"{source}: corpus has {len(text)} characters ({len(set(text))} distinct); "
            f"expected a text of at least {MIN_TOKENS} characters"
        )
    # Code points via UTF-32 keep the mapping vectorised (1.1M chars in milliseconds).
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    alphabet = np.unique(points)
    ids = torch.from_numpy(np.searchsorted(alphabet, points).astype(np.int64))
    vocab = [chr(p) for p in alphabet]
    if heldout == "spread":
        if len(ids) < block * SPREAD_PERIOD:
            raise DataError(f"{source}: {len(ids)} characters, fewer than one period of "
                            f"{SPREAD_PERIOD} blocks of heldout_block = {block}; use a smaller one")
        return TokenSplits(*split_spread(ids, block), vocab=vocab, level="char")
    return TokenSplits(*split_90_5_5(ids), vocab=vocab, level="char")


def _words(text: str) -> list[str]:
    # As pytorch/examples: whitespace tokens and an end-of-sentence marker per line.
    words: list[str] = []
    for line in text.splitlines():
        words += line.split()
        words.append(EOS)
    return words


def word_corpus(train: Path, valid: Path, test: Path) -> TokenSplits:
    """Word-level ids; vocab from the training file only, unseen val/test words become <unk>."""
    split_words = [_words(read_text(p)) for p in (train, valid, test)]
    for path, words in zip((train, valid, test), split_words, strict=True):
        if len(words) - words.count(EOS) == 0:
            raise DataError(f"{path}: no words; expected a non-empty text file")
    if len(split_words[0]) < MIN_TOKENS:
        raise DataError(f"{train}: {len(split_words[0])} tokens; expected at least {MIN_TOKENS}")
    vocab = list(dict.fromkeys([UNK, EOS, *split_words[0]]))
    index = {word: i for i, word in enumerate(vocab)}
    unk = index[UNK]
    ids = [torch.tensor([index.get(w, unk) for w in words], dtype=torch.int64) for words in split_words]
    return TokenSplits(*ids, vocab=vocab, level="word")
