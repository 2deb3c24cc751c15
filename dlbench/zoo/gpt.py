"""GPT-style decoders: token and position embeddings, pre-norm blocks of causal self-attention and a
GELU MLP, each around a residual, a final LayerNorm and an output head tied to the token embedding.

``gpt2``: GPT-2 small (Radford et al., 2019), as Hugging Face's ``GPT2LMHeadModel`` builds it: 12
layers of width 768 with 12 heads, context 1024, vocabulary 50,257, the tanh approximation of GELU,
dropout 0.1; 124,439,808 parameters with the tied embeddings.

``gpt_char``: a character-level decoder in the style of nanoGPT's shakespeare-char, at the size its
README trains on a laptop CPU ("baby GPT": 4 layers of width 128, 4 heads, context 64, no dropout),
so that an epoch of the shipped Shakespeare takes minutes, not hours, on a 2-core machine.
"""

from __future__ import annotations

import math

from dlbench.graph import (
    Activation, Add, Dense, Dropout, Graph, GraphBuilder, LayerNorm, MultiHeadAttention, PositionEmbedding,
    TiedDense, TokenEmbedding,
)


def _block(b: GraphBuilder, x: str, width: int, heads: int, depth: int, gelu: str, dropout: float) -> str:
    """x + attention(ln(x)), then x + mlp(ln(x)); the residual projections start smaller, std
    0.02 / sqrt(2 x depth), as GPT-2 initialises them."""
    residual_init = f"normal_{0.02 / math.sqrt(2 * depth):.6g}"
    y = b(LayerNorm(), x)
    y = b(MultiHeadAttention(heads, causal=True, dropout=dropout, kernel_init="normal_0.02", out_init=residual_init), y)
    x = b(Add(), x, b(Dropout(dropout), y))
    y = b(LayerNorm(), x)
    y = b.chain(y, Dense(4 * width, kernel_init="normal_0.02"), Activation(gelu),
                Dense(width, kernel_init=residual_init), Dropout(dropout))
    return b(Add(), x, y)


def build_gpt(name: str, input_shape, vocab: int, *, context: int, width: int, depth: int, heads: int,
              gelu: str, dropout: float) -> Graph:
    b = GraphBuilder(name, input_shape)
    x = b(TokenEmbedding(vocab, width), b.input, name="wte")
    x = b.chain(x, PositionEmbedding(context), Dropout(dropout))
    for _ in range(depth):
        x = _block(b, x, width, heads, depth, gelu, dropout)
    x = b(LayerNorm(), x)
    b(TiedDense("wte", vocab), x, name="lm_head")
    return b.build(vocab)


GPT2 = dict(context=1024, width=768, depth=12, heads=12, gelu="gelu_tanh", dropout=0.1)
GPT2_VOCAB = 50_257
GPT_CHAR = dict(context=64, width=128, depth=4, heads=4, gelu="gelu", dropout=0.0)


def gpt2(input_shape, vocab: int) -> Graph:
    return build_gpt("gpt2", input_shape, vocab, **GPT2)


def gpt_char(input_shape, vocab: int) -> Graph:
    return build_gpt("gpt_char", input_shape, vocab, **GPT_CHAR)
