"""Multi-head self-attention as PyTorch runs it fastest: one fused projection to [q | k | v], then
``F.scaled_dot_product_attention`` on (N, H, T, hd), which dispatches to a fused kernel (flash
attention on the CPU and, on CUDA, flash, memory-efficient or cuDNN attention) where its inputs allow
and to the plain matmul-softmax-matmul otherwise (on the CPU: with dropout).

The canonical ``qkv_kernel`` (D, 3·H·hd) is [q | k | v], each head-major: the projection's output
split in three along its last axis, each part viewed as (N, T, H, hd), is exactly that split, so
loading is a transpose into ``nn.Linear``'s (out, in) and nothing else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dlbench.graph import MultiHeadAttention

#: canonical parameter -> (this module's tensor, whether torch keeps it transposed)
PARAMS = {"qkv_kernel": ("qkv.weight", True), "qkv_bias": ("qkv.bias", False),
          "out_kernel": ("out.weight", True), "out_bias": ("out.bias", False)}


class SelfAttention(nn.Module):
    def __init__(self, layer: MultiHeadAttention, width: int, head_size: int):
        super().__init__()
        inner = layer.heads * head_size
        self.qkv = nn.Linear(width, 3 * inner, bias=layer.use_bias)
        self.out = nn.Linear(inner, width, bias=layer.use_bias)
        self.heads, self.head_size, self.causal, self.dropout = layer.heads, head_size, layer.causal, layer.dropout

    def forward(self, x):
        n, t, _ = x.shape
        # split, not unbind: the backward pass concatenates the three gradients straight into the
        # projection's (N, T, 3·H·hd) layout, where unbind's would stack and then copy them
        q, k, v = (a.view(n, t, self.heads, self.head_size).transpose(1, 2)
                   for a in self.qkv(x).split(self.heads * self.head_size, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0,
                                           is_causal=self.causal)  # scale: 1 / sqrt(hd), the default
        return self.out(y.transpose(1, 2).reshape(n, t, -1))


def flop_formulas() -> dict:
    """FLOP formulas of the CPU's flash-attention kernels, which ``torch.utils.flop_counter`` lacks
    (it has CUDA's): its own count for attention, forward and backward, as on CUDA."""
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten
    return {aten._scaled_dot_product_flash_attention_for_cpu:
            lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(q, k, v),
            aten._scaled_dot_product_flash_attention_for_cpu_backward:
            lambda grad, q, k, v, *_, out_shape=None, **__: sdpa_backward_flop_count(grad, q, k, v)}
