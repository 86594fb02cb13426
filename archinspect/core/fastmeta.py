"""Shape-only answers for the meta-device operators whose own meta kernels are slow.

On the meta device torch runs many operators through Python reference implementations: eval BatchNorm
costs about 5 ms a call, ``cat`` 1.5 ms, and the first elementwise op imports ``torch._dynamo`` (about
2 s) because those references are wrapped in ``dynamo.disable``. Their outputs' shapes, dtypes and
layouts are simple, so they are answered here when every tensor is on meta; anything unusual returns
None and falls through to torch's own kernel.

:class:`MetaBuild` does the same while a model is built on meta: in-place initialisers (``normal_``,
``uniform_``, ``fill_``, ...) have nothing to write on a meta tensor, so they return it unchanged; any
other in-place op (``t_``, ``resize_``, ...) goes to torch, since it may change the tensor's metadata.

A shortcut must never lie: every handler answers only well-formed calls whose output layout it knows
(else None: torch's own kernel runs and raises its own error); where torch's meta kernel is laxer than
its CPU kernel (a convolution bias of the wrong size) the CPU kernel's error is raised, so that a model
fails on meta as it would on CPU. :func:`verify_fast_meta` checks every
answer against torch's own kernel — shape, strides, dtype, device, and that torch does not raise. The
tests run the production path over the whole zoo and a set of edge cases under it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from archinspect.core.compat import DispatchMode, dispatch_stack_depth

aten = torch.ops.aten


def _like(x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``empty_like(x)`` for the usual layouts: on meta ``empty_like`` itself runs a slow Python reference."""
    dtype = x.dtype if dtype is None else dtype
    if x.is_contiguous():
        return torch.empty(x.shape, dtype=dtype, device=x.device)
    if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.empty(x.shape, dtype=dtype, device=x.device, memory_format=torch.channels_last)
    return torch.empty_like(x, dtype=dtype)


def _channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def _all_meta(args: Sequence[Any]) -> bool:
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    return bool(tensors) and all(t.device.type == "meta" for t in tensors)


def _batch_norm(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if x.dim() < 2 or not (x.is_contiguous() or _channels_last(x)):
        return None
    stats_given = [t for t in args[1:5] if isinstance(t, torch.Tensor)]
    if any(t.shape != (x.shape[1],) for t in stats_given):
        return None
    stats_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    stats = (x.shape[1],)
    return (
        _like(x),
        torch.empty(stats, dtype=stats_dtype, device=x.device),
        torch.empty(stats, dtype=stats_dtype, device=x.device),
    )


def _cat(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    tensors = [t for t in args[0] if t.numel() or t.dim() > 1]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not tensors or not _all_meta(tensors) or any(not t.is_contiguous() for t in tensors):
        return None
    first = tensors[0]
    dim = dim % first.dim()
    if any(t.dim() != first.dim() or t.dtype != first.dtype for t in tensors):
        return None
    for t in tensors[1:]:
        if any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape, strict=True)) if i != dim):
            return None
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return torch.empty(shape, dtype=first.dtype, device=first.device)


def _unary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    return _like(args[0])


def _broadcast(a: Any, b: Any) -> tuple[int, ...] | None:
    """Broadcast shape of two tensors, or None if incompatible (torch's kernel then raises its own error).

    Written out rather than ``torch.broadcast_shapes``, whose Python reference imports SymPy."""
    x, y = tuple(a.shape), tuple(b.shape)
    n = max(len(x), len(y))
    x, y = (1,) * (n - len(x)) + x, (1,) * (n - len(y)) + y
    out = []
    for p, q in zip(x, y, strict=True):
        if p != q and 1 not in (p, q):
            return None
        out.append(q if p == 1 else p)
    return tuple(out)


def _in_place(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # An in-place op returns its first argument, whose shape it cannot change; an operand that would
    # broadcast it to another shape is left to torch's kernel, so the error still surfaces.
    self = args[0]
    other = args[1] if len(args) > 1 else None
    if isinstance(other, torch.Tensor) and _broadcast(self, other) != tuple(self.shape):
        return None
    return self


def _binary(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # Answered where the output layout is certain: a tensor with a Python number, two contiguous
    # tensors (contiguous output of the broadcast shape), or two of the same shape and the same layout.
    # Anything else (channels-last with a broadcast operand, transposed views) is torch's to lay out.
    a, b = args[0], args[1]
    if not isinstance(a, torch.Tensor):
        return None
    dtype = torch.result_type(a, b)
    if not isinstance(b, torch.Tensor):
        return _like(a, dtype) if isinstance(b, (int, float, bool)) else None
    shape = _broadcast(a, b)
    if shape is None:
        return None
    if a.is_contiguous() and b.is_contiguous():
        return torch.empty(shape, dtype=dtype, device=a.device)
    if a.shape == b.shape and a.stride() == b.stride() and _channels_last(a):
        return _like(a, dtype)
    return None


def _matmul(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # mm(a, b), bmm(a, b), addmm(bias, a, b): the product's shape; only well-formed operands.
    a, b = (args[1], args[2]) if len(args) >= 3 else (args[0], args[1])
    if a.dim() != b.dim() or a.shape[-1] != b.shape[-2] or a.dtype != b.dtype or a.shape[:-2] != b.shape[:-2]:
        return None
    shape = (*a.shape[:-1], b.shape[-1])
    if len(args) >= 3:  # addmm: the bias must broadcast to the product, in the same dtype
        bias = args[0]
        if not isinstance(bias, torch.Tensor) or bias.dtype != a.dtype or _broadcast(bias, a.new_empty(shape)) != shape:
            return None
    return torch.empty(shape, dtype=a.dtype, device=a.device)


def _addmm(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if args[0].dim() > 2 or kwargs.get("beta", 1) != 1 or len(args) > 3:
        return None
    return _matmul(args, kwargs)


def _reduce(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # mean(x, dims, keepdim) / sum(x, dims, keepdim) on floating tensors, without a dtype override.
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    if not x.is_floating_point() or not dims or kwargs.get("dtype") is not None or len(args) > 3:
        return None
    axes = {d % x.dim() for d in dims}
    shape = [1 if i in axes else n for i, n in enumerate(x.shape) if keepdim or i not in axes]
    return torch.empty(shape, dtype=x.dtype, device=x.device)


def _window_out(size: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> int:
    # torch's pooling_output_shape / conv output size: floor (or ceil) of the span over the stride, + 1
    span = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    n = span // s + 1
    if ceil and (n - 1) * s >= size + p:
        n -= 1
    return n


def _check_conv_bias(x: Any, w: Any, bias: Any, transposed: bool, groups: int) -> None:
    """Raise the CPU kernel's error for a bias of the wrong size: torch's meta kernel does not check it."""
    if bias is None:
        return
    out_channels = w.shape[1] * groups if transposed else w.shape[0]
    if bias.dim() != 1 or bias.shape[0] != out_channels:
        given = f"transposed=1, weight of size {list(w.shape)}" if transposed else f"weight of size {list(w.shape)}"
        raise RuntimeError(
            f"Given {given}, expected bias to be 1-dimensional with {out_channels} elements, "
            f"but got bias of size {list(bias.shape)} instead"
        )


def _conv(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # convolution(x, w, bias, stride, padding, dilation, transposed, output_padding, groups);
    # answered for the common case (not transposed, contiguous, consistent); torch checks the rest.
    x, w, bias = args[0], args[1], args[2]
    stride, padding, dilation, transposed, _, groups = args[3:9]
    _check_conv_bias(x, w, bias, bool(transposed), int(groups))
    nd = w.dim() - 2
    if transposed or x.dim() != w.dim() or not (x.is_contiguous() and w.is_contiguous()) or x.dtype != w.dtype:
        return None
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        return None
    if bias is not None and bias.dtype != x.dtype:
        return None
    if not (len(stride) == len(padding) == len(dilation) == nd):
        return None
    sizes = [_window_out(x.shape[2 + i], w.shape[2 + i], stride[i], padding[i], dilation[i]) for i in range(nd)]
    if min(sizes) < 1:
        return None
    return torch.empty((x.shape[0], w.shape[0], *sizes), dtype=x.dtype, device=x.device)


def _pool_shape(x: Any, kernel: Any, stride: Any, padding: Any, dilation: Any, ceil: bool) -> tuple | None:
    """The output shape of a 2-D window pool over a 4-D contiguous input, or None to leave it to torch."""
    if x.dim() != 4 or not x.is_contiguous():
        return None

    def pair(v: Any, default: int) -> list[int]:
        v = [v] if isinstance(v, int) else (list(v) if v else [default, default])
        return v * 2 if len(v) == 1 else v

    k = pair(kernel, 1)
    s = pair(stride or k, 1)
    p, d = pair(padding, 0), pair(dilation, 1)
    if any(p[i] > k[i] // 2 for i in range(2)):
        return None
    sizes = [_window_out(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil) for i in range(2)]
    return (*x.shape[:2], *sizes) if min(sizes) >= 1 else None


def _max_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # max_pool2d_with_indices(x, kernel, stride, padding, dilation, ceil_mode)
    x = args[0]
    opts = list(args[2:6]) + [None] * (4 - len(args[2:6]))
    shape = None if kwargs else _pool_shape(x, args[1], opts[0], opts[1], opts[2], bool(opts[3]))
    if shape is None:
        return None
    return torch.empty(shape, dtype=x.dtype, device=x.device), torch.empty(shape, dtype=torch.int64, device=x.device)


def _avg_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    # avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    x = args[0]
    opts = list(args[2:5]) + [None] * (3 - len(args[2:5]))
    shape = None if kwargs else _pool_shape(x, args[1], opts[0], opts[1], None, bool(opts[2]))
    return None if shape is None else torch.empty(shape, dtype=x.dtype, device=x.device)


def _adaptive_avg_pool(args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    x, size = args[0], list(args[1])
    if x.dim() != 4 or not x.is_contiguous() or len(size) != 2 or min(size) < 1 or min(x.shape[2:]) < 1:
        return None
    return torch.empty((*x.shape[:2], *size), dtype=x.dtype, device=x.device)


_UNARY = ("relu", "sigmoid", "tanh", "gelu", "silu", "hardtanh", "hardswish", "hardsigmoid", "leaky_relu", "elu")
_BINARY = ("add", "sub", "mul", "div")


def _overload(name: str, overload: str) -> Any:
    """``aten.<name>.<overload>``, or None on a torch that does not have it (the shortcut is then absent)."""
    return getattr(getattr(aten, name, None), overload, None)


def _table() -> dict[Any, Callable[[Sequence[Any], dict[str, Any]], Any]]:
    entries: list[tuple[str, str, Callable[[Sequence[Any], dict[str, Any]], Any]]] = [
        ("native_batch_norm", "default", _batch_norm),
        ("_native_batch_norm_legit_no_training", "default", _batch_norm),
        ("cat", "default", _cat),
        ("convolution", "default", _conv),
        ("max_pool2d_with_indices", "default", _max_pool),
        ("avg_pool2d", "default", _avg_pool),
        ("_adaptive_avg_pool2d", "default", _adaptive_avg_pool),
        ("mean", "dim", _reduce),
        ("sum", "dim_IntList", _reduce),
        ("mm", "default", _matmul),
        ("bmm", "default", _matmul),
        ("addmm", "default", _addmm),
    ]
    for name in _UNARY:
        entries += [(name, "default", _unary), (name + "_", "default", _in_place)]
    for name in _BINARY:
        for overload in ("Tensor", "Scalar"):
            entries += [(name, overload, _binary), (name + "_", overload, _in_place)]
    table = {}
    for name, overload, handler in entries:
        op = _overload(name, overload)
        if op is not None:
            table[op] = handler
    return table


FAST_META = _table()

# In-place ops that only write values (initialisers and the arithmetic nn.init does in place): on a
# meta tensor there is nothing to write, and they never change shape, strides or dtype.
# Not ``t_``, ``transpose_``, ``resize_``, ``squeeze_``, ...: those change metadata and go to torch.
INITIALISERS = frozenset(
    {
        "normal_", "uniform_", "fill_", "zero_", "random_", "bernoulli_", "exponential_", "geometric_",
        "log_normal_", "cauchy_", "erfinv_", "clamp_", "clamp_min_", "clamp_max_", "mul_", "div_", "add_", "sub_",
        "copy_", "sqrt_", "abs_", "neg_", "exp_", "log_", "sign_", "fmod_", "remainder_",
    }
)

_VERIFY = False


@contextlib.contextmanager
def verify_fast_meta() -> Iterator[None]:
    """Inside the block every fast answer is checked against torch's own kernel (tests; slow)."""
    global _VERIFY
    before, _VERIFY = _VERIFY, True
    try:
        yield
    finally:
        _VERIFY = before


class FastMetaMismatch(AssertionError):
    """A fast answer differs from what torch's own kernel gives (raised only under verify_fast_meta)."""


def _check(func: Any, args: Sequence[Any], kwargs: dict[str, Any], ours: Any) -> None:
    try:
        theirs = func(*args, **kwargs)
    except Exception as exc:
        raise FastMetaMismatch(f"{func}: answered where torch raises {type(exc).__name__}: {exc}") from None
    _same_layout(func, ours, theirs)


def _same_layout(func: Any, ours: Any, theirs: Any) -> None:
    if isinstance(theirs, (tuple, list)):
        if not isinstance(ours, (tuple, list)) or len(ours) != len(theirs):
            raise FastMetaMismatch(f"{func}: {len(theirs)} outputs expected")
        for a, b in zip(ours, theirs, strict=True):
            _same_layout(func, a, b)
        return
    mine = (tuple(ours.shape), ours.dtype, ours.device.type, ours.stride() if ours.numel() > 1 else None)
    torch_ = (tuple(theirs.shape), theirs.dtype, theirs.device.type, theirs.stride() if theirs.numel() > 1 else None)
    if mine != torch_:
        raise FastMetaMismatch(f"{func}: fast {mine} but torch {torch_}")


def _outer_modes() -> int:
    # Inside __torch_dispatch__ the running mode is popped: what is left are modes outside it (a user's
    # FlopCounterMode, a profiler). They must see every operator, so then nothing is answered here.
    return dispatch_stack_depth()


def fast_meta(func: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The output of ``func`` if it is answered here and all its tensors are meta, else None."""
    handler = FAST_META.get(func)
    if handler is None or kwargs.get("alpha", 1) != 1 or _outer_modes():
        return None
    if handler is not _cat and not _all_meta(args):
        return None
    out = handler(args, kwargs)
    if _VERIFY and out is not None:
        _check(func, args, kwargs, out)
    return out


class MetaBuild(DispatchMode):
    """While building on meta: initialisers (:data:`INITIALISERS` on meta tensors) are answered without work."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        if func.overloadpacket.__name__ in INITIALISERS and _all_meta(args) and not _outer_modes():
            out = _in_place(args, kwargs)  # None when an operand would broadcast it: torch's error
            if out is not None:
                if _VERIFY:
                    _check(func, args, kwargs, out)
                return out
        out = fast_meta(func, args, kwargs)
        return func(*args, **kwargs) if out is None else out
