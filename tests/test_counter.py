"""The operator-level counter: textbook FLOPs for functional code, convolutions as PyTorch counts them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from archinspect.analyses.shapes import inspect
from archinspect.core.counter import OpCost, OpCounter


class HandAttention(nn.Module):
    """Self-attention written with bare tensor ops: ``x @ w``, ``einsum`` and fused attention."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.wq = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.wk = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.wv = nn.Parameter(torch.randn(dim, dim) / dim**0.5)
        self.wo = nn.Parameter(torch.randn(dim, dim) / dim**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q = x @ self.wq
        k = torch.einsum("btc,cd->btd", x, self.wk)
        v = torch.matmul(x, self.wv)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v)
        return y.transpose(1, 2).reshape(b, t, c) @ self.wo


def _count(fn, *args) -> list[OpCost]:
    costs: list[OpCost] = []
    with torch.no_grad(), OpCounter(costs.append):
        fn(*args)
    return costs


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_hand_written_attention_gets_textbook_flops(device: str) -> None:
    b, t, c, heads = 2, 16, 32, 4
    model = HandAttention(c, heads).to(device)
    x = torch.randn(b, t, c, device=device)
    costs = _count(model, x)
    projections = 4 * 2 * b * t * c * c  # q, k, v, out: (b·t × c) by (c × c), 2 FLOPs per MAC
    scores = 2 * b * heads * t * t * (c // heads)  # Q·Kᵀ for every head
    weighted = 2 * b * heads * t * t * (c // heads)  # P·V
    assert projections == 262_144 and scores + weighted == 65_536
    assert 2 * sum(cost.macs for cost in costs) == projections + scores + weighted
    # the first four products are the projections (x @ w, einsum, matmul) on both devices
    assert [2 * cost.macs for cost in costs[:3]] == [projections // 4] * 3
    assert 2 * costs[-1].macs == projections // 4


def test_attention_other_ops_equal_on_cpu_and_meta() -> None:
    """The fused CPU kernel is charged what the meta device's unfused path counts, op for op."""
    totals = {}
    for device in ("cpu", "meta"):
        q = torch.randn(2, 4, 16, 8, device=device)
        k = torch.randn(2, 4, 32, 8, device=device)
        mask = torch.ones(16, 32, dtype=torch.bool, device=device)
        costs = _count(F.scaled_dot_product_attention, q, k, k, mask)
        totals[device] = (sum(c.macs for c in costs), sum(c.other for c in costs))
    scores = 2 * 4 * 16 * 32
    # Q and K scaled (1 op per element), mask added (1 per score), softmax (5 per score)
    assert totals["cpu"] == totals["meta"] == (scores * 16, 2 * 4 * 16 * 8 + 2 * 4 * 32 * 8 + 6 * scores)


def test_custom_module_through_the_engine_same_on_cpu_and_meta() -> None:
    model = HandAttention(32, 4)
    cpu = inspect(model, [(2, 16, 32)], device="cpu")
    meta = inspect(model, [(2, 16, 32)], device="meta")
    assert cpu.totals.flops == meta.totals.flops == 262_144 + 65_536
    assert cpu.totals.other_ops == meta.totals.other_ops
    assert cpu.records[0].macs == cpu.totals.macs  # functional ops charged to the module that ran them


CONVS = [
    nn.Conv2d(8, 16, 3),
    nn.Conv2d(8, 16, 3, stride=2, padding=1),
    nn.Conv2d(8, 16, 5, stride=(2, 1), padding=(2, 0), dilation=(1, 2)),
    nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4),
    nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
    nn.Conv2d(8, 16, (1, 7), padding=(0, 3), bias=False),
    nn.Conv1d(8, 12, 3, stride=2),
    nn.Conv3d(4, 8, 3, padding=1, groups=2),
    nn.ConvTranspose2d(8, 16, 4, stride=2, padding=1),
    nn.ConvTranspose2d(8, 16, 3, stride=2, padding=1, output_padding=1, groups=2),
    nn.ConvTranspose2d(8, 4, 3, stride=3, dilation=2),
    nn.ConvTranspose1d(8, 4, 5, stride=2),
]


@pytest.mark.parametrize("conv", CONVS, ids=lambda m: repr(m).replace(" ", ""))
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_convolutions_match_flop_counter_mode(conv: nn.Module, device: str) -> None:
    nd = conv.weight.dim() - 2
    x = torch.randn(2, conv.in_channels, *([9, 11, 6][:nd] if nd < 3 else [5, 6, 7]), device=device)
    conv = conv.to(device)
    with torch.no_grad(), FlopCounterMode(display=False) as reference:
        costs = _count(conv, x)
    assert len(costs) == 1 and costs[0].category == "conv"
    assert 2 * costs[0].macs == reference.get_total_flops() > 0


def test_conv_textbook_numbers() -> None:
    # groups=4: each output channel sees 8/4 input channels; 16 × 2 × 3 × 3 weights at 7 × 9 outputs
    (cost,) = _count(nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4), torch.randn(1, 8, 7, 9))
    assert cost.macs == 16 * 2 * 9 * 7 * 9
    # transposed: every input position scatters a Cin × Cout/g × k × k block; bias is not a MAC
    (cost,) = _count(nn.ConvTranspose2d(8, 16, 4, stride=2), torch.randn(3, 8, 5, 5))
    assert cost.macs == 3 * 8 * 16 * 16 * 25


def test_linear_family() -> None:
    x, w = torch.randn(6, 10), torch.randn(10, 4)
    assert [c.macs for c in _count(nn.Linear(10, 4), x)] == [240]  # addmm
    assert [c.macs for c in _count(nn.Linear(10, 4, bias=False), torch.randn(2, 3, 10))] == [240]
    assert sum(c.macs for c in _count(torch.bmm, torch.randn(5, 6, 10), torch.randn(5, 10, 4))) == 1200
    assert sum(c.macs for c in _count(torch.einsum, "ij,jk->ik", x, w)) == 240
    assert sum(c.macs for c in _count(torch.mv, x, torch.randn(10))) == 60


def test_other_ops_are_named_and_separate() -> None:
    x = torch.randn(2, 8, 6, 6)
    bn = nn.BatchNorm2d(8).eval()
    costs = _count(lambda: (bn(x), F.relu(x), x + x, F.max_pool2d(x, 2), F.adaptive_avg_pool2d(x, 1)))
    assert [(c.op, c.category, c.macs, c.other) for c in costs] == [
        ("native_batch_norm", "norm", 0, 2 * 576),  # eval: scale and shift
        ("relu", "activation", 0, 576),
        ("add", "elementwise", 0, 576),
        ("max_pool2d_with_indices", "pool", 0, 144 * 4),  # 2×2 window per output
        ("adaptive_avg_pool2d", "pool", 0, 576),
    ]
    softmax = _count(lambda: torch.softmax(x, 1))
    upsample = _count(lambda: F.interpolate(x, scale_factor=2, mode="bilinear"))
    assert [(c.category, c.other) for c in softmax + upsample] == [("softmax", 5 * 576), ("upsample", 4 * 2304)]


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(x, x, x, need_weights=False)[0]


# batch 2, 10 tokens, width 64, 4 heads: in-projection 3·(20·64·64), attention 2·(2·4·10·10·16),
# out-projection 20·64·64 MACs; a TransformerEncoderLayer adds its 64→128→64 feed-forward
MHA_MACS = 3 * 20 * 64 * 64 + 2 * 2 * 4 * 10 * 10 * 16 + 20 * 64 * 64
LAYER_MACS = MHA_MACS + 2 * 20 * 64 * 128


@pytest.mark.parametrize(
    ("model", "macs"),
    [(SelfAttention(), MHA_MACS), (nn.TransformerEncoderLayer(64, 4, 128, batch_first=True), LAYER_MACS)],
    ids=["MultiheadAttention", "TransformerEncoderLayer"],
)
def test_attention_blocks_same_on_cpu_fast_path_and_meta(model: nn.Module, macs: int) -> None:
    """On CPU in eval, PyTorch runs these as one fused kernel (_native_multi_head_attention)."""
    cpu = inspect(model.eval(), [(2, 10, 64)], device="cpu")
    meta = inspect(model, [(2, 10, 64)], device="meta")
    assert "_native_multi_head_attention" in cpu.ops
    assert cpu.totals.macs == meta.totals.macs == macs
    assert cpu.totals.other_ops == meta.totals.other_ops


def test_fused_encoder_layer_kernel() -> None:
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True).eval()
    a = layer.self_attn
    weights = (a.in_proj_weight, a.in_proj_bias, a.out_proj.weight, a.out_proj.bias)
    norms = (layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias)
    ffn = (layer.linear1.weight, layer.linear1.bias, layer.linear2.weight, layer.linear2.bias)
    x = torch.randn(2, 10, 64)
    (cost,) = _count(torch._transformer_encoder_layer_fwd, x, 64, 4, *weights, False, False, 1e-5, *norms, *ffn)
    meta = inspect(layer, [(2, 10, 64)], device="meta")
    assert (cost.macs, cost.other) == (LAYER_MACS, meta.totals.other_ops)
