"""What one ATen operator costs: the formulas the counter (:mod:`archinspect.core.counter`) applies.

Convention (PyTorch's ``torch.utils.flop_counter``): a multiply–accumulate (MAC) is 2 FLOPs, and only
convolution, matrix products and attention are counted as MACs. Everything else that does arithmetic
(normalisation, pooling, activations, elementwise, softmax, reductions, upsampling) is counted
separately as "other ops", one operation per element touched, with the per-element costs in
``OTHER_OP_COST`` (:mod:`archinspect.core.cost_table`).

Every operator that runs is one of three kinds: *counted* (a formula here, one a call passes as
``op_costs=``, or one registered with :func:`register_op_cost`), *free* (``FREE_OPS``: views and
metadata, copies and indexing, padding, factories and random fills — data movement, no arithmetic) or
*uncounted* (no formula: reports name them with their call counts, never a silent zero).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import prod
from typing import Any

import torch

from archinspect.core.categories import CostCategory
from archinspect.core.compat import OpOverloadPacket
from archinspect.core.cost_table import FREE_KIND, OTHER_OP_COST, SAME_AS
from archinspect.core.tensors import first_tensor, named_args
from archinspect.errors import ArgumentTypeError, ArgumentValueError, typed_errors

C = CostCategory

aten = torch.ops.aten


@dataclass(frozen=True)
class OpCost:
    """The cost of one operator call: MACs (conv/matmul/attention) and other arithmetic ops.

    A cost formula may return one: ``OpCost(category=CostCategory.MATMUL, macs=n)``; ``op`` left empty is
    filled with the operator's name. ``category`` is a :class:`CostCategory` (or its string, checked).
    """

    op: str = ""  # short ATen name, e.g. "convolution", "addmm", "native_batch_norm"
    category: CostCategory = CostCategory.CUSTOM
    macs: int = 0
    other: int = 0

    def __post_init__(self) -> None:
        if type(self.category) is not CostCategory:
            object.__setattr__(self, "category", CostCategory.check(self.category))


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


_MATMUL_OPS: dict[Any, tuple[CostCategory, Callable[[Sequence[Any], Any], int]]] = {
    aten.mm: (C.MATMUL, lambda a, o: _mm_macs(a[0], a[1])),
    aten.addmm: (C.MATMUL, lambda a, o: _mm_macs(a[1], a[2])),
    aten.bmm: (C.MATMUL, lambda a, o: _bmm_macs(a[0], a[1])),
    aten.baddbmm: (C.MATMUL, lambda a, o: _bmm_macs(a[1], a[2])),
    aten.addbmm: (C.MATMUL, lambda a, o: _bmm_macs(a[1], a[2])),  # the bmm, summed over the batch
    aten.mv: (C.MATMUL, lambda a, o: prod(_shape(a[0]))),
    aten.addmv: (C.MATMUL, lambda a, o: prod(_shape(a[1]))),
    aten.dot: (C.MATMUL, lambda a, o: _numel(a[0])),
    aten.convolution: (C.CONV, _conv_macs),
    aten._convolution: (C.CONV, _conv_macs),
}
if hasattr(aten, "_scaled_mm"):  # FP8 matmul (a @ b with per-tensor or row-wise scales): a matmul like mm
    _MATMUL_OPS[aten._scaled_mm] = (C.MATMUL, lambda a, o: _mm_macs(a[0], a[1]))

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


# A cost formula: fn(args, kwargs, out) -> OpCost | (macs, other_ops) | macs
Formula = Callable[[Sequence[Any], dict[str, Any], Any], Any]


@dataclass(frozen=True)
class _UserFormula:
    fn: Formula
    category: CostCategory  # for an answer given as numbers

    def cost(self, packet: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> OpCost:
        answer = self.fn(args, kwargs, out)
        if isinstance(answer, OpCost):
            category, macs, other = answer.category, answer.macs, answer.other
        elif isinstance(answer, tuple) and len(answer) == 2:
            category, (macs, other) = self.category, answer
        elif isinstance(answer, int | float) and not isinstance(answer, bool):
            category, macs, other = self.category, answer, 0
        else:
            raise ArgumentTypeError(
                f"the cost formula for {packet} returned {answer!r}; expected an OpCost, (macs, other_ops) or a number"
            )
        if macs and not category.is_mac:  # MACs only in conv, matmul and attention; elsewhere they are other ops
            macs, other = 0, other + macs
        return OpCost(packet.__name__, category, macs=int(macs), other=int(other))


# Formulas registered from outside (register_op_cost), for every later pass: overload packet -> formula
_REGISTERED: dict[Any, _UserFormula] = {}
_REGISTRY_LOCK = threading.Lock()


def op_packet(op: Any, what: str) -> Any:
    """``torch.ops.aten.cumsum``, any overload of it, or its name ``'aten.cumsum'`` / ``'aten::cumsum'`` as the
    overload packet that formulas are keyed by; an error naming ``what`` for anything else."""
    found = op
    if isinstance(op, str):
        parts = op.replace("::", ".").split(".")
        found = None
        if len(parts) in (2, 3) and all(parts):
            with contextlib.suppress(AttributeError, RuntimeError):
                found = getattr(getattr(torch.ops, parts[0]), parts[1])
                found = getattr(found, parts[2]) if len(parts) == 3 else found
    packet = getattr(found, "overloadpacket", found)
    if not isinstance(packet, OpOverloadPacket):
        raise ArgumentTypeError(f"{what}: {op!r} is not an operator (e.g. torch.ops.aten.cumsum or 'aten.cumsum')")
    return packet


def builtin_category(packet: Any) -> CostCategory | None:
    """The category of the built-in formula for ``packet``; None when it has none (free ops: none either)."""
    if packet in _ATTENTION or packet in _FUSED_BLOCKS:
        return CostCategory.ATTENTION
    if packet in _MATMUL_OPS:
        return _MATMUL_OPS[packet][0]
    name = packet.__name__
    if name in _WINDOW_POOLS:
        return CostCategory.POOL
    spec = OTHER_OP_COST.get(name)
    return spec[0] if spec else None


def _has_builtin_rule(packet: Any) -> bool:
    """Whether archinspect already says what ``packet`` costs: a formula, or free by the convention."""
    return builtin_category(packet) is not None or packet.__name__ in FREE_KIND


def check_op_costs(op_costs: Mapping[Any, Formula] | None, what: str = "op_costs") -> dict[Any, _UserFormula]:
    """Per-call formulas (``op_costs={"aten.lgamma": fn}``) checked and keyed by overload packet.

    A formula answering with numbers keeps the operator's built-in category (``custom`` for one without).
    """
    if not op_costs:
        return {}
    if not isinstance(op_costs, Mapping):
        raise ArgumentTypeError(
            f"{what} must map operators to formulas (e.g. {{'aten.lgamma': fn}}), got {type(op_costs).__name__}"
        )
    checked = {}
    for op, fn in op_costs.items():
        packet = op_packet(op, what)
        if not callable(fn):
            raise ArgumentTypeError(f"{what}[{op!r}] must be a formula fn(args, kwargs, out), got {fn!r}")
        checked[packet] = _UserFormula(fn, builtin_category(packet) or CostCategory.CUSTOM)
    return checked


def formulas(op_costs: Mapping[Any, Formula] | None = None) -> dict[Any, _UserFormula]:
    """The formulas one pass applies before the built-in ones: the registry as it is now, ``op_costs`` over it."""
    with _REGISTRY_LOCK:
        registered = dict(_REGISTERED)
    return {**registered, **check_op_costs(op_costs)} if op_costs else registered


@typed_errors
def register_op_cost(
    op: Any,
    fn: Formula | None,
    *,
    category: CostCategory | str | None = None,
    replace: bool = False,
) -> None:
    """Register the cost of an ATen operator for every later pass in this process.

    ``op``: ``torch.ops.aten.foo`` (or a custom op: ``torch.ops.mylib.bar``), any overload of it, or its name
    ``"aten.foo"``. ``fn(args, kwargs, out)`` gets the call's arguments and output (meta tensors on the meta
    device: use shapes, never values) and returns ``(macs, other_ops)``, a number of MACs, or an
    :class:`OpCost`. ``category`` (a :class:`CostCategory`; default: the operator's built-in one, else
    ``custom``) is how per-operator tables group it; only ``conv``, ``matmul`` and ``attention`` count MACs as
    MACs, in any other category they are added to other ops.

    An operator archinspect already has a rule for (a formula, or free by the convention) is refused unless
    ``replace=True``; replacing your own earlier registration warns unless ``replace=True``. ``fn=None``
    removes a registration. For one call only, pass ``op_costs={op: fn}`` to ``inspect``/``count_flops``.
    """
    packet = op_packet(op, "register_op_cost")
    if fn is None:
        with _REGISTRY_LOCK:
            _REGISTERED.pop(packet, None)
        return
    if not callable(fn):
        raise ArgumentTypeError(f"register_op_cost: the formula for {packet} must be callable, got {fn!r}")
    chosen = CostCategory.check(category, "category") if category is not None else None
    formula = _UserFormula(fn, chosen or builtin_category(packet) or CostCategory.CUSTOM)
    with _REGISTRY_LOCK:
        if packet in _REGISTERED:
            if not replace:
                warnings.warn(f"register_op_cost: replacing your earlier formula for {packet}", stacklevel=3)
        elif _has_builtin_rule(packet) and not replace:
            raise ArgumentValueError(
                f"register_op_cost: {packet} already has a built-in rule; pass replace=True to replace it "
                "for every later pass, or op_costs={...} to inspect/count_flops for one call"
            )
        _REGISTERED[packet] = formula


def classify(func: Any) -> tuple[str, str]:
    """(name, kind) of an operator that has no cost: kind is "free: <why>" or "uncounted"."""
    name = func.overloadpacket.__name__
    kind = FREE_KIND.get(name)
    return name, (f"free: {kind}" if kind else "uncounted")


def op_cost(
    func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, custom: Mapping[Any, _UserFormula] | None = None
) -> OpCost | None:
    """The cost of one ATen call, or None when the counter has no formula (free or uncounted: see classify).

    ``custom``: formulas applied before the built-in ones (:func:`formulas`); None: the registry as it is."""
    packet = func.overloadpacket
    custom = _REGISTERED if custom is None else custom
    if custom and packet in custom:
        return custom[packet].cost(packet, args, kwargs, out)
    if packet in _ATTENTION:
        macs, other = _attention_cost(func, args, kwargs)
        return OpCost(packet.__name__, C.ATTENTION, macs=macs, other=other)
    if packet in _FUSED_BLOCKS:
        macs, other = _fused_block_cost(func, args, kwargs)
        return OpCost(packet.__name__, C.ATTENTION, macs=macs, other=other)
    if packet in _MATMUL_OPS:
        category, fn = _MATMUL_OPS[packet]
        return OpCost(packet.__name__, category, macs=int(fn(args, first_tensor(out))))
    name = packet.__name__
    if name in _WINDOW_POOLS:
        return OpCost(name, C.POOL, other=_window_pool_cost(name, args, out))
    if name == "mean" and _is_global_average_pool(args, kwargs):
        # adaptive_avg_pool{2,3}d to 1×1 is lowered to mean over the trailing dims before dispatch
        return OpCost(f"adaptive_avg_pool{len(args[1])}d", C.POOL, other=_numel(args[0]))
    spec = OTHER_OP_COST.get(name)
    if spec is None:
        return None
    category, per_elem, which = spec
    if category is C.NORM and "batch_norm" in name:
        per_elem = _batch_norm_cost(name, args)
    elif name in _AFFINE_ARG:  # layer/group norm: mean, variance, normalise, + scale and shift with a weight
        weight = _AFFINE_ARG[name]
        per_elem = 5 if len(args) > weight and isinstance(args[weight], torch.Tensor) else 4
    base = args[0] if which == "in" and args else first_tensor(out)
    # in-place variants (relu_, add_) are tallied with their out-of-place op
    shown = SAME_AS.get(name, name[:-1] if name.endswith("_") else name)
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
