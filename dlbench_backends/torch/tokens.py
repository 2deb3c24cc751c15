"""The token layers as torch modules: sequences are (N, T, D), in the canonical layout already, so the
weights load as they are. A ``TokenEmbedding`` is ``nn.Embedding`` itself; its output head
(``TiedDense``) holds the very same ``Parameter``, as Hugging Face ties GPT-2's ``lm_head`` to
``wte``: ``parameters()`` yields it once, so the optimiser updates one tensor with the gradients of
both uses summed, and the parameter count is the declaration's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PositionEmbedding(nn.Module):
    def __init__(self, max_len: int, width: int):
        super().__init__()
        self.embedding = nn.Parameter(torch.empty(max_len, width))

    def forward(self, x):
        return x + self.embedding[: x.shape[1]]


class ClassToken(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.token = nn.Parameter(torch.empty(width))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], 1, -1), x], dim=1)


class TokenPool(nn.Module):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x):
        return x[:, 0] if self.mode == "class" else x.mean(dim=1)


class TiedDense(nn.Module):
    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        self.weight = embedding.weight  # the same Parameter, not a copy

    def forward(self, x):
        return F.linear(x, self.weight)
