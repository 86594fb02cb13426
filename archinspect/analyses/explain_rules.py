"""The arithmetic of one module call, by layer type: how its output shape follows from its input and the
module's attributes, how many parameters it holds, how many MACs it runs — each with the layer's own numbers,
each checked against what the pass counted (a rule that disagrees shows the counted figure instead).

Convolutions (dilation, groups, transposed), window pooling (ceil mode and PyTorch's last-window rule),
adaptive pooling, linear, flatten, normalisation; :func:`rule_for` picks the rule for a module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.tolerant import before_flatten
from archinspect.core.compat import ConvNd, NormBase
from archinspect.core.report import LayerRecord, Report
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


def generic_params(module: nn.Module | None, counted: int) -> list[str]:
    if module is None:
        return [fmt_int(counted)]
    parts = [(n, tuple(p.shape), p.numel()) for n, p in module.named_parameters(recurse=False)]
    if not parts or sum(x[2] for x in parts) != counted:
        return [f"{fmt_int(counted)} (shared parameters are counted at their first owner)"]
    text = " + ".join(f"{n} {dims_text(s)}" for n, s, _ in parts)
    return [f"{text} = {fmt_int(counted)}"]


def rule_for(module: nn.Module | None) -> Any:
    """The explaining function for ``module``'s type, or None."""
    if module is None:
        return None
    return next((rule for kinds, rule in _RULES if isinstance(module, kinds)), None)
