"""What one ATen operator costs: the formulas the counter (:mod:`archinspect.core.counter`) applies.

Convention (PyTorch's ``torch.utils.flop_counter``): a multiply–accumulate (MAC) is 2 FLOPs, and only
convolution, matrix products and attention are counted as MACs. Everything else that does arithmetic
(normalisation, pooling, activations, elementwise, softmax, reductions, upsampling) is counted
separately as "other ops", one operation per element touched, with the per-element costs in
``OTHER_OP_COST`` below.

Every operator that runs is one of three kinds: *counted* (a formula here, or one registered with
:func:`register_op_cost`), *free* (``FREE_OPS``: views and metadata, copies and indexing, padding,
factories and random fills — data movement, no arithmetic) or *uncounted* (no formula: reports name
them with their call counts, never a silent zero).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch

from archinspect.core.tensors import first_tensor, named_args
from archinspect.errors import typed_errors

aten = torch.ops.aten


@dataclass(frozen=True)
class OpCost:
    """The cost of one operator call: MACs (conv/matmul/attention) and other arithmetic ops."""

    op: str  # short ATen name, e.g. "convolution", "addmm", "native_batch_norm"
    category: str  # "conv", "matmul", "attention", "norm", "pool", "activation", "elementwise", ...
    macs: int = 0
    other: int = 0


def _shape(t: Any) -> tuple[int, ...]:
    return tuple(t.shape)


def _conv_macs(args: Sequence[Any], out: Any) -> int:
    x, w = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else False
    # Every weight element meets every spatial position once per sample. For a normal conv the positions
    # are the output's; for a transposed conv they are the input's (weight shape [Cin, Cout/g, k...]).
    spatial = _shape(x)[2:] if transposed else _shape(out)[2:]
    return _shape(x)[0] * prod(_shape(w)) * prod(spatial)


def _mm_macs(a: Any, b: Any) -> int:
    n, k = _shape(a)
    return n * k * _shape(b)[-1]


def _bmm_macs(a: Any, b: Any) -> int:
    bsz, n, k = _shape(a)
    return bsz * n * k * _shape(b)[-1]


def _attention_macs(q: Any, k: Any, v: Any) -> int:
    # Q·Kᵀ: (Lq × d) by (d × Lk), then P·V: (Lq × Lk) by (Lk × dv), for every batch × head.
    *lead, lq, d = _shape(q)
    lk, dv = _shape(k)[-2], _shape(v)[-1]
    return prod(lead) * lq * lk * (d + dv)


# Fused attention kernels whose tensors are laid out (batch, seq, heads, dim) rather than (batch, heads, seq, dim).
_SEQ_FIRST_ATTENTION = {"_flash_attention_forward", "_efficient_attention_forward"}


def _attention_cost(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, int]:
    """(MACs, other ops) of one fused scaled-dot-product attention call.

    Other ops are what the unfused (math) path does around its two matrix products, which is what runs
    on devices without a fused kernel (meta, and CPU for some shapes): scale Q and K (one op per element
    each), add the mask or causal bias when there is one, softmax the scores (5 per score). Charging a
    fused call the same keeps CPU and meta reports identical.
    """
    q, k, v = args[0], args[1], args[2]
    if func.overloadpacket.__name__ in _SEQ_FIRST_ATTENTION:
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    macs = _attention_macs(q, k, v)
    *lead, lq, _ = _shape(q)
    scores = prod(lead) * lq * _shape(k)[-2]
    named = named_args(func, args, kwargs)
    masked = named.get("is_causal") is True or any(
        isinstance(named.get(key), torch.Tensor) for key in ("attn_mask", "attn_bias", "bias")
    )
    other = _numel(q) + _numel(k) + 5 * scores + (scores if masked else 0)
    return macs, other


def _numel(t: Any) -> int:
    return t.numel() if isinstance(t, torch.Tensor) else 0


_MATMUL_OPS: dict[Any, tuple[str, Callable[[Sequence[Any], Any], int]]] = {
    aten.mm: ("matmul", lambda a, o: _mm_macs(a[0], a[1])),
    aten.addmm: ("matmul", lambda a, o: _mm_macs(a[1], a[2])),
    aten.bmm: ("matmul", lambda a, o: _bmm_macs(a[0], a[1])),
    aten.baddbmm: ("matmul", lambda a, o: _bmm_macs(a[1], a[2])),
    aten.addbmm: ("matmul", lambda a, o: _bmm_macs(a[1], a[2])),  # the bmm, summed over the batch
    aten.mv: ("matmul", lambda a, o: prod(_shape(a[0]))),
    aten.addmv: ("matmul", lambda a, o: prod(_shape(a[1]))),
    aten.dot: ("matmul", lambda a, o: _numel(a[0])),
    aten.convolution: ("conv", _conv_macs),
    aten._convolution: ("conv", _conv_macs),
}
if hasattr(aten, "_scaled_mm"):  # FP8 matmul (a @ b with per-tensor or row-wise scales): a matmul like mm
    _MATMUL_OPS[aten._scaled_mm] = ("matmul", lambda a, o: _mm_macs(a[0], a[1]))

_ATTENTION_OPS = [
    "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_flash_attention_forward",
    "_efficient_attention_forward",
]
_ATTENTION = {getattr(aten, name) for name in _ATTENTION_OPS if hasattr(aten, name)}


def _mha_cost(named: dict[str, Any], query: Any, key: Any) -> tuple[int, int]:
    """(MACs, other ops) of a whole multi-head attention block: in-projection, attention, out-projection.

    Other ops are those of the unfused path (``F.multi_head_attention_forward``) that meta runs: the
    in-projection bias where it is not fused, Q and K scaling, mask, softmax; the out-projection bias is
    fused into its addmm. The same figures on every device: the fused kernel is charged what meta counts.
    """
    *lead, lq, e = _shape(query)
    lk = _shape(key)[-2]
    batch = prod(lead)
    heads = int(named["num_head"] if "num_head" in named else named["num_heads"])
    scores = batch * heads * lq * lk
    macs = batch * (lq + 2 * lk) * e * e + 2 * scores * (e // heads) + batch * lq * e * e
    # The unfused path projects (L, B, E) = query.transpose(0, 1): contiguous when B or L is 1, and then
    # its bias is fused into an addmm (free); otherwise linear is a matmul plus a bias add (one op each).
    bias = 0
    if isinstance(named.get("qkv_bias"), torch.Tensor):
        bias = sum(batch * n * e for n in (lq, lk, lk) if batch > 1 and n > 1)
    masked = isinstance(named.get("mask"), torch.Tensor)
    other = bias + batch * (lq + lk) * e + 5 * scores + (scores if masked else 0)
    return macs, other


def _fused_block_cost(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, int]:
    """The CPU/CUDA fast paths of nn.MultiheadAttention and nn.TransformerEncoderLayer in eval mode."""
    named = named_args(func, args, kwargs)
    if func.overloadpacket.__name__ == "_native_multi_head_attention":
        return _mha_cost(named, named["query"], named["key"])
    src = named["src"]
    macs, other = _mha_cost(named, src, src)
    tokens, e = _numel(src) // _shape(src)[-1], _shape(src)[-1]
    hidden = _shape(named["ffn_weight_1"])[0]
    macs += 2 * tokens * e * hidden
    other += 2 * 5 * tokens * e + 2 * tokens * e + tokens * hidden  # two layer norms, two residuals, activation
    return macs, other


_FUSED_BLOCKS = {
    getattr(aten, name)
    for name in ("_native_multi_head_attention", "_transformer_encoder_layer_fwd")
    if hasattr(aten, name)
}

# Other ops: (category, cost per element, which elements: "out" or "in").
OTHER_OP_COST: dict[str, tuple[str, int, str]] = {
    # normalisation: per input element; eval BatchNorm is a scale and a shift (2), see _norm_cost
    "native_batch_norm": ("norm", 2, "in"),
    "_native_batch_norm_legit": ("norm", 2, "in"),
    "_native_batch_norm_legit_no_training": ("norm", 2, "in"),
    "_native_batch_norm_legit_functional": ("norm", 2, "in"),
    "cudnn_batch_norm": ("norm", 2, "in"),
    "miopen_batch_norm": ("norm", 2, "in"),
    "native_layer_norm": ("norm", 5, "in"),
    "native_group_norm": ("norm", 5, "in"),
    # pooling: adaptive pools read each input element once; windowed pools are costed in _pool_cost
    "_adaptive_avg_pool2d": ("pool", 1, "in"),
    "_adaptive_avg_pool3d": ("pool", 1, "in"),
    "adaptive_avg_pool1d": ("pool", 1, "in"),
    "adaptive_max_pool2d": ("pool", 1, "in"),
    "adaptive_max_pool3d": ("pool", 1, "in"),
    "adaptive_max_pool1d": ("pool", 1, "in"),
    # activations: one op per output element
    "relu": ("activation", 1, "out"),
    "relu_": ("activation", 1, "out"),
    "threshold": ("activation", 1, "out"),
    "sigmoid": ("activation", 1, "out"),
    "sigmoid_": ("activation", 1, "out"),
    "tanh": ("activation", 1, "out"),
    "gelu": ("activation", 1, "out"),
    "silu": ("activation", 1, "out"),
    "silu_": ("activation", 1, "out"),
    "hardtanh": ("activation", 1, "out"),
    "hardtanh_": ("activation", 1, "out"),
    "hardswish": ("activation", 1, "out"),
    "hardsigmoid": ("activation", 1, "out"),
    "leaky_relu": ("activation", 1, "out"),
    "leaky_relu_": ("activation", 1, "out"),
    "elu": ("activation", 1, "out"),
    "clamp": ("activation", 1, "out"),
    "clamp_min": ("activation", 1, "out"),
    "clamp_min_": ("activation", 1, "out"),
    "clamp_": ("activation", 1, "out"),
    "clamp_max": ("activation", 1, "out"),
    "clamp_max_": ("activation", 1, "out"),
    "tanh_": ("activation", 1, "out"),
    "gelu_": ("activation", 1, "out"),
    "hardswish_": ("activation", 1, "out"),
    "hardsigmoid_": ("activation", 1, "out"),
    "elu_": ("activation", 1, "out"),
    "mish": ("activation", 1, "out"),
    "mish_": ("activation", 1, "out"),
    "softplus": ("activation", 1, "out"),
    "log_sigmoid_forward": ("activation", 1, "out"),
    "_prelu_kernel": ("activation", 1, "out"),
    "glu": ("activation", 1, "out"),
    # elementwise arithmetic: one op per output element
    "add": ("elementwise", 1, "out"),
    "add_": ("elementwise", 1, "out"),
    "sub": ("elementwise", 1, "out"),
    "sub_": ("elementwise", 1, "out"),
    "mul": ("elementwise", 1, "out"),
    "mul_": ("elementwise", 1, "out"),
    "div": ("elementwise", 1, "out"),
    "div_": ("elementwise", 1, "out"),
    "rsub": ("elementwise", 1, "out"),
    "neg": ("elementwise", 1, "out"),
    "exp": ("elementwise", 1, "out"),
    "sqrt": ("elementwise", 1, "out"),
    "rsqrt": ("elementwise", 1, "out"),
    "pow": ("elementwise", 1, "out"),
    "addcmul": ("elementwise", 2, "out"),
    "addcdiv": ("elementwise", 2, "out"),
    "lerp": ("elementwise", 2, "out"),
    "exp_": ("elementwise", 1, "out"),
    "sqrt_": ("elementwise", 1, "out"),
    "rsqrt_": ("elementwise", 1, "out"),
    "neg_": ("elementwise", 1, "out"),
    "pow_": ("elementwise", 1, "out"),
    "abs": ("elementwise", 1, "out"),
    "log": ("elementwise", 1, "out"),
    "erf": ("elementwise", 1, "out"),
    "reciprocal": ("elementwise", 1, "out"),
    "square": ("elementwise", 1, "out"),
    "maximum": ("elementwise", 1, "out"),
    "minimum": ("elementwise", 1, "out"),
    "sin": ("elementwise", 1, "out"),
    "cos": ("elementwise", 1, "out"),
    "tan": ("elementwise", 1, "out"),
    "atan": ("elementwise", 1, "out"),
    "atan2": ("elementwise", 1, "out"),
    "sinh": ("elementwise", 1, "out"),
    "cosh": ("elementwise", 1, "out"),
    "log1p": ("elementwise", 1, "out"),
    "expm1": ("elementwise", 1, "out"),
    "log2": ("elementwise", 1, "out"),
    "log10": ("elementwise", 1, "out"),
    "exp2": ("elementwise", 1, "out"),
    "sign": ("elementwise", 1, "out"),
    "sgn": ("elementwise", 1, "out"),
    "floor": ("elementwise", 1, "out"),
    "ceil": ("elementwise", 1, "out"),
    "round": ("elementwise", 1, "out"),
    "trunc": ("elementwise", 1, "out"),
    "frac": ("elementwise", 1, "out"),
    "remainder": ("elementwise", 1, "out"),
    "fmod": ("elementwise", 1, "out"),
    "floor_divide": ("elementwise", 1, "out"),
    "xlogy": ("elementwise", 2, "out"),
    "logaddexp": ("elementwise", 4, "out"),  # max, |a - b|, exp, log1p (+ add): as torch computes it
    "logaddexp2": ("elementwise", 4, "out"),
    "hypot": ("elementwise", 3, "out"),
    "eq": ("elementwise", 1, "out"),
    "ne": ("elementwise", 1, "out"),
    "lt": ("elementwise", 1, "out"),
    "le": ("elementwise", 1, "out"),
    "gt": ("elementwise", 1, "out"),
    "ge": ("elementwise", 1, "out"),
    "logical_and": ("elementwise", 1, "out"),
    "logical_or": ("elementwise", 1, "out"),
    "logical_not": ("elementwise", 1, "out"),
    "logical_xor": ("elementwise", 1, "out"),
    "bitwise_and": ("elementwise", 1, "out"),
    "bitwise_or": ("elementwise", 1, "out"),
    "bitwise_not": ("elementwise", 1, "out"),
    "bitwise_xor": ("elementwise", 1, "out"),
    "isnan": ("elementwise", 1, "out"),
    "native_dropout": ("elementwise", 2, "in"),  # a mask draw and a scaled multiply (train mode)
    "softshrink": ("activation", 1, "out"),
    "hardshrink": ("activation", 1, "out"),
    "celu": ("activation", 1, "out"),
    "selu": ("activation", 1, "out"),
    "rrelu_with_noise": ("activation", 1, "out"),
    "logit": ("activation", 1, "out"),
    # cumulative (scan) ops: one op per element; logcumsumexp as logaddexp per element
    "cumsum": ("scan", 1, "out"),
    "cumsum_": ("scan", 1, "out"),
    "cumprod": ("scan", 1, "out"),
    "cummax": ("scan", 1, "in"),
    "cummin": ("scan", 1, "in"),
    "logcumsumexp": ("scan", 4, "out"),
    # softmax: max, subtract, exp, sum, divide
    "_softmax": ("softmax", 5, "in"),
    "_safe_softmax": ("softmax", 5, "in"),
    "_log_softmax": ("softmax", 5, "in"),
    # reductions: one op per input element
    "mean": ("reduction", 1, "in"),
    "sum": ("reduction", 1, "in"),
    "amax": ("reduction", 1, "in"),
    "max": ("reduction", 1, "in"),
    "var": ("reduction", 2, "in"),
    "std": ("reduction", 2, "in"),
    "var_mean": ("reduction", 2, "in"),
    "logsumexp": ("reduction", 3, "in"),
    "prod": ("reduction", 1, "in"),
    "min": ("reduction", 1, "in"),
    "amin": ("reduction", 1, "in"),
    "aminmax": ("reduction", 2, "in"),
    "argmax": ("reduction", 1, "in"),
    "argmin": ("reduction", 1, "in"),
    "any": ("reduction", 1, "in"),
    "all": ("reduction", 1, "in"),
    "std_mean": ("reduction", 2, "in"),
    "norm": ("reduction", 2, "in"),
    "nansum": ("reduction", 1, "in"),
    "_fused_rms_norm": ("norm", 4, "in"),
    "mse_loss": ("reduction", 3, "in"),
    "nll_loss_forward": ("reduction", 1, "out"),
    "nll_loss2d_forward": ("reduction", 1, "out"),
    "grid_sampler_2d": ("upsample", 4, "out"),
    "grid_sampler_3d": ("upsample", 8, "out"),
    "linalg_vector_norm": ("reduction", 2, "in"),
    # upsampling (as fvcore): nearest copies, bilinear interpolates from 4 neighbours
    "upsample_nearest1d": ("upsample", 1, "out"),
    "upsample_nearest2d": ("upsample", 1, "out"),
    "upsample_nearest3d": ("upsample", 1, "out"),
    "upsample_bilinear2d": ("upsample", 4, "out"),
    "_upsample_bilinear2d_aa": ("upsample", 4, "out"),
    "upsample_bicubic2d": ("upsample", 16, "out"),
    "_upsample_bicubic2d_aa": ("upsample", 16, "out"),
    "_upsample_nearest_exact1d": ("upsample", 1, "out"),
    "_upsample_nearest_exact2d": ("upsample", 1, "out"),
    "_upsample_nearest_exact3d": ("upsample", 1, "out"),
    "upsample_linear1d": ("upsample", 2, "out"),
    "upsample_trilinear3d": ("upsample", 8, "out"),
}

# Kernels that are the same operation as a public name a reader knows; tallied under that name.
_SAME_AS = {"_adaptive_avg_pool2d": "adaptive_avg_pool2d", "_adaptive_avg_pool3d": "adaptive_avg_pool3d"}

_WINDOW_POOLS = {
    "max_pool2d_with_indices": 2,
    "max_pool3d_with_indices": 3,
    "avg_pool2d": 2,
    "avg_pool3d": 2,
    "max_pool2d": 2,
    "_mkldnn_max_pool2d": 2,
    "avg_pool1d": 1,
    "max_pool1d": 1,
}


def _window_pool_cost(name: str, args: Sequence[Any], out: Any) -> int:
    nd = 3 if name.endswith("3d") else (1 if name.endswith("1d") else 2)
    kernel = args[1] if len(args) > 1 else 1
    if isinstance(kernel, int):
        kernel = [kernel] * nd
    if len(kernel) == 1:
        kernel = list(kernel) * nd
    return _numel(first_tensor(out)) * prod(kernel)


# Operators that move or describe data without arithmetic. Named by their overload packet; an in-place
# variant (``fill_``) and a functional one are both listed where both run.
def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FREE_OPS: dict[str, tuple[str, ...]] = {
    "view or metadata": _names(
        "view _unsafe_view reshape _reshape_alias as_strided permute transpose t expand squeeze unsqueeze "
        "slice select split split_with_sizes chunk unbind narrow unsafe_split unsafe_chunk "
        "unsafe_split_with_sizes detach alias lift_fresh view_as_real view_as_complex unfold diagonal movedim "
        "flatten unflatten squeeze_ unsqueeze_ transpose_ t_ _local_scalar_dense sym_size sym_stride "
        "sym_numel sym_storage_offset is_same_size _assert_async _assert_scalar "
        "_nested_tensor_from_mask_left_aligned set_ resize_ _has_compatible_shallow_copy_type _to_dense "
        "_unsafe_index_put equal is_nonzero _nnz detach_ as_strided_ _unsafe_view_copy "
        "_functional_assert_async _make_dep_token _is_all_true _is_any_true"
    ),
    "copy": _names(
        "_to_copy copy_ clone cat stack index index_select gather scatter scatter_ index_put index_put_ "
        "index_copy masked_select take nonzero roll flip repeat tile repeat_interleave embedding "
        "_unsafe_index constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d "
        "replication_pad2d replication_pad3d pixel_shuffle pixel_unshuffle channel_shuffle "
        "native_channel_shuffle lift_fresh_copy _pin_memory contiguous tril triu col2im im2col masked_scatter "
        "slice_scatter select_scatter diagonal_scatter as_strided_scatter unique_dim _unique2 sort topk "
        "searchsorted bucketize one_hot argsort zero_ fill_ fill _foreach_copy_ polar complex unfold_copy "
        "where masked_fill masked_fill_ view_copy _copy_from _copy_from_and_resize"
    ),  # copies, indexing, selection (where, masked_fill), padding, sorting
    "factory": _names(
        "empty empty_like empty_strided zeros zeros_like ones ones_like full full_like new_empty new_zeros "
        "new_ones new_full new_empty_strided arange linspace logspace scalar_tensor eye tensor "
        "_efficientzerotensor rand randn randint rand_like randn_like randint_like randperm normal normal_ "
        "uniform_ bernoulli bernoulli_ exponential_ random_ multinomial "
        "_sparse_coo_tensor_with_dims_and_tensors"
    ),
}
FREE_KIND: dict[str, str] = {name: kind for kind, names in FREE_OPS.items() for name in names}

# Formulas registered from outside (register_op_cost): overload packet -> (category, formula)
_REGISTERED: dict[Any, tuple[str, Callable[..., Any]]] = {}


@typed_errors
def register_op_cost(op: Any, fn: Callable[..., Any], *, category: str = "custom") -> None:
    """Register the cost of an ATen operator the counter does not know, for every later pass.

    ``op``: ``torch.ops.aten.foo`` (or a custom op: ``torch.ops.mylib.bar``), any overload of it.
    ``fn(args, kwargs, out)`` gets the call's arguments and output (meta tensors on the meta device: use
    shapes, never values) and returns ``(macs, other_ops)`` — MACs for a matmul-like product, other ops
    for everything else. ``category`` is how per-operator tables group it; ``conv``, ``matmul`` and
    ``attention`` make its MACs count as MACs (the footer's MACs and FLOPs), others only as other ops.
    A registered formula replaces the built-in one for that operator. ``fn=None`` removes a registration.
    """
    packet = getattr(op, "overloadpacket", op)
    if not isinstance(packet, torch._ops.OpOverloadPacket):
        raise TypeError(f"register_op_cost: {op!r} is not an operator (e.g. torch.ops.aten.cumsum)")
    if fn is None:
        _REGISTERED.pop(packet, None)
        return
    if not callable(fn):
        raise TypeError(f"register_op_cost: the formula for {packet.__name__} must be callable, got {fn!r}")
    _REGISTERED[packet] = (category, fn)


def _registered_cost(packet: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
    category, fn = _REGISTERED[packet]
    answer = fn(args, kwargs, out)
    macs, other = answer if isinstance(answer, tuple) else (answer, 0)
    if category not in ("conv", "matmul", "attention") and macs:
        macs, other = 0, other + macs
    return OpCost(packet.__name__, category, macs=int(macs), other=int(other))


def classify(func: Any) -> tuple[str, str]:
    """(name, kind) of an operator that has no cost: kind is "free: <why>" or "uncounted"."""
    name = func.overloadpacket.__name__
    kind = FREE_KIND.get(name)
    return name, (f"free: {kind}" if kind else "uncounted")


def op_cost(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost | None:
    """The cost of one ATen call, or None when the counter has no formula (free or uncounted: see classify)."""
    packet = func.overloadpacket
    if _REGISTERED and packet in _REGISTERED:
        return _registered_cost(packet, args, kwargs, out)
    if packet in _ATTENTION:
        macs, other = _attention_cost(func, args, kwargs)
        return OpCost(packet.__name__, "attention", macs=macs, other=other)
    if packet in _FUSED_BLOCKS:
        macs, other = _fused_block_cost(func, args, kwargs)
        return OpCost(packet.__name__, "attention", macs=macs, other=other)
    if packet in _MATMUL_OPS:
        category, fn = _MATMUL_OPS[packet]
        return OpCost(packet.__name__, category, macs=int(fn(args, first_tensor(out))))
    name = packet.__name__
    if name in _WINDOW_POOLS:
        return OpCost(name, "pool", other=_window_pool_cost(name, args, out))
    if name == "mean" and _is_global_average_pool(args, kwargs):
        # adaptive_avg_pool{2,3}d to 1×1 is lowered to mean over the trailing dims before dispatch
        return OpCost(f"adaptive_avg_pool{len(args[1])}d", "pool", other=_numel(args[0]))
    spec = OTHER_OP_COST.get(name)
    if spec is None:
        return None
    category, per_elem, which = spec
    if category == "norm" and "batch_norm" in name:
        per_elem = _batch_norm_cost(name, args)
    elif name in _AFFINE_ARG:  # layer/group norm: mean, variance, normalise, + scale and shift with a weight
        weight = _AFFINE_ARG[name]
        per_elem = 5 if len(args) > weight and isinstance(args[weight], torch.Tensor) else 4
    base = args[0] if which == "in" and args else first_tensor(out)
    # in-place variants (relu_, add_) are tallied with their out-of-place op
    shown = _SAME_AS.get(name, name[:-1] if name.endswith("_") else name)
    return OpCost(shown, category, other=per_elem * _numel(base))


def _is_global_average_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """``mean(x, [-1, -2], keepdim=True)``: the exact call ATen's adaptive average pool to 1×1 makes."""
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    return keepdim is True and isinstance(dims, (list, tuple)) and list(dims) in ([-1, -2], [-1, -2, -3])


_AFFINE_ARG = {"native_layer_norm": 2, "native_group_norm": 1}  # where the weight is: (input, shape, weight, …)


def _batch_norm_cost(name: str, args: Sequence[Any]) -> int:
    # (input, weight, bias, running_mean, running_var, training, ...) for native_batch_norm & co.
    affine = len(args) > 1 and isinstance(args[1], torch.Tensor)
    if name == "_native_batch_norm_legit_no_training":
        training = False
    else:
        training = bool(args[5]) if len(args) > 5 and isinstance(args[5], bool) else False
    if training:  # mean, variance, normalise (+ scale and shift)
        return 5 if affine else 4
    return 2 if affine else 1
