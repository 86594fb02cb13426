"""``archinspect.explain`` / ``archinspect shapes --explain``: the arithmetic behind every layer's figures.

For each module call of one pass, with the layer's own numbers filled in: how its output shape follows
from its input (a convolution's ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1, ceil mode for pooling, adaptive pooling,
flatten's 256·5·5 = 6400), how many parameters it holds (k·k·C_in/groups·C_out + bias) and how many MACs
it runs (output positions × k·k·C_in/groups × C_out). What a module's own ``forward`` does between its
children is seen in the operator stream (:class:`OperatorLog`, an observer of the one pass): every
``torch.cat`` (channels add up), residual ``+`` (shapes must agree) and flattening ``view``. Every formula
is checked against what the pass counted: a formula that disagrees is not shown as the reason, the
counted figure is.

Ends with the answers to the notes' questions: which layers dominate parameters, MACs and activation
memory. Built from the :class:`~archinspect.core.report.Report` and each module's attributes (kernel,
stride, padding, dilation, groups, ceil mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.summary import resolve
from archinspect.analyses.tolerant import before_flatten
from archinspect.core.compat import ConvNd, NormBase
from archinspect.core.observe import PassObserver, PassRun
from archinspect.core.options import DEFAULT_DEPTH
from archinspect.core.report import LayerRecord, Report
from archinspect.display import Displayable
from archinspect.errors import typed_errors
from archinspect.text import dims_text, fmt_int, shape_text

AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


@dataclass
class LayerExplanation:
    """One module call: its shapes and figures, and the arithmetic behind each (lines of text)."""

    index: int
    name: str
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params: int
    macs: int | float
    shape: list[str] = field(default_factory=list)
    params_rule: list[str] = field(default_factory=list)
    macs_rule: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name or '(model)'} ({self.type})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "params": self.params,
            "macs": self.macs,
            "shape": list(self.shape),
            "params_rule": list(self.params_rule),
            "macs_rule": list(self.macs_rule),
        }


@dataclass(frozen=True)
class Leader:
    """One of the layers that dominate a figure: its name, value and share of the whole."""

    name: str
    type: str
    value: int | float
    share: float


@dataclass(repr=False)  # Displayable's short repr; print() shows the explanation
class Explanation(Displayable):
    """The result of :func:`explain`: one :class:`LayerExplanation` per layer with something to explain,
    the layers left out (shape kept, nothing held, nothing multiplied) by type, and the leaders."""

    model_name: str
    input_text: str
    report: Report = field(repr=False)
    layers: list[LayerExplanation]
    kept: dict[str, int]  # type -> calls of layers that keep their input's shape and hold/multiply nothing
    dominant: dict[str, list[Leader]]  # "params", "macs", "activations" -> top layers

    def layer(self, name: str) -> LayerExplanation:
        """The explanation of the (first call of the) layer named ``name``."""
        for entry in self.layers:
            if entry.name == name:
                return entry
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "input": self.input_text,
            "layers": [entry.to_dict() for entry in self.layers],
            "kept": dict(self.kept),
            "dominant": {k: [vars(x) for x in v] for k, v in self.dominant.items()},
        }


@typed_errors
def explain(
    model: nn.Module | str,
    input_size: Any = None,
    *,
    input_data: Any = None,
    device: str = "auto",
    mode: str = "eval",
    dtype: str | None = None,
    kwargs: dict[str, Any] | None = None,
    top: int = 3,
    **model_args: Any,
) -> Explanation:
    """Run ``model`` once and explain, layer by layer, the arithmetic behind each output shape, parameter
    count and MAC count; end with the ``top`` layers by parameters, MACs and activation memory.

    ``model``, ``input_size``, ``input_data``, ``device``, ``mode``, ``dtype``, ``kwargs`` and ``model_args``
    as for :func:`archinspect.summary`. The result prints as text readable at 80 columns and shows as
    HTML in a notebook.

    Example:
        >>> archinspect.explain("d2l-alexnet", (1, 1, 224, 224)).layer("0").shape
        ['H, W: ⌊(224 + 2·1 − 11)/4⌋ + 1 = 54', 'C: out_channels = 96']
    """
    target = resolve(model, input_size, input_data, device=device, model_args=model_args, kwargs=kwargs)
    log = OperatorLog()
    report = target.inspect(depth=DEFAULT_DEPTH, mode=mode, dtype=dtype, observers=[log])
    return explain_report(report, log, top=top)


@dataclass(frozen=True)
class OpEvent:
    """One operator a module's own forward ran that changes how shapes combine: ``cat`` (with its ``dim``),
    ``add`` (two tensors of the output's shape) or ``flatten`` (a ``view`` merging trailing dimensions)."""

    kind: str
    inputs: tuple[tuple[int, ...], ...]
    output: tuple[int, ...]
    dim: int = 1


class OperatorLog(PassObserver):
    """Keeps, per record (the innermost module running), its concatenations, residual adds and flattening
    views, from the pass's operator stream; ``modules``: name -> the module that ran (for its attributes)."""

    def __init__(self) -> None:
        self.run: PassRun | None = None
        self.events: dict[int, list[OpEvent]] = {}
        self.modules: dict[str, nn.Module] = {}

    def start(self, run: PassRun) -> None:
        self.run = run
        self.modules = dict(run.model.named_modules())

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        run = self.run
        if run is None or not run.stack:
            return
        event = _event(func.overloadpacket.__name__, args, kwargs, out)
        if event is not None:
            self.events.setdefault(run.stack[-1], []).append(event)


def _event(name: str, args: tuple, kwargs: dict, out: Any) -> OpEvent | None:
    shape = getattr(out, "shape", None)
    if shape is None or not args:
        return None
    kind = _EVENT_KINDS.get(name)
    return kind(args, kwargs, tuple(shape)) if kind is not None else None


def _cat_event(args: tuple, kwargs: dict, out: tuple[int, ...]) -> OpEvent | None:
    if not isinstance(args[0], (list, tuple)):
        return None
    inputs = tuple(tuple(t.shape) for t in args[0] if hasattr(t, "shape") and t.dim() > 0)
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    return OpEvent("cat", inputs, out, dim % len(out)) if len(inputs) > 1 else None


def _add_event(args: tuple, kwargs: dict, out: tuple[int, ...]) -> OpEvent | None:
    """Two tensors of the output's shape added (a residual add), not a bias or a scalar."""
    if len(args) < 2 or not all(hasattr(a, "shape") for a in args[:2]):
        return None
    shapes = (tuple(args[0].shape), tuple(args[1].shape))
    return OpEvent("add", shapes, out) if len(out) >= 2 and shapes[0] == shapes[1] == out else None


def _view_event(args: tuple, kwargs: dict, out: tuple[int, ...]) -> OpEvent | None:
    """A view that keeps the leading dimensions and merges the rest into the last (flatten)."""
    if not hasattr(args[0], "shape"):
        return None
    before = tuple(args[0].shape)
    keep = len(out) - 1
    if len(before) >= 3 and 2 <= len(out) < len(before) and before[:keep] == out[:keep]:
        return OpEvent("flatten", (before,), out, keep)
    return None


_EVENT_KINDS = {
    "cat": _cat_event,
    "add": _add_event,
    "add_": _add_event,
    "view": _view_event,
    "_unsafe_view": _view_event,
    "reshape": _view_event,
}


def explain_report(report: Report, log: OperatorLog, top: int = 3) -> Explanation:
    """The :class:`Explanation` of a pass run with ``log`` among its observers."""
    layers: list[LayerExplanation] = []
    kept: dict[str, int] = {}
    for rec in report.records:
        if not rec.ran:
            continue
        entry = _explain_record(rec, log.modules.get(rec.name), report, log.events.get(rec.index, []))
        if entry is None:
            if rec.is_leaf:
                kept[rec.type] = kept.get(rec.type, 0) + 1
            continue
        layers.append(entry)
    return Explanation(report.model_name, report.input_text(), report, layers, kept, leaders(report, top))


def leaders(report: Report, top: int = 3) -> dict[str, list[Leader]]:
    """The ``top`` leaf layers by parameters, MACs and output (activation) bytes, with their shares."""
    leaves = [r for r in report.records if r.ran and r.is_leaf]
    out: dict[str, list[Leader]] = {}
    for key, value in (
        ("params", lambda r: r.params),
        ("macs", lambda r: r.macs),
        ("activations", lambda r: r.output_bytes),
    ):
        total = sum(value(r) for r in leaves) or 1
        ranked = sorted((r for r in leaves if value(r)), key=lambda r: -value(r))[:top]
        out[key] = [Leader(r.name or r.type, r.type, value(r), value(r) / total) for r in ranked]
    return out


# ---- one record ----


def _explain_record(
    rec: LayerRecord, module: nn.Module | None, report: Report, events: list[OpEvent]
) -> LayerExplanation | None:
    shape_in = rec.input_shapes[0] if rec.input_shapes else None
    shape_out = rec.output_shapes[0] if rec.output_shapes else None
    entry = LayerExplanation(rec.index, rec.name, rec.type, shape_in, shape_out, rec.params, rec.macs)
    rule = _rule_for(module) if not rec.children and shape_in is not None and shape_out is not None else None
    if rule is not None:
        rule(entry, module, rec, report)
    else:
        entry.shape = _forward_lines(events)
    if rec.children:
        return entry if entry.shape else None
    _fill_generic(entry, module, rec)
    return entry if entry.shape or entry.params_rule or entry.macs_rule else None


def _rule_for(module: nn.Module | None) -> Any:
    """The explaining function for ``module``'s type, or None."""
    if module is None:
        return None
    return next((rule for kinds, rule in _RULES if isinstance(module, kinds)), None)


def _fill_generic(entry: LayerExplanation, module: nn.Module | None, rec: LayerRecord) -> None:
    """What no type rule said: the parameters by tensor, the counted MACs, the shape change."""
    if not entry.params_rule and rec.params:
        entry.params_rule = _generic_params(module, rec.params)
    if not entry.macs_rule and rec.macs:
        entry.macs_rule = [f"{fmt_int(rec.macs)} (counted at the dispatch)"]
    if not entry.shape and entry.input_shape != entry.output_shape:
        entry.shape = [f"{_shapes(rec.input_shapes)} → {_shapes(rec.output_shapes)}"]


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join(shape_text(s) for s in shapes) or "—"


def _per_axis(value: Any, n: int) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _window_line(size: int, k: int, s: int, p: int, d: int, ceil: bool = False) -> tuple[str, int]:
    """The text and value of one axis's output size for a sliding window (conv or pool):
    ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1, written ⌊(H + 2p − k)/s⌋ + 1 when d = 1, ⌈…⌉ in ceil mode."""
    pad = f" + 2·{p}" if p else ""
    inner = f"{size}{pad} − {k}" if d == 1 else f"{size}{pad} − {d}·({k} − 1) − 1"
    reach = size + 2 * p - d * (k - 1) - 1
    if s == 1:
        return f"{inner} + 1 = {reach + 1}", reach + 1
    value = (-(-reach // s) if ceil else reach // s) + 1
    left, right = ("⌈", "⌉") if ceil else ("⌊", "⌋")
    text = f"{left}({inner})/{s}{right} + 1"
    if ceil and (value - 1) * s >= size + p:  # PyTorch: the last window must start inside the input or left pad
        value -= 1
        return f"{text} − 1 = {value} (the last window would start in the padding)", value
    return f"{text} = {value}", value


def _spatial_lines(
    ins: tuple[int, ...], outs: tuple[int, ...], k: Any, s: Any, p: Any, d: Any, ceil: bool = False
) -> list[str]:
    n = len(ins)
    k, s, d = _per_axis(k, n), _per_axis(s, n), _per_axis(d, n)
    if isinstance(p, str):  # 'same' keeps the size (stride 1); 'valid' pads nothing
        if p == "same":
            return [f"{', '.join(AXES.get(n, ()))}: padding='same' keeps {dims_text(ins)}"]
        p = 0
    p = _per_axis(p, n)
    lines = []
    for axis in range(n):
        text, value = _window_line(ins[axis], k[axis], s[axis], p[axis], d[axis], ceil)
        if value != outs[axis]:
            text = f"{ins[axis]} → {outs[axis]} (as it ran)"
        lines.append(text)
    names = AXES.get(n, tuple(f"d{i}" for i in range(n)))
    if len(set(lines)) == 1 and len(set(ins)) == 1:
        return [f"{', '.join(names)}: {lines[0]}"]
    return [f"{name}: {text}" for name, text in zip(names, lines, strict=True)]


def _conv(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    shape_in, shape_out = entry.input_shape, entry.output_shape
    assert shape_in is not None and shape_out is not None
    n = len(shape_in) - 2
    k = _per_axis(m.kernel_size, n)
    transposed = isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    if transposed:
        entry.shape = _transposed_lines(m, shape_in[2:], shape_out[2:])
    else:
        entry.shape = _spatial_lines(shape_in[2:], shape_out[2:], k, m.stride, m.padding, m.dilation)
    entry.shape.append(f"C: out_channels = {m.out_channels}")
    g = m.groups
    kk = "·".join(map(str, k))
    c_in = f"({m.in_channels}/{g})" if g > 1 else f"{m.in_channels}"
    per = math.prod(k) * (m.in_channels // g)
    weight = per * m.out_channels
    bias = m.out_channels if m.bias is not None else 0
    bias_text = f" + {m.out_channels} bias" if bias else " (no bias)"
    entry.params_rule = [f"{kk}·{c_in}·{m.out_channels}{bias_text} = {fmt_int(weight + bias)}"]
    if g > 1:
        entry.params_rule.append(f"groups={g}: each output channel sees {m.in_channels // g} input channels")
    if transposed:
        positions, pos_shape = math.prod(shape_in[2:]) * shape_in[0], shape_in[2:]
        per_pos = math.prod(k) * (m.out_channels // g) * m.in_channels
        macs = positions * per_pos
        rule = f"{_positions(shape_in[0], pos_shape)} input positions × {kk}·({m.out_channels}/{g})·{m.in_channels}"
    else:
        positions, pos_shape = math.prod(shape_out[2:]) * shape_out[0], shape_out[2:]
        macs = positions * per * m.out_channels
        rule = f"{_positions(shape_out[0], pos_shape)} positions × {kk}·{c_in} × {m.out_channels}"
    entry.macs_rule = _checked(rule, macs, rec.macs)
    if weight + bias != rec.params:
        entry.params_rule = [f"{fmt_int(rec.params)} (shared parameters are counted at their first owner)"]


def _transposed_lines(m: Any, ins: tuple[int, ...], outs: tuple[int, ...]) -> list[str]:
    n = len(ins)
    k, s, p, d = (_per_axis(v, n) for v in (m.kernel_size, m.stride, m.padding, m.dilation))
    op = _per_axis(m.output_padding, n)
    lines = []
    for a in range(n):
        value = (ins[a] - 1) * s[a] - 2 * p[a] + d[a] * (k[a] - 1) + op[a] + 1
        text = f"({ins[a]} − 1)·{s[a]} − 2·{p[a]} + {d[a]}·({k[a]} − 1) + {op[a]} + 1 = {value}"
        lines.append(text if value == outs[a] else f"{ins[a]} → {outs[a]} (as it ran)")
    names = AXES.get(n, ())
    if len(set(lines)) == 1:
        return [f"{', '.join(names)}: {lines[0]}"]
    return [f"{a}: {t}" for a, t in zip(names, lines, strict=True)]


def _positions(batch: int, spatial: tuple[int, ...]) -> str:
    inner = "·".join(map(str, spatial)) or "1"
    return inner if batch == 1 else f"{batch}·{inner}"


def _checked(rule: str, formula: int, counted: int | float) -> list[str]:
    """``rule = value``, or the counted figure when the formula does not give what the pass counted."""
    if formula == counted:
        return [f"{rule} = {fmt_int(formula)}"]
    return [f"{rule} = {fmt_int(formula)}; counted {fmt_int(counted)} (the pass's figure)"]


def _linear(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    shape_in, shape_out = entry.input_shape, entry.output_shape
    assert shape_in is not None and shape_out is not None
    entry.shape = [f"last dim: {shape_in[-1]} → out_features = {m.out_features}"]
    flat = before_flatten(report.records, rec.index, shape_in[-1]) if len(shape_in) == 2 else None
    if flat is not None:
        entry.shape.insert(0, f"receives {dims_text(flat[1:])} = {shape_in[-1]} (flattened {shape_text(flat)})")
    bias = m.out_features if m.bias is not None else 0
    bias_text = f" + {m.out_features} bias" if bias else " (no bias)"
    held = m.in_features * m.out_features + bias
    entry.params_rule = [f"{m.in_features}·{m.out_features}{bias_text} = {fmt_int(held)}"]
    rows = math.prod(shape_in[:-1])
    rule = f"{rows} row{'s' if rows > 1 else ''} × {m.in_features} × {m.out_features}"
    entry.macs_rule = _checked(rule, rows * m.in_features * m.out_features, rec.macs)


def _pool(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    shape_in, shape_out = entry.input_shape, entry.output_shape
    assert shape_in is not None and shape_out is not None
    stride = m.stride if m.stride is not None else m.kernel_size
    dilation = getattr(m, "dilation", 1)
    ceil = bool(getattr(m, "ceil_mode", False))
    entry.shape = _spatial_lines(shape_in[2:], shape_out[2:], m.kernel_size, stride, m.padding, dilation, ceil)
    if ceil:
        entry.shape.append("ceil_mode=True: a partial window at the edge still gives an output")
    entry.shape.append(f"C: kept ({shape_in[1]})")


def _adaptive(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    shape_in, shape_out = entry.input_shape, entry.output_shape
    assert shape_in is not None and shape_out is not None
    entry.shape = [
        f"output_size {m.output_size}: {dims_text(shape_in[2:])} → {dims_text(shape_out[2:])} whatever the input size",
        f"C: kept ({shape_in[1]})",
    ]


def _flatten(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    shape_in, shape_out = entry.input_shape, entry.output_shape
    assert shape_in is not None and shape_out is not None
    start, end = m.start_dim % len(shape_in), m.end_dim % len(shape_in)
    dims = shape_in[start : end + 1]
    entry.shape = [f"dims {start}..{end}: {'·'.join(map(str, dims))} = {math.prod(dims)}"]


def _norm(entry: LayerExplanation, m: Any, rec: LayerRecord, report: Report) -> None:
    if isinstance(m, NormBase):
        n, what = m.num_features, "C"
    elif isinstance(m, nn.GroupNorm):
        n, what = m.num_channels, "C"
    else:
        n, what = math.prod(m.normalized_shape), "·".join(map(str, m.normalized_shape))
    held = rec.params
    if held == 2 * n:
        entry.params_rule = [f"weight + bias = 2·{what if what != 'C' else n} = {fmt_int(held)}"]
        if isinstance(m, NormBase):
            entry.params_rule[0] += " (running mean and variance are buffers)"


_RULES: list[tuple[Any, Any]] = [
    ((ConvNd,), _conv),
    ((nn.Linear,), _linear),
    ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d), _pool),
    (
        (
            nn.AdaptiveAvgPool1d,
            nn.AdaptiveAvgPool2d,
            nn.AdaptiveAvgPool3d,
            nn.AdaptiveMaxPool1d,
            nn.AdaptiveMaxPool2d,
            nn.AdaptiveMaxPool3d,
        ),
        _adaptive,
    ),
    ((nn.Flatten,), _flatten),
    ((NormBase, nn.LayerNorm, nn.GroupNorm), _norm),
]


def _generic_params(module: nn.Module | None, counted: int) -> list[str]:
    if module is None:
        return [fmt_int(counted)]
    parts = [(n, tuple(p.shape), p.numel()) for n, p in module.named_parameters(recurse=False)]
    if not parts or sum(x[2] for x in parts) != counted:
        return [f"{fmt_int(counted)} (shared parameters are counted at their first owner)"]
    text = " + ".join(f"{n} {dims_text(s)}" for n, s, _ in parts)
    return [f"{text} = {fmt_int(counted)}"]


# ---- what a module's own forward did between its children: concatenations, residual adds, flattening ----


def _forward_lines(events: list[OpEvent]) -> list[str]:
    lines: list[str] = []
    cats = [e for e in events if e.kind == "cat"]
    chain = len(cats) > 1 and all(b.inputs[0] == a.output for a, b in zip(cats, cats[1:], strict=False))
    if chain and all(len(e.inputs) == 2 and e.dim == cats[0].dim for e in cats):  # x = cat(x, block(x)), again
        first, last = cats[0], cats[-1]
        d = first.dim
        grown = [e.inputs[1][d] for e in cats]
        lines.append(f"{_dim_name(d)}: {first.inputs[0][d]} (input) + {_sum_text(grown)} = {last.output[d]}")
        lines[-1] = f"concatenation on {lines[-1]}"
    else:
        for e in cats:
            terms = " + ".join(str(shape[e.dim]) for shape in e.inputs)
            lines.append(f"concatenation on {_dim_name(e.dim)}: {terms} = {e.output[e.dim]}")
    adds = [e for e in events if e.kind == "add"]
    for shape, count in _counted(e.output for e in adds):
        times = f" ×{count}" if count > 1 else ""
        lines.append(f"residual add{times}: {shape_text(shape)} + {shape_text(shape)} (shapes must agree)")
    for e in events:
        if e.kind == "flatten":
            merged = e.inputs[0][e.dim :]
            lines.append(f"flatten: {'·'.join(map(str, merged))} = {math.prod(merged)}")
    return lines


def _dim_name(dim: int) -> str:
    return "channels" if dim == 1 else f"dim {dim}"


def _counted(shapes: Any) -> list[tuple[tuple[int, ...], int]]:
    out: dict[tuple[int, ...], int] = {}
    for shape in shapes:
        out[shape] = out.get(shape, 0) + 1
    return list(out.items())


def _sum_text(values: list[int]) -> str:
    """``12 + 12 + 12`` as ``3·12`` (one growth rate); different values spelled out."""
    if len(values) > 2 and len(set(values)) == 1:
        return f"{len(values)}·{values[0]}"
    return " + ".join(map(str, values))
