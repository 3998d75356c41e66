"""Word/char language model after pytorch/examples word_language_model (LSTM variant)."""

from __future__ import annotations

import torch
from torch import nn

Hidden = tuple[torch.Tensor, torch.Tensor]


class LSTMLanguageModel(nn.Module):
    """embedding -> dropout -> LSTM -> dropout -> linear decoder; batch-first (B, T) token ids.

    forward(x, hidden) returns (logits (B, T, vocab), hidden) so the caller can carry the state
    across consecutive BPTT windows.
    """

    def __init__(
        self,
        vocab_size: int,
        emb: int = 128,
        hidden: int = 256,
        layers: int = 2,
        dropout: float = 0.2,
        tie_weights: bool = False,
    ):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(vocab_size, emb)
        # nn.LSTM only applies dropout between layers and warns when there is just one.
        self.rnn = nn.LSTM(emb, hidden, layers, dropout=dropout if layers > 1 else 0.0, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab_size)
        if tie_weights:
            if emb != hidden:
                raise ValueError("tie_weights needs emb == hidden")
            self.decoder.weight = self.encoder.weight
        # Same small uniform init as pytorch/examples; the LSTM keeps PyTorch's default.
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        if not tie_weights:
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, x: torch.Tensor, hidden: Hidden | None = None) -> tuple[torch.Tensor, Hidden]:
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden
