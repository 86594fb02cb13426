"""Other FLOP counters on the same model and input, each with the reason its figure differs from ours.

Every tool prints a different number for the same network because each counts something different:
fvcore's "flops" are MACs plus normalisation and adaptive pooling; torchinfo multiplies parameters by
output positions (so biases and BatchNorm weights count, functional matmul and attention do not);
PyTorch's own ``FlopCounterMode`` has no formula for some kernels (fused attention on CPU). For the
tools whose rules are exact, the row also shows what our own per-operator counts give when re-added
in that tool's convention, so a match is checkable rather than asserted.

The tools run in this process. fvcore and torchinfo run a real forward pass, so a model built on the
meta device is materialised as a private CPU copy (zero-filled: values do not change the count); the
user's model is never modified — a CPU model is borrowed with its train/eval flags restored, and tools
that write to the model they are given (thop, ptflops) get a copy.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.analyses.flops import FlopReport
from archinspect.core.categories import CostCategory
from archinspect.core.engine import run_pass
from archinspect.core.options import PassOptions
from archinspect.core.substitute import training_mode
from archinspect.core.target import Target
from archinspect.text import fmt_bytes, fmt_count, signed_parts

TOOLS = ("flop_counter", "fvcore", "torchinfo", "thop", "ptflops")


@dataclass
class ToolFigure:
    """One counter's figure for the model, and why it is not ours."""

    tool: str
    counts: str  # what its number is, e.g. "MACs + norm + pool"
    value: int | None  # None when the tool is missing or failed
    reason: str  # why it differs from our MACs / FLOPs
    expected: int | None = None  # our counts in that tool's convention, where its rules are exact
    status: str = "ok"  # "ok", "not installed", "failed: ..."
    seconds: float | None = None

    @property
    def matches(self) -> bool | None:
        if self.value is None or self.expected is None:
            return None
        return self.value == self.expected

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "counts": self.counts,
            "value": self.value,
            "expected_from_ours": self.expected,
            "matches": self.matches,
            "reason": self.reason,
            "status": self.status,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
        }


# ---- where the model and inputs for the other tools come from ---------------------------------------


def _on_device(model: nn.Module, kind: str) -> bool:
    """True when every parameter and buffer is on a ``kind`` device (or there are none)."""
    return all(t.device.type == kind for t in [*model.parameters(), *model.buffers()])


def materialise_cpu(model: nn.Module) -> nn.Module:
    """A private CPU copy of ``model`` (meta or any device): same structure, zero-filled tensors."""
    if _on_device(model, "meta"):
        clone = copy.deepcopy(model).to_empty(device="cpu")
        with torch.no_grad():
            for t in list(clone.parameters()) + list(clone.buffers()):
                t.zero_()
        return clone
    return copy.deepcopy(model).to("cpu")


class _Subject:
    """The model as the other tools get it: a CPU model (the user's, borrowed, or a private copy)."""

    def __init__(self, model: nn.Module, rebuild: Callable[[str], Any] | None) -> None:
        self.user = model
        self.rebuild = rebuild
        self.borrowed = _on_device(model, "cpu")
        self._cpu: nn.Module | None = model if self.borrowed else None

    def cpu(self) -> nn.Module:
        if self._cpu is None:
            try:
                self._cpu = materialise_cpu(self.user)
            except Exception:
                if self.rebuild is None:
                    raise
                self._cpu = self.rebuild("cpu")  # e.g. a module deepcopy cannot copy
        return self._cpu

    def writable(self) -> nn.Module:
        """A CPU model a tool may write attributes and buffers to."""
        return copy.deepcopy(self.cpu()) if self.borrowed else self.cpu()


class _Bound(nn.Module):
    """``model`` with inputs bound, for tools that pass only positional inputs (fvcore, thop) or one
    tensor (ptflops): calling it with the leading inputs adds the ``rest`` and the keyword inputs. It
    holds the model as its one child, so the tools' totals are the model's."""

    def __init__(self, model: nn.Module, rest: list[Any], keywords: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.rest = rest
        self.keywords = keywords

    def forward(self, *inputs: Any) -> Any:
        return self.model(*inputs, *self.rest, **self.keywords)


def _bind(model: nn.Module, keywords: dict[str, Any], rest: list[Any] | None = None) -> nn.Module:
    return _Bound(model, rest or [], keywords) if keywords or rest else model


# ---- the tools --------------------------------------------------------------------------------------


def _flop_counter(subject: _Subject, report: FlopReport, inputs: list[Any], keywords: dict[str, Any]) -> ToolFigure:
    from torch.utils.flop_counter import FlopCounterMode, flop_registry

    with FlopCounterMode(display=False) as counter:
        target = Target.of(subject.user, report.inputs, kwargs=report.keyword_inputs)
        run_pass(target, PassOptions.check(device=report.device, mode=report.mode, fallback=False))
    torch_ops = {getattr(packet, "__name__", str(packet)) for packet in flop_registry}
    unknown = [o for o in report.ops if o.macs and o.op not in torch_ops]
    missing = sum(o.macs for o in unknown)
    reason = "same convention"
    if unknown:
        reason += "; no formula for " + ", ".join(f"{o.op} (−{fmt_count(2 * o.macs)})" for o in unknown)
    return ToolFigure(
        "torch FlopCounterMode", "FLOPs", counter.get_total_flops(), reason, expected=2 * (report.totals.macs - missing)
    )


def _fvcore(subject: _Subject, report: FlopReport, inputs: list[Any], keywords: dict[str, Any]) -> ToolFigure:
    from fvcore.nn import FlopCountAnalysis

    with training_mode(subject.cpu(), report.mode) as model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(_bind(model, keywords), tuple(inputs))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        value = int(analysis.total())
        skipped = {k.removeprefix("aten::"): n for k, n in analysis.unsupported_ops().items() if "attention" in k}
    attention = sum(o.macs for o in report.ops if o.category is CostCategory.ATTENTION)
    norm = report.other_ops_of("norm")
    pool = sum(o.other_ops for o in report.ops if o.op == "adaptive_avg_pool2d")
    upsample = sum(o.other_ops for o in report.ops if o.op in ("upsample_nearest2d", "upsample_bilinear2d"))
    extras = signed_parts(("norm", norm), ("adaptive pool", pool), ("upsample", upsample), ("attention", -attention))
    reason = "its 'flops' are MACs" + (f"; {extras}" if extras else "")
    expected: int | None = int(report.totals.macs - attention + norm + pool + upsample)
    if skipped:
        reason += "; no handler for " + ", ".join(f"{k} ×{n}" for k, n in skipped.items()) + " (counted as 0)"
        if not attention:  # our pass ran attention unfused (bmm): its share cannot be told apart here
            expected = None
    return ToolFigure("fvcore", "MACs + norm + pool", value, reason, expected=expected)


def torchinfo_convention(report: FlopReport, model: nn.Module) -> int:
    """torchinfo's mult-adds from our records: every leaf layer call's weight and bias element count
    times its output positions (conv: batch × spatial; others: batch)."""
    modules = dict(model.named_modules())
    total = 0
    for rec in report.modules:
        mod = modules.get(rec.name)
        if mod is None or any(True for _ in mod.children()):
            continue
        shapes = rec.output_shapes
        if not shapes or not shapes[0]:
            continue
        out = shapes[0]
        for name, p in mod.named_parameters():
            if name in ("weight", "bias"):
                positions = out[0] * math.prod(out[2:]) if "Conv" in rec.type else out[0]
            elif "weight" in name or "bias" in name:
                positions = math.prod(out[:2])
            else:
                continue
            total += p.numel() * positions
    return total


def _torchinfo(subject: _Subject, report: FlopReport, inputs: list[Any], keywords: dict[str, Any]) -> ToolFigure:
    from torchinfo import summary

    with training_mode(subject.cpu(), report.mode) as model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bound = _bind(model, keywords)  # not summary(**keywords): its own parameters (mode, device) could clash
        stats = summary(bound, input_data=list(inputs), verbose=0, mode=report.mode, device="cpu")
    expected = torchinfo_convention(report, subject.user)
    extra = expected - report.totals.macs
    seen = "" if not extra else f" ({'+' if extra > 0 else '−'}{fmt_count(abs(extra))})"
    reason = f"params × output positions: +bias, +norm weights{seen}; no functional matmul/attention"
    return ToolFigure("torchinfo", "mult-adds", int(stats.total_mult_adds), reason, expected=expected)


def _thop(subject: _Subject, report: FlopReport, inputs: list[Any], keywords: dict[str, Any]) -> ToolFigure:
    import thop

    with training_mode(subject.writable(), report.mode) as model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = thop.profile(_bind(model, keywords), inputs=tuple(inputs), verbose=False)
    reason = "module hooks: +bias, +BatchNorm, +pooling; no functional ops (x @ w, attention)"
    return ToolFigure("thop", "MACs + extras", int(macs), reason)


def _ptflops(subject: _Subject, report: FlopReport, inputs: list[Any], keywords: dict[str, Any]) -> ToolFigure:
    from ptflops import get_model_complexity_info

    first, *rest = inputs
    with training_mode(subject.writable(), report.mode) as model, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = get_model_complexity_info(
            _bind(model, keywords, rest),
            tuple(first.shape[1:]),
            input_constructor=lambda _: first,
            as_strings=False,
            print_per_layer_stat=False,
            verbose=False,
        )
    reason = "+bias, +BatchNorm, +ReLU, +pooling"
    return ToolFigure("ptflops", "MACs + extras", int(macs or 0), reason)


def check_compare_memory(report: FlopReport) -> None:
    """Refuse (:class:`~archinspect.core.guard.ResourceError`) a comparison whose CPU runs would not fit: the
    weights twice (a private copy, a writable copy), the inputs, and every leaf layer's output (a traced run
    may hold them all), all from ``report`` (nothing allocated)."""
    from archinspect.core.guard import check_memory

    t = report.totals
    weights = 2 * (t.param_bytes + t.buffer_bytes)
    inputs = sum(spec.nbytes for spec in [*report.inputs, *report.keyword_inputs.values()])
    needed = weights + inputs + t.activation_bytes
    parts = f"weights {fmt_bytes(weights)}, inputs {fmt_bytes(inputs)}, activations {fmt_bytes(t.activation_bytes)}"
    check_memory(
        needed, "cpu", "comparing with the other tools (they run on CPU)", parts, instead="use a smaller input"
    )


_Runner = Callable[[_Subject, FlopReport, list[Any], dict[str, Any]], ToolFigure]
_RUNNERS: dict[str, tuple[str, str, _Runner]] = {
    "flop_counter": ("torch FlopCounterMode", "FLOPs", _flop_counter),
    "fvcore": ("fvcore", "MACs + norm + pool", _fvcore),
    "torchinfo": ("torchinfo", "mult-adds", _torchinfo),
    "thop": ("thop", "MACs + extras", _thop),
    "ptflops": ("ptflops", "MACs + extras", _ptflops),
}


def compare_tools(
    model: nn.Module,
    report: FlopReport,
    *,
    tools: tuple[str, ...] = TOOLS,
    rebuild: Callable[[str], Any] | None = None,
    force: bool = False,
) -> list[ToolFigure]:
    """Our MACs and FLOPs, then each other counter's figure for ``model`` on ``report``'s inputs, positional
    and keyword (tools that take only positional inputs call the model with the keyword inputs bound).

    A tool that is not installed or fails on the model gets a row saying so (``status``); nothing raises
    but the memory guard: the tools run on CPU with real tensors, so what they would need is checked first
    (:func:`check_compare_memory`, skipped with ``force``).
    """
    rows = [
        ToolFigure("archinspect", "MACs", int(report.totals.macs), "conv, linear/matmul, attention"),
        ToolFigure("archinspect", "FLOPs", int(report.totals.flops), "2 × MACs"),
    ]
    if not force:
        check_compare_memory(report)
    subject = _Subject(model, rebuild)
    inputs = [spec.make("cpu") for spec in report.inputs]
    keywords = {name: spec.make("cpu") for name, spec in report.keyword_inputs.items()}
    for key in tools:
        name, counts, runner = _RUNNERS[key]
        start = time.perf_counter()
        try:
            row = runner(subject, report, inputs, keywords)
        except ImportError:
            row = ToolFigure(name, counts, None, f"pip install {key}", status="not installed")
        except Exception as exc:  # a tool that cannot handle the model says so in its row
            text = " ".join(str(exc).split())[:160]
            row = ToolFigure(name, counts, None, "", status=f"failed: {type(exc).__name__}: {text}")
        row.seconds = time.perf_counter() - start
        rows.append(row)
    return rows
