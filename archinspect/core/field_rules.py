"""The rule of each ATen operator: its outputs' receptive fields from its inputs' (see
:mod:`archinspect.core.receptive`). A rule gets ``(func, args, kwargs, out, get)`` where ``get(tensor)``
is a tensor's :class:`~archinspect.core.fields.FieldMap` (None when it does not depend on the input), and
returns the outputs' map (a list of maps for operators returning a list, e.g. ``split``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import torch

from archinspect.core.fields import AxisField, FieldMap, aligned, union
from archinspect.core.tensors import named_args, tensors

Rule = Callable[[Any, Sequence[Any], dict[str, Any], Any, Callable[[Any], FieldMap | None]], Any]


def _on_first(rule: Callable[[Any, Sequence[Any], dict[str, Any], Any, FieldMap], Any]) -> Rule:
    """A rule about its first argument's field alone: the outputs have none when that argument has none."""

    def wrapped(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
        fm = get(args[0]) if args else None
        return None if fm is None else rule(func, args, kwargs, out, fm)

    return wrapped


def _ints(value: Any, n: int, default: int) -> list[int]:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return [default] * n
    if isinstance(value, int):
        return [value] * n
    value = [int(v) for v in value]
    return value * n if len(value) == 1 else value


def _windowed(fm: FieldMap, ndim: int, out: torch.Tensor, params: list[tuple[int, int, int, int]]) -> FieldMap:
    """Convolution and window pooling over the last ``len(params)`` dims: (kernel, stride, padding, dilation)."""
    first_dim = ndim - len(params)
    axes = dict(fm.axes)
    for i, (k, s, p, dil) in enumerate(params):
        d = first_dim + i
        f = axes.get(d)
        if f is None:
            continue
        n_out = out.shape[d]
        axes[d] = f.strided(n_out, s, -p, -p + (k - 1) * dil, f.jump * s)
    return FieldMap(axes, fm.whole, fm.bound)


def _transposed(fm: FieldMap, out: torch.Tensor, params: list[tuple[int, int, int, int]]) -> FieldMap:
    """Transposed convolution: input unit i reaches outputs i·s − p + t·d for taps t = 0..k−1."""
    axes = dict(fm.axes)
    bound = fm.bound
    for i, (k, s, p, dil) in enumerate(params):
        d = 2 + i
        f = axes.get(d)
        if f is None:
            continue
        first, last = [], []
        for o in range(out.shape[d]):
            hits = [(o + p - t * dil) // s for t in range(k) if (o + p - t * dil) % s == 0]
            if not hits:
                # No input reaches this unit (stride wider than the dilated kernel): it sees nothing, which
                # an interval cannot say; it is given its nearest input's field and the map marked a bound.
                hits = [round((o + p - (k - 1) * dil / 2) / s)]
                bound = True
            first.append(min(hits))
            last.append(max(hits))
        axes[d] = f.span(first, last, f.jump / s)
    return FieldMap(axes, fm.whole, bound)


@_on_first
def _rule_conv(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x, w = args[0], args[1]
    nd = w.dim() - 2
    stride, padding, dilation = _ints(args[3], nd, 1), _ints(args[4], nd, 0), _ints(args[5], nd, 1)
    transposed = bool(args[6]) if len(args) > 6 else False
    fm = fm.collapsed([d for d in fm.axes if d < 2])  # channels mixed (a field on dim 0/1 is not spatial)
    kernel = list(w.shape[2:])
    params = [(kernel[i], stride[i], padding[i], dilation[i]) for i in range(nd)]
    if transposed:
        return _transposed(fm, out, params)
    return _windowed(fm, x.dim(), out, params)


def _pool_dims(name: str) -> int:
    return 3 if "3d" in name else (1 if "1d" in name else 2)


@_on_first
def _rule_pool(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    named = named_args(func, args, kwargs)
    nd = _pool_dims(func.overloadpacket.__name__)
    kernel = _ints(named.get("kernel_size"), nd, 1)
    stride = _ints(named.get("stride"), nd, 0)
    stride = [s or k for s, k in zip(stride, kernel, strict=True)]
    padding = _ints(named.get("padding"), nd, 0)
    dilation = _ints(named.get("dilation"), nd, 1)
    first = out[0] if isinstance(out, (tuple, list)) else out
    return _windowed(fm, x.dim(), first, [(kernel[i], stride[i], padding[i], dilation[i]) for i in range(nd)])


SourceUnits = Callable[[int, int, int, int], tuple[int, int]]


def _per_unit(fm: FieldMap, x: torch.Tensor, out: torch.Tensor, nd: int, src_of: SourceUnits) -> FieldMap:
    """Each of the last ``nd`` dims: output unit o sees input units ``src_of(axis, o, n_in, n_out)``."""
    axes = dict(fm.axes)
    for i in range(nd):
        d = x.dim() - nd + i
        f = axes.get(d)
        if f is None:
            continue
        n_in, n_out = x.shape[d], out.shape[d]
        pairs = [src_of(i, o, n_in, n_out) for o in range(n_out)]
        axes[d] = f.span([a for a, _ in pairs], [b for _, b in pairs], f.jump * Fraction(n_in, n_out))
    return FieldMap(axes, fm.whole, fm.bound)


@_on_first
def _rule_adaptive(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    first = out[0] if isinstance(out, (tuple, list)) else out
    nd = _pool_dims(func.overloadpacket.__name__)
    # PyTorch's adaptive window for output o of m over n inputs: [floor(o·n/m), ceil((o+1)·n/m)).
    return _per_unit(fm, x, first, nd, lambda i, o, n, m: ((o * n) // m, -((-(o + 1) * n) // m) - 1))


def _upsample_scales(named: dict[str, Any], nd: int) -> list[float | None]:
    if named.get("scale_factors") is not None:
        return [float(s) for s in _ints_or_floats(named["scale_factors"], nd)]
    keys = {1: ["scales"], 2: ["scales_h", "scales_w"], 3: ["scales_d", "scales_h", "scales_w"]}[nd]
    return [named.get(k) for k in keys]


def _ints_or_floats(value: Any, n: int) -> list[Any]:
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return value * n if len(value) == 1 else value


@_on_first
def _rule_upsample(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    named = named_args(func, args, kwargs)
    nd = _pool_dims(name) if not name.startswith("upsample_bilinear") and "bilinear" not in name else 2
    if "bicubic" in name:
        nd = 2
    if "trilinear" in name:
        nd = 3
    if "linear1d" in name:
        nd = 1
    scales = _upsample_scales(named, nd)
    align = bool(named.get("align_corners"))

    def scale_of(i: int, n: int, m: int) -> float:
        if align and ("linear" in name or "cubic" in name):
            return (n - 1) / (m - 1) if m > 1 else 0.0
        s = scales[i]
        return 1.0 / s if s is not None and s > 0 else n / m

    def src_of(i: int, o: int, n: int, m: int) -> tuple[int, int]:
        scale = scale_of(i, n, m)
        if "nearest_exact" in name:
            j = min(math.floor((o + 0.5) * scale), n - 1)
            return j, j
        if "nearest" in name:
            j = min(math.floor(o * scale), n - 1)
            return j, j
        if "cubic" in name:
            real = scale * o if align else scale * (o + 0.5) - 0.5
            j = math.floor(real)
            return max(min(j - 1, n - 1), 0), max(min(j + 2, n - 1), 0)
        real = scale * o if align else max(scale * (o + 0.5) - 0.5, 0.0)
        j = min(math.floor(real), n - 1)
        nxt = j + 1 if (j < n - 1 and real > j) else j
        return j, nxt

    return _per_unit(fm, x, out, nd, src_of)


@_on_first
def _rule_pad(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    pad = list(args[1])
    axes = dict(fm.axes)
    for i in range(len(pad) // 2):
        d = x.dim() - 1 - i
        f = axes.get(d)
        if f is None:
            continue
        left, n = pad[2 * i], x.shape[d]

        def src(o: int, left: int = left, n: int = n) -> int:
            j = o - left
            if "reflection" in name:
                j = -j if j < 0 else (2 * (n - 1) - j if j >= n else j)
            elif "replication" in name:
                j = min(max(j, 0), n - 1)
            return j

        idx = [src(o) for o in range(out.shape[d])]
        axes[d] = f.span(idx, idx, f.jump)
    return FieldMap(axes, fm.whole, fm.bound)


def _dims(value: Any, ndim: int) -> list[int]:
    if value is None:
        return list(range(ndim))
    if isinstance(value, int):
        value = [value]
    value = [int(v) % ndim for v in value] if ndim else []
    return value or list(range(ndim))


def _rule_reduce(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
    if len(args) > 1 and isinstance(args[1], torch.Tensor):  # max(a, b), min(a, b): elementwise
        return rule_pointwise(func, args, kwargs, out, get)
    return _reduction(func, args, kwargs, out, get)


@_on_first
def _reduction(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    named = named_args(func, args, kwargs)
    dims = _dims(named.get("dim"), x.dim())
    if "dim" not in named and len(args) == 1:
        dims = list(range(x.dim()))
    fm = fm.collapsed(dims)
    if named.get("keepdim"):
        return fm
    left = [d for d in range(x.dim()) if d not in dims]
    return fm.moved({d: i for i, d in enumerate(left)})


@_on_first
def _rule_softmax(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    return fm.collapsed(_dims(args[1], args[0].dim()))


def _reshape_map(src: Sequence[int], dst: Sequence[int]) -> dict[int, int]:
    """Dims of ``src`` that survive a reshape to ``dst`` as a dimension of their own: src dim -> dst dim."""
    mapping = {}
    before_src = {}
    acc = 1
    for d, n in enumerate(src):
        before_src[d] = acc
        acc *= n
    acc = 1
    before_dst = {}
    for d, n in enumerate(dst):
        before_dst[(acc, n)] = d
        acc *= n
    for d, n in enumerate(src):
        hit = before_dst.get((before_src[d], n))
        if hit is not None:
            mapping[d] = hit
    return mapping


@_on_first
def _rule_view(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    return fm.moved(_reshape_map(tuple(x.shape), tuple(out.shape)))


@_on_first
def _rule_identity(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    return fm


@_on_first
def _rule_permute(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    nd = x.dim()
    if name == "permute":
        order = [int(d) % nd for d in args[1]]
    elif name == "t":
        order = [1, 0][:nd] if nd == 2 else list(range(nd))
    else:  # transpose / swapaxes
        a, b = int(args[1]) % nd, int(args[2]) % nd
        order = list(range(nd))
        order[a], order[b] = order[b], order[a]
    return fm.moved({old: new for new, old in enumerate(order)})


@_on_first
def _rule_unsqueeze(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    at = int(args[1]) % (args[0].dim() + 1)
    return fm.moved({d: d + (1 if d >= at else 0) for d in range(args[0].dim())})


@_on_first
def _rule_squeeze(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    dims = _dims(args[1] if len(args) > 1 else None, x.dim())
    gone = [d for d in dims if x.shape[d] == 1]
    left = [d for d in range(x.dim()) if d not in gone]
    return fm.moved({d: i for i, d in enumerate(left)})


@_on_first
def _rule_expand(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    return aligned(fm, out.dim(), tuple(out.shape), tuple(args[0].shape))


def _sliced(fm: FieldMap, d: int, keep: range) -> FieldMap:
    f = fm.axes.get(d)
    if f is None:
        return fm
    idx = list(keep)
    if not idx:
        return fm.collapsed([d])
    axes = dict(fm.axes)
    step = keep.step if len(idx) > 1 else 1
    axes[d] = AxisField(f.src, tuple(f.lo[i] for i in idx), tuple(f.hi[i] for i in idx), f.jump * step)
    return FieldMap(axes, fm.whole, fm.bound)


@_on_first
def _rule_slice(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    named = named_args(func, args, kwargs)
    d = int(named.get("dim") or 0) % x.dim()
    if func.overloadpacket.__name__ == "narrow":
        start = int(named["start"]) % x.shape[d]
        return _sliced(fm, d, range(start, start + int(named["length"])))
    start, end, step = named.get("start"), named.get("end"), named.get("step") or 1
    return _sliced(fm, d, range(x.shape[d])[slice(start, end, step)])


@_on_first
def _rule_select(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    d, i = int(args[1]) % x.dim(), int(args[2]) % x.shape[int(args[1]) % x.dim()]
    fm = _sliced(fm, d, range(i, i + 1)).collapsed([d])
    return fm.moved({k: k - (1 if k > d else 0) for k in range(x.dim()) if k != d})


@_on_first
def _rule_split(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, fm: FieldMap) -> Any:
    x = args[0]
    name = func.overloadpacket.__name__
    outs = list(out)
    d = int(named_args(func, args, kwargs).get("dim") or 0) % x.dim()
    if name == "unbind":
        return [_rule_select_at(fm, x, d, i) for i in range(len(outs))]
    maps, at = [], 0
    for t in outs:
        maps.append(_sliced(fm, d, range(at, at + t.shape[d])))
        at += t.shape[d]
    return maps


def _rule_select_at(fm: FieldMap, x: torch.Tensor, d: int, i: int) -> FieldMap:
    fm = _sliced(fm, d, range(i, i + 1)).collapsed([d])
    return fm.moved({k: k - (1 if k > d else 0) for k in range(x.dim()) if k != d})


def _rule_cat(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
    maps = [get(t) for t in args[0] if isinstance(t, torch.Tensor)]
    if all(m is None for m in maps):
        return None
    d = int(named_args(func, args, kwargs).get("dim") or 0) % out.dim()
    if func.overloadpacket.__name__ == "stack":
        shift = {k: k + (1 if k >= d else 0) for k in range(out.dim() - 1)}
        return union([m.moved(shift) if m else None for m in maps])
    along = [m.axes.get(d) for m in maps if m is not None]
    if not any(along):
        return union(maps)
    if any(m is None or d not in m.axes for m in maps) or len({f.src for f in along if f}) > 1:
        return union(maps).collapsed([d], bound=True)  # concatenating a spatial axis with something else
    return _joined_along(maps, along, d)


def _joined_along(maps: list[FieldMap], along: list[AxisField], d: int) -> FieldMap:
    """Maps concatenated along their spatial axis ``d``: the units' tables one after the other."""
    lo = tuple(v for f in along for v in f.lo)
    hi = tuple(v for f in along for v in f.hi)
    rest = union([FieldMap({k: f for k, f in m.axes.items() if k != d}, m.whole, m.bound) for m in maps])
    axes = dict(rest.axes) if rest else {}
    axes[d] = AxisField(along[0].src, lo, hi, max(f.jump for f in along))
    return FieldMap(axes, rest.whole if rest else {}, rest.bound if rest else False)


def rule_pointwise(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
    first = out[0] if isinstance(out, (tuple, list)) else out
    if not isinstance(first, torch.Tensor):
        return None
    maps = []
    for t in tensors((args, kwargs)):
        m = get(t)
        if m is not None:
            maps.append(aligned(m, first.dim(), tuple(first.shape), tuple(t.shape)))
    return union(maps)


def _rule_copy(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
    src = args[1]
    m = get(src)
    return aligned(m, args[0].dim(), tuple(args[0].shape), tuple(src.shape)) if m is not None else None


def _rule_dense(func: Any, args: Sequence[Any], kwargs: dict[str, Any], out: Any, get: Any) -> Any:
    """Every output unit sees every input unit (matrix products, attention, gathers)."""
    maps = [get(t) for t in tensors((args, kwargs))]
    merged = union([m.collapsed() for m in maps if m is not None])
    return merged


CONSTANT = "constant"  # outputs that do not depend on the input's values (empty_like, zeros_like, fill_)

RULES: dict[str, Rule | str] = {
    "convolution": _rule_conv,
    "_convolution": _rule_conv,
    "max_pool1d": _rule_pool,
    "max_pool2d": _rule_pool,
    "max_pool3d": _rule_pool,
    "max_pool2d_with_indices": _rule_pool,
    "max_pool3d_with_indices": _rule_pool,
    "_mkldnn_max_pool2d": _rule_pool,
    "mkldnn_max_pool2d": _rule_pool,
    "avg_pool1d": _rule_pool,
    "avg_pool2d": _rule_pool,
    "avg_pool3d": _rule_pool,
    "_adaptive_avg_pool2d": _rule_adaptive,
    "_adaptive_avg_pool3d": _rule_adaptive,
    "adaptive_avg_pool1d": _rule_adaptive,
    "adaptive_avg_pool2d": _rule_adaptive,
    "adaptive_max_pool1d": _rule_adaptive,
    "adaptive_max_pool2d": _rule_adaptive,
    "adaptive_max_pool3d": _rule_adaptive,
    "constant_pad_nd": _rule_pad,
    "reflection_pad1d": _rule_pad,
    "reflection_pad2d": _rule_pad,
    "reflection_pad3d": _rule_pad,
    "replication_pad1d": _rule_pad,
    "replication_pad2d": _rule_pad,
    "replication_pad3d": _rule_pad,
    "mean": _rule_reduce,
    "sum": _rule_reduce,
    "amax": _rule_reduce,
    "amin": _rule_reduce,
    "max": _rule_reduce,
    "min": _rule_reduce,
    "var": _rule_reduce,
    "std": _rule_reduce,
    "var_mean": _rule_reduce,
    "std_mean": _rule_reduce,
    "prod": _rule_reduce,
    "logsumexp": _rule_reduce,
    "linalg_vector_norm": _rule_reduce,
    "_softmax": _rule_softmax,
    "_log_softmax": _rule_softmax,
    "_safe_softmax": _rule_softmax,
    "view": _rule_view,
    "_unsafe_view": _rule_view,
    "reshape": _rule_view,
    "_reshape_alias": _rule_view,
    "flatten": _rule_view,
    "unflatten": _rule_view,
    "permute": _rule_permute,
    "transpose": _rule_permute,
    "swapaxes": _rule_permute,
    "t": _rule_permute,
    "unsqueeze": _rule_unsqueeze,
    "squeeze": _rule_squeeze,
    "expand": _rule_expand,
    "slice": _rule_slice,
    "narrow": _rule_slice,
    "select": _rule_select,
    "split": _rule_split,
    "split_with_sizes": _rule_split,
    "unbind": _rule_split,
    "cat": _rule_cat,
    "stack": _rule_cat,
    "copy_": _rule_copy,
    # normalisation statistics are not counted as seeing: the output keeps the input's field
    "native_batch_norm": _rule_identity,
    "_native_batch_norm_legit": _rule_identity,
    "_native_batch_norm_legit_no_training": _rule_identity,
    "_native_batch_norm_legit_functional": _rule_identity,
    "cudnn_batch_norm": _rule_identity,
    "miopen_batch_norm": _rule_identity,
    "native_layer_norm": _rule_identity,
    "native_group_norm": _rule_identity,
    "native_dropout": _rule_identity,
    "clone": _rule_identity,
    "contiguous": _rule_identity,
    "_to_copy": _rule_identity,
    "alias": _rule_identity,
    "detach": _rule_identity,
    "lift_fresh": _rule_identity,
    "lift_fresh_copy": _rule_identity,
    "_prelu_kernel": rule_pointwise,
    "glu": _rule_dense,
    "mm": _rule_dense,
    "addmm": _rule_dense,
    "bmm": _rule_dense,
    "baddbmm": _rule_dense,
    "mv": _rule_dense,
    "addmv": _rule_dense,
    "dot": _rule_dense,
    "_native_multi_head_attention": _rule_dense,
    "_transformer_encoder_layer_fwd": _rule_dense,
    "_scaled_dot_product_flash_attention_for_cpu": _rule_dense,
    "_scaled_dot_product_flash_attention": _rule_dense,
    "_scaled_dot_product_efficient_attention": _rule_dense,
    "_scaled_dot_product_cudnn_attention": _rule_dense,
    "empty_like": CONSTANT,
    "zeros_like": CONSTANT,
    "ones_like": CONSTANT,
    "full_like": CONSTANT,
    "rand_like": CONSTANT,
    "randn_like": CONSTANT,
    "new_empty": CONSTANT,
    "new_zeros": CONSTANT,
    "new_ones": CONSTANT,
    "new_full": CONSTANT,
    "new_empty_strided": CONSTANT,
    "empty_strided": CONSTANT,
    "fill_": CONSTANT,
    "zero_": CONSTANT,
    "bernoulli_": CONSTANT,
}

for _name in (
    "upsample_nearest1d",
    "upsample_nearest2d",
    "upsample_nearest3d",
    "_upsample_nearest_exact1d",
    "_upsample_nearest_exact2d",
    "_upsample_nearest_exact3d",
    "upsample_linear1d",
    "upsample_bilinear2d",
    "_upsample_bilinear2d_aa",
    "upsample_bicubic2d",
    "upsample_trilinear3d",
):
    RULES[_name] = _rule_upsample
