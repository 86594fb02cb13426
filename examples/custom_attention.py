"""A tiny single-layer self-attention whose work is done by tensor ops, not by nn.Linear modules.

The forward uses ``x @ w`` (the q/k/v projection), ``F.scaled_dot_product_attention`` and
``torch.einsum`` (the per-head output projection), so module hooks alone see no MACs here:
only an operator-level counter does. Input ``2,16,32`` (batch, tokens, dim).

MACs for input 2×16×32 (dim 32, 4 heads of 8):
    q/k/v projection  2·16·32·96        =  98,304
    attention         2·4·16·16·8 × 2   =  32,768   (q·kᵀ and weights·v)
    output projection 2·16·4·8·32       =  32,768
    total                               = 163,840 MACs = 327,680 FLOPs

On the meta device ``torch.utils.flop_counter.FlopCounterMode`` sees all 163,840 (attention is
decomposed into ``bmm``); on CPU, torch 2.13 dispatches to
``aten._scaled_dot_product_flash_attention_for_cpu``, which that counter has no formula for, so it
reports 131,072 and the attention is silently missing.

    archinspect flops examples/custom_attention.py:TinyAttention --input 2,16,32 --by op
"""

import torch
import torch.nn.functional as F
from torch import nn


class TinyAttention(nn.Module):
    def __init__(self, dim: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.w_qkv = nn.Parameter(torch.randn(dim, 3 * dim) / dim**0.5)
        self.w_out = nn.Parameter(torch.randn(heads, self.head_dim, dim) / dim**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = x @ self.w_qkv  # (batch, tokens, 3 * dim)
        qkv = qkv.view(batch, tokens, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (batch, heads, tokens, head_dim)
        attended = F.scaled_dot_product_attention(q, k, v)
        return torch.einsum("bhtd,hdo->bto", attended, self.w_out)  # (batch, tokens, dim)
