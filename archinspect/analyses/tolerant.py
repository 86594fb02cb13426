"""The tolerant pass: an engine interceptor that checks every layer's declared sizes against what it
receives, records each mismatch, and steps over it with a stand-in output of the shape the fixed layer
would give — so one pass finds every mismatch. :func:`~archinspect.analyses.fitting.fit` reports them;
the size solver (:mod:`~archinspect.analyses.solve`) runs it at each probed size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name

from archinspect.core.compat import BatchNormBase, DropoutNd
from archinspect.core.observe import NOT_HANDLED, ModuleCall, PassObserver
from archinspect.core.report import LayerRecord
from archinspect.core.tensors import first_tensor
from archinspect.text import dims_text, shape_text

Shape = tuple[int, ...]
_CONV_DIMS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Layers whose output has their input's shape: the solver's probes answer them without running them
# (on the meta device BatchNorm runs a slow Python decomposition and only the shape matters there).
_SHAPE_PRESERVING = (
    BatchNormBase,
    nn.GroupNorm,
    nn.LayerNorm,
    DropoutNd,
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Mish,
)


@dataclass
class Mismatch:
    """One layer whose declared size disagrees with what it receives."""

    layer: str  # qualified name
    type: str  # "Linear", "Conv2d", ...
    attribute: str  # "in_features", "in_channels", "num_features", "normalized_shape", "num_channels"
    declared: Any  # int, or a tuple for normalized_shape
    needed: Any
    received: Shape  # the input shape (whole batch)
    suggestion: str  # the constructor that fits, e.g. "nn.Linear(8800, 10)"
    before_flatten: Shape | None = None  # for a Linear after a flatten: the shape that was flattened
    note: str = ""  # e.g. "groups=4 does not divide 30 channels; groups that fit: 1, 2, 3"
    location: str | None = None  # "file.py:12" where the layer was constructed (user files)
    calls: int = 1  # how many calls of the layer saw this mismatch

    @property
    def message(self) -> str:
        """One line: ``fc: Linear(in_features=1000) receives [1, 8800] = 88×10×10 after flatten → ...``."""
        declared = self.declared if not isinstance(self.declared, tuple) else list(self.declared)
        text = f"{self.layer or '(model)'}: {self.type}({self.attribute}={declared}) receives "
        text += shape_text(self.received)
        if self.before_flatten is not None:
            text += f" = {dims_text(self.before_flatten[1:])} after flatten"
        text += f" → {self.suggestion}"
        if self.note:
            text += f" ({self.note})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "type": self.type,
            "attribute": self.attribute,
            "declared": list(self.declared) if isinstance(self.declared, tuple) else self.declared,
            "needed": list(self.needed) if isinstance(self.needed, tuple) else self.needed,
            "received": list(self.received),
            "before_flatten": list(self.before_flatten) if self.before_flatten else None,
            "suggestion": self.suggestion,
            "note": self.note,
            "location": self.location,
            "calls": self.calls,
            "message": self.message,
        }


def _stand_in(shape: Shape, like: torch.Tensor) -> torch.Tensor:
    """The output a fixed layer would give: empty on meta (nothing allocated), zeros elsewhere."""
    if like.device.type == "meta":
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    return torch.zeros(shape, dtype=like.dtype, device=like.device)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _conv_suggestion(mod: nn.Module, dims: int, in_channels: int, groups: int) -> str:
    k = mod.kernel_size
    parts = [str(in_channels), str(mod.out_channels), f"kernel_size={k[0] if len(set(k)) == 1 else k}"]
    defaults = {"stride": 1, "padding": 0, "dilation": 1}
    for name, default in defaults.items():
        value = getattr(mod, name)
        if isinstance(value, str):
            parts.append(f"{name}={value!r}")
        elif any(v != default for v in value):
            parts.append(f"{name}={value[0] if len(set(value)) == 1 else value}")
    if groups != 1:
        parts.append(f"groups={groups}")
    if mod.bias is None:
        parts.append("bias=False")
    if mod.padding_mode != "zeros":
        parts.append(f"padding_mode={mod.padding_mode!r}")
    return f"nn.Conv{dims}d({', '.join(parts)})"


class TolerantPass(PassObserver):
    """An observer of the pass that checks declared sizes, records mismatches and steps over them (``replace``).

    ``fast``: also answer shape-preserving layers (norms, activations, dropout) with their input, for
    the solver's shape-only probes on the meta device.
    """

    def __init__(self, *, fast: bool = False) -> None:
        self.fast = fast
        self.mismatches: dict[tuple[str, str], Mismatch] = {}
        self.linear_calls: list[tuple[str, nn.Linear, Shape]] = []

    def replace(self, call: ModuleCall) -> Any:
        return self(call.name, call.module, call.args, call.kwargs)

    def __call__(self, name: str, mod: nn.Module, args: tuple, kwargs: dict) -> Any:
        x = first_tensor((args, kwargs))
        if x is None:
            return NOT_HANDLED
        if isinstance(mod, nn.modules.lazy.LazyModuleMixin) and mod.has_uninitialized_params():
            return NOT_HANDLED
        shape = tuple(x.shape)
        if isinstance(mod, nn.Linear):
            return self._linear(name, mod, x, shape)
        for cls, dims in _CONV_DIMS.items():
            if isinstance(mod, cls):
                return self._conv(name, mod, dims, x, shape)
        answer = self._norm(name, mod, x, shape)
        if answer is NOT_HANDLED and self.fast and isinstance(mod, _SHAPE_PRESERVING):
            answer = x
        return _stand_in(shape, x) if answer is x and not self.fast else answer

    def _norm(self, name: str, mod: nn.Module, x: torch.Tensor, shape: Shape) -> Any:
        """A normalisation layer whose declared size disagrees: recorded, and ``x`` stands in for its output."""
        if isinstance(mod, _BATCHNORMS) and x.dim() >= 2 and shape[1] != mod.num_features:
            suggestion = f"nn.{type(mod).__name__}({shape[1]})"
            self._record(name, mod, "num_features", mod.num_features, shape[1], shape, suggestion)
            return x
        if isinstance(mod, nn.LayerNorm):
            k = len(mod.normalized_shape)
            if x.dim() >= k and shape[-k:] != tuple(mod.normalized_shape):
                need = shape[-k:]
                arg = need[0] if k == 1 else need
                declared = tuple(mod.normalized_shape)
                self._record(name, mod, "normalized_shape", declared, need, shape, f"nn.LayerNorm({arg})")
                return x
        if isinstance(mod, nn.GroupNorm) and x.dim() >= 2:
            channels = shape[1]
            if channels != mod.num_channels or channels % mod.num_groups:
                groups = math.gcd(channels, mod.num_groups)  # num_groups itself when it divides
                note = ""
                if channels % mod.num_groups:
                    fits = ", ".join(str(d) for d in _divisors(channels) if d > 1)
                    note = f"num_groups={mod.num_groups} does not divide {channels} channels; "
                    note += f"groups that do: {fits}"
                suggestion = f"nn.GroupNorm({groups}, {channels})"
                self._record(name, mod, "num_channels", mod.num_channels, channels, shape, suggestion, note)
                return x
        return NOT_HANDLED

    def _linear(self, name: str, mod: nn.Linear, x: torch.Tensor, shape: Shape) -> Any:
        self.linear_calls.append((name, mod, shape))
        if x.dim() == 0 or shape[-1] == mod.in_features:
            return NOT_HANDLED
        bias = "" if mod.bias is not None else ", bias=False"
        suggestion = f"nn.Linear({shape[-1]}, {mod.out_features}{bias})"
        self._record(name, mod, "in_features", mod.in_features, shape[-1], shape, suggestion)
        return _stand_in((*shape[:-1], mod.out_features), x)

    def _conv(self, name: str, mod: nn.Module, dims: int, x: torch.Tensor, shape: Shape) -> Any:
        if x.dim() not in (dims + 1, dims + 2):
            return NOT_HANDLED  # let the layer say what is wrong with the rank
        channels = shape[x.dim() - dims - 1]
        if channels == mod.in_channels:
            return NOT_HANDLED
        groups = mod.groups if channels % mod.groups == 0 else 1
        note = ""
        if channels % mod.groups:
            fits = [d for d in _divisors(math.gcd(channels, mod.out_channels)) if d > 1]
            note = f"groups={mod.groups} does not divide {channels} channels"
            note += f"; groups that divide {channels} and out_channels={mod.out_channels}: " + (
                ", ".join(map(str, fits)) if fits else "only 1"
            )
        suggestion = _conv_suggestion(mod, dims, channels, groups)
        self._record(name, mod, "in_channels", mod.in_channels, channels, shape, suggestion, note)
        # The output shape a fixed layer would give, worked out on meta (allocates nothing).
        meta_x = torch.empty(shape, dtype=x.dtype, device="meta")
        w_shape = (mod.out_channels, channels // groups, *mod.kernel_size)
        weight = torch.empty(w_shape, dtype=x.dtype, device="meta")
        padding = mod.padding
        out = _CONV_FN[dims](meta_x, weight, None, mod.stride, padding, mod.dilation, groups)
        return _stand_in(tuple(out.shape), x)

    def _record(
        self,
        name: str,
        mod: nn.Module,
        attribute: str,
        declared: Any,
        needed: Any,
        received: Shape,
        suggestion: str,
        note: str = "",
    ) -> None:
        key = (name, attribute)
        if key in self.mismatches:
            self.mismatches[key].calls += 1
            return
        self.mismatches[key] = Mismatch(
            name, type(mod).__name__, attribute, declared, needed, received, suggestion, note=note
        )


def before_flatten(records: list[LayerRecord], index: int, features: int) -> Shape | None:
    """The multi-dimensional output that was flattened into the ``features`` a Linear at ``index`` receives.

    Walks back through the records before the Linear (skipping its own ancestors) to the last output of
    three or more dimensions; it counts only if its per-sample size is ``features``.
    """
    ancestors = set()
    parent = records[index].parent
    while parent is not None:
        ancestors.add(parent)
        parent = records[parent].parent
    for j in range(index - 1, -1, -1):
        rec = records[j]
        if j in ancestors or not rec.output_shapes:
            continue
        if rec.type == "Linear":
            return None
        shape = rec.output_shapes[0]
        if len(shape) >= 3:
            return shape if math.prod(shape[1:]) == features else None
    return None


