"""``archinspect fit``: what each layer needs, found in one tolerant pass.

The notes' trick for ``nn.Linear(?, 10)`` is to comment the fc call out, push a batch through and read
the shape. :func:`fit` does it for every layer at once: a :class:`TolerantPass` answers the engine's
module calls for Linear (``in_features``), Conv1d/2d/3d (``in_channels``, ``groups``), BatchNorm1d/2d/3d
(``num_features``), LayerNorm (``normalized_shape``) and GroupNorm (``num_channels``, ``num_groups``).
A layer that receives what it declares runs as written; one that does not is recorded as a
:class:`Mismatch` and answered with a stand-in output of the shape it would produce once fixed, so the
pass goes on and one run finds every mismatch.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name

from archinspect.core import engine
from archinspect.core.inputs import InputSpec
from archinspect.core.report import LayerRecord, Report
from archinspect.errors import ModelRunError
from archinspect.render.table import dims_text, shape_text

Shape = tuple[int, ...]

_CONV_DIMS = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
# Layers whose output has their input's shape: the solver's probes answer them without running them
# (on the meta device BatchNorm runs a slow Python decomposition and only the shape matters there).
_SHAPE_PRESERVING = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.modules.dropout._DropoutNd,
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


@dataclass
class LinearUse:
    """What one Linear call receives (every Linear is listed, matching or not)."""

    layer: str
    in_features: int
    out_features: int
    received: Shape
    before_flatten: Shape | None = None
    matches: bool = True

    @property
    def features(self) -> int:
        return self.received[-1] if self.received else 0

    @property
    def origin(self) -> str:
        """``88×10×10 after flatten`` or ``''``."""
        return f"{dims_text(self.before_flatten[1:])} after flatten" if self.before_flatten else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "received": list(self.received),
            "before_flatten": list(self.before_flatten) if self.before_flatten else None,
            "matches": self.matches,
        }


@dataclass
class FitReport:
    """The result of :func:`fit`: every mismatch, what each Linear receives, maybe the sizes that fit."""

    model_name: str
    inputs: list[InputSpec]
    device: str
    mismatches: list[Mismatch]
    linears: list[LinearUse]
    output_shapes: list[Shape]
    notes: list[str] = field(default_factory=list)
    solve: Any = None  # a solve.SolveResult when the input sizes were searched
    report: Report | None = field(default=None, repr=False)  # the tolerant pass's inspection report

    @property
    def consistent(self) -> bool:
        return not self.mismatches

    @property
    def linear_mismatches(self) -> list[Mismatch]:
        return [m for m in self.mismatches if m.type == "Linear" or m.attribute == "in_features"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (keys documented in docs/fit.md)."""
        return {
            "model": self.model_name,
            "inputs": [{"shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "device": self.device,
            "consistent": self.consistent,
            "mismatches": [m.to_dict() for m in self.mismatches],
            "linears": [u.to_dict() for u in self.linears],
            "output_shapes": [list(s) for s in self.output_shapes],
            "notes": list(self.notes),
            "solve": self.solve.to_dict() if self.solve is not None else None,
        }


def _first_tensor(args: tuple, kwargs: dict) -> torch.Tensor | None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value
    return None


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


class TolerantPass:
    """An engine interceptor that checks declared sizes, records mismatches and steps over them.

    ``fast``: also answer shape-preserving layers (norms, activations, dropout) with their input, for
    the solver's shape-only probes on the meta device.
    """

    def __init__(self, *, fast: bool = False) -> None:
        self.fast = fast
        self.mismatches: dict[tuple[str, str], Mismatch] = {}
        self.linear_calls: list[tuple[str, nn.Linear, Shape]] = []

    def __call__(self, name: str, mod: nn.Module, args: tuple, kwargs: dict) -> Any:
        x = _first_tensor(args, kwargs)
        if x is None:
            return engine.NOT_HANDLED
        if isinstance(mod, nn.modules.lazy.LazyModuleMixin) and mod.has_uninitialized_params():
            return engine.NOT_HANDLED
        shape = tuple(x.shape)
        if isinstance(mod, nn.Linear):
            return self._linear(name, mod, x, shape)
        for cls, dims in _CONV_DIMS.items():
            if isinstance(mod, cls):
                return self._conv(name, mod, dims, x, shape)
        answer = engine.NOT_HANDLED
        if isinstance(mod, _BATCHNORMS) and x.dim() >= 2 and shape[1] != mod.num_features:
            suggestion = f"nn.{type(mod).__name__}({shape[1]})"
            self._record(name, mod, "num_features", mod.num_features, shape[1], shape, suggestion)
            answer = x
        elif isinstance(mod, nn.LayerNorm):
            k = len(mod.normalized_shape)
            if x.dim() >= k and shape[-k:] != tuple(mod.normalized_shape):
                need = shape[-k:]
                arg = need[0] if k == 1 else need
                declared = tuple(mod.normalized_shape)
                self._record(name, mod, "normalized_shape", declared, need, shape, f"nn.LayerNorm({arg})")
                answer = x
        elif isinstance(mod, nn.GroupNorm) and x.dim() >= 2:
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
                answer = x
        if answer is engine.NOT_HANDLED and self.fast and isinstance(mod, _SHAPE_PRESERVING):
            answer = x
        return _stand_in(shape, x) if answer is x and not self.fast else answer

    def _linear(self, name: str, mod: nn.Linear, x: torch.Tensor, shape: Shape) -> Any:
        self.linear_calls.append((name, mod, shape))
        if x.dim() == 0 or shape[-1] == mod.in_features:
            return engine.NOT_HANDLED
        bias = "" if mod.bias is not None else ", bias=False"
        suggestion = f"nn.Linear({shape[-1]}, {mod.out_features}{bias})"
        self._record(name, mod, "in_features", mod.in_features, shape[-1], shape, suggestion)
        return _stand_in((*shape[:-1], mod.out_features), x)

    def _conv(self, name: str, mod: nn.Module, dims: int, x: torch.Tensor, shape: Shape) -> Any:
        if x.dim() not in (dims + 1, dims + 2):
            return engine.NOT_HANDLED  # let the layer say what is wrong with the rank
        channels = shape[x.dim() - dims - 1]
        if channels == mod.in_channels:
            return engine.NOT_HANDLED
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


def _linear_uses(report: Report, calls: list[tuple[str, nn.Linear, Shape]]) -> list[LinearUse]:
    """Pair the interceptor's Linear calls with their records (same order) to find what was flattened."""
    by_name: dict[str, list[int]] = {}
    for rec in report.records:
        if rec.ran:
            by_name.setdefault(rec.name, []).append(rec.index)
    seen: dict[str, int] = {}
    uses = []
    for name, mod, shape in calls:
        n = seen.get(name, 0)
        seen[name] = n + 1
        indices = by_name.get(name, [])
        flat = None
        if len(shape) == 2 and n < len(indices):
            flat = before_flatten(report.records, indices[n], shape[-1])
        fits = shape[-1] == mod.in_features
        uses.append(LinearUse(name, mod.in_features, mod.out_features, shape, flat, matches=fits))
    return uses


def fit(
    model: nn.Module,
    inputs: Any,
    *,
    device: str = "meta",
    mode: str = "eval",
    model_name: str | None = None,
    sites: Mapping[str, str] | None = None,
    solve: bool | None = None,
    max_size: int | None = None,
) -> FitReport:
    """Run ``model`` once on dummy ``inputs``, stepping over every size mismatch, and report them all.

    ``sites``: layer name -> "file:line" where it was constructed (see :func:`construction_sites`).
    ``solve``: also search the input sizes that fit the model as written (``None``: only when a Linear
    mismatches and the input has spatial dimensions). Raises :class:`ModelRunError` naming the failing
    layer when the model fails for a reason fit cannot step over (a reshape to a hard-coded size, ...).
    """
    tolerant = TolerantPass()
    try:
        kwargs = {"device": device, "mode": mode, "model_name": model_name}
        report = engine.inspect(model, inputs, intercept=tolerant, **kwargs)
    except ModelRunError as err:
        text = str(err)
        if getattr(err, "too_small", False) and "smallest input" not in text:
            from archinspect.analyses.solve import smallest_runnable_size

            with contextlib.suppress(Exception):  # the search must never hide the failure itself
                shape = smallest_runnable_size(model, inputs, mode=mode)
                text += f"; smallest input that runs is {dims_text(shape[2:])}" if shape else ""
        if tolerant.mismatches:
            text += f" (before that, fit found: {'; '.join(m.message for m in tolerant.mismatches.values())})"
        if text == str(err):
            raise
        wrapped = ModelRunError(text)
        wrapped.__dict__.update(err.__dict__)  # keep .layer, .too_small
        raise wrapped from err
    uses = _linear_uses(report, tolerant.linear_calls)
    mismatches = list(tolerant.mismatches.values())
    for m in mismatches:
        if m.attribute == "in_features":
            flats = [u.before_flatten for u in uses if u.layer == m.layer and not u.matches]
            m.before_flatten = flats[0] if flats else None
        if sites:
            m.location = sites.get(m.layer)
    result = FitReport(
        model_name=report.model_name,
        inputs=list(report.inputs),
        device=report.device,
        mismatches=mismatches,
        linears=uses,
        output_shapes=report.output_shapes,
        notes=list(report.notes),
        report=report,
    )
    spatial = len(result.inputs[0].shape) > 2 if result.inputs else False
    if solve or (solve is None and spatial and result.linear_mismatches):
        from archinspect.analyses.solve import valid_input_sizes

        try:
            result.solve = valid_input_sizes(model, result.inputs, mode=mode, max_size=max_size)
        except ModelRunError as err:
            result.notes.append(f"input sizes not searched: {err}")
    return result


class ConstructionSites:
    """Where in one source file each module was constructed (noted inside :func:`construction_sites`)."""

    def __init__(self, source_file: str) -> None:
        self.path = source_file
        self._real = os.path.realpath(source_file)
        self._cache: dict[str, bool] = {}
        self._lines: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()

    def _is_source(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            hit = self._cache[filename] = os.path.realpath(filename) == self._real
        return hit

    def note(self, module: nn.Module) -> None:
        frame = sys._getframe(2)
        while frame is not None:
            if self._is_source(frame.f_code.co_filename):
                with contextlib.suppress(TypeError):
                    self._lines.setdefault(module, frame.f_lineno)
                return
            frame = frame.f_back

    def for_model(self, model: nn.Module) -> dict[str, str]:
        """Layer name -> ``file:line`` for every module of ``model`` constructed in the file."""
        out = {}
        for name, mod in model.named_modules():
            line = self._lines.get(mod)
            if line is not None:
                out[name] = f"{self.path}:{line}"
        return out


@contextlib.contextmanager
def construction_sites(source_file: str) -> Iterator[ConstructionSites]:
    """Note the file:line of every ``nn.Module`` constructed from ``source_file`` inside the block.

    ``nn.Module.__init__`` is wrapped for the duration (every subclass reaches it through ``super()``) and
    restored in ``finally``.
    """
    sites = ConstructionSites(source_file)
    original = nn.Module.__init__

    def init(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        sites.note(self)

    nn.Module.__init__ = init  # type: ignore[method-assign]
    try:
        yield sites
    finally:
        nn.Module.__init__ = original  # type: ignore[method-assign]
