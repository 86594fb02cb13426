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
memory, and, given a profile of the same model (``profile=``, from :func:`archinspect.profile`), time.
Built from the :class:`~archinspect.core.report.Report` and each module's attributes (kernel, stride,
padding, dilation, groups, ceil mode).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.analyses.explain_rules import LayerExplanation, generic_params, rule_for
from archinspect.analyses.summary import resolve
from archinspect.core.observe import PassObserver, PassRun
from archinspect.core.options import DEFAULT_DEPTH
from archinspect.core.report import LayerRecord, Report
from archinspect.display import Displayable
from archinspect.errors import UsageError, typed_errors
from archinspect.text import fmt_int, shape_text


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
    dominant: dict[str, list[Leader]]  # "params", "macs", "activations" (and "time") -> top layers
    timed: str = ""  # with "time": how it was measured ("median of 20 timed passes on cpu")

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
            "timed": self.timed,
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
    profile: Any = None,
    **model_args: Any,
) -> Explanation:
    """Run ``model`` once and explain, layer by layer, the arithmetic behind each output shape, parameter
    count and MAC count; end with the ``top`` layers by parameters, MACs and activation memory.

    ``model``, ``input_size``, ``input_data``, ``device``, ``mode``, ``dtype``, ``kwargs`` and ``model_args``
    as for :func:`archinspect.summary`. ``profile``: a :class:`~archinspect.bench.profile_report.ProfileReport`
    of the same model (``archinspect.profile(model, inputs)``): the ending then also names the ``top`` layers
    by measured time (each module's own time, its children's excluded), with the device and the number of
    timed passes their medians come from. The result prints as text readable at 80 columns and shows as
    HTML in a notebook.

    Example:
        >>> archinspect.explain("d2l-alexnet", (1, 1, 224, 224)).layer("0").shape
        ['H, W: ⌊(224 + 2·1 − 11)/4⌋ + 1 = 54', 'C: out_channels = 96']
    """
    target = resolve(model, input_size, input_data, device=device, model_args=model_args, kwargs=kwargs)
    log = OperatorLog()
    report = target.inspect(depth=DEFAULT_DEPTH, mode=mode, dtype=dtype, observers=[log])
    return explain_report(report, log, top=top, profile=profile)


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


def explain_report(report: Report, log: OperatorLog, top: int = 3, profile: Any = None) -> Explanation:
    """The :class:`Explanation` of a pass run with ``log`` among its observers; with a ``profile`` of the same
    model, the layers that dominate time too."""
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
    dominant = leaders(report, top)
    timed = ""
    if profile is not None:
        dominant["time"], timed = time_leaders(report, profile, top)
    return Explanation(report.model_name, report.input_text(), report, layers, kept, dominant, timed)


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


def time_leaders(report: Report, profile: Any, top: int = 3) -> tuple[list[Leader], str]:
    """The ``top`` module calls of ``profile`` (a :class:`~archinspect.bench.profile_report.ProfileReport`) by
    their own median time, each with its share of the per-module total, and how the times were measured.

    A module's own time is what ran outside its children (a leaf's whole time; a block's concatenations and
    adds), so the shares add up to at most 100 %. The profile must be of the model explained: every module
    call it timed is one of ``report``'s (same name, type and call)."""
    calls = {(r.name, r.type, r.call) for r in report.records}
    timed = [r for r in getattr(profile, "records", None) or [] if r.ran]
    stray = next((r for r in timed if (r.name, r.type, r.call) not in calls), None)
    if not timed or stray is not None:
        what = f"{stray.label} ({stray.type}) is not a layer of {report.model_name}" if stray else "nothing was timed"
        raise UsageError(f"profile: {what}; pass archinspect.profile(model, inputs) of the model explained")
    total = sum(r.self_s for r in timed) or 1.0
    ranked = sorted((r for r in timed if r.self_s > 0), key=lambda r: -r.self_s)[:top]
    settings = profile.settings
    how = f"median of {settings['repeats']} timed passes on {settings['device']}"
    return [Leader(r.label, r.type, r.self_s, r.self_s / total) for r in ranked], how


# ---- one record ----


def _explain_record(
    rec: LayerRecord, module: nn.Module | None, report: Report, events: list[OpEvent]
) -> LayerExplanation | None:
    shape_in = rec.input_shapes[0] if rec.input_shapes else None
    shape_out = rec.output_shapes[0] if rec.output_shapes else None
    entry = LayerExplanation(rec.index, rec.name, rec.type, shape_in, shape_out, rec.params, rec.macs)
    rule = rule_for(module) if not rec.children and shape_in is not None and shape_out is not None else None
    if rule is not None:
        rule(entry, module, rec, report)
    else:
        entry.shape = _forward_lines(events)
    if rec.children:
        return entry if entry.shape else None
    _fill_generic(entry, module, rec)
    return entry if entry.shape or entry.params_rule or entry.macs_rule else None


def _fill_generic(entry: LayerExplanation, module: nn.Module | None, rec: LayerRecord) -> None:
    """What no type rule said: the parameters by tensor, the counted MACs, the shape change."""
    if not entry.params_rule and rec.params:
        entry.params_rule = generic_params(module, rec.params)
    if not entry.macs_rule and rec.macs:
        entry.macs_rule = [f"{fmt_int(rec.macs)} (counted at the dispatch)"]
    if not entry.shape and entry.input_shape != entry.output_shape:
        entry.shape = [f"{_shapes(rec.input_shapes)} → {_shapes(rec.output_shapes)}"]


def _shapes(shapes: list[tuple[int, ...]]) -> str:
    return ", ".join(shape_text(s) for s in shapes) or "—"


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
