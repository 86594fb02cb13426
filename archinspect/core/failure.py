"""Why a pass failed, as data and in one line a person can act on.

The engine knows which module was running when the forward raised and what it received; torch's own
message ("Invalid channel dimensions", "a and b must have same reduction dim") rarely says which layer
or which size. For the common mistakes — a wrong channel or feature count, an input too small for a
convolution or pooling window — the message is rebuilt from the module's declared sizes and what it
actually received; anything else keeps torch's text after the layer's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from archinspect.core.compat import ConvNd, NormBase
from archinspect.core.report import LayerRecord
from archinspect.text import dims_text, shape_text, short_path

Shape = tuple[int, ...]

_TOO_SMALL_TEXTS = (
    "Output size is too small",
    "Kernel size can't be greater",
    "input image is smaller than kernel",
)
FIT_HINT = "`archinspect fit` finds the in_features it needs and the input sizes that fit"


@dataclass
class PassFailure:
    """A failed pass as data: the innermost layer running, what it received, why, and the message.

    ``too_small``: the input is too small for a convolution or pooling window (analyses add the
    smallest size that runs, see :func:`archinspect.analyses.shapes.explain_failure`).
    """

    message: str
    layer: str | None = None  # qualified name ("" for the model itself); None when no layer ran
    type: str | None = None
    received: list[Shape] = field(default_factory=list)
    cause: str = ""  # torch's own text
    too_small: bool = False


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return tuple(int(value) for _ in range(n))


def _window_output(module: nn.Module, spatial: Shape) -> Shape | None:
    """The output spatial size a conv or pooling window would produce from ``spatial``, or None."""
    n = len(spatial)
    kernel = getattr(module, "kernel_size", None)
    if kernel is None or n == 0:
        return None
    kernel = _tuple(kernel, n)
    stride = _tuple(getattr(module, "stride", None) or kernel, n)
    padding = getattr(module, "padding", 0)
    if isinstance(padding, str):  # "same" keeps the size, "valid" is no padding
        if padding == "same":
            return spatial
        padding = 0
    padding = _tuple(padding, n)
    dilation = _tuple(getattr(module, "dilation", 1), n)
    ceil = bool(getattr(module, "ceil_mode", False))
    out = []
    for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation, strict=True):
        span = size + 2 * p - d * (k - 1) - 1
        steps = -(-span // s) if ceil else span // s
        out.append(max(steps + 1, 0) if span >= 0 else 0)
    return tuple(out)


def _channel_problem(module: nn.Module, got: Shape) -> tuple[int, str] | None:
    """(expected, what) when ``module`` declares a channel count the input's dimension 1 disagrees with."""
    if len(got) < 2:
        return None
    if isinstance(module, ConvNd):
        expected = module.in_channels  # transposed convolutions too: weight [in, out/groups, k...]
        return (expected, "input channel") if got[1] != expected else None
    if isinstance(module, NormBase):
        return (module.num_features, "channel") if got[1] != module.num_features else None
    if isinstance(module, nn.GroupNorm):
        return (module.num_channels, "channel") if got[1] != module.num_channels else None
    return None


def _too_small(model_input: Shape | None) -> str:
    if model_input is None or len(model_input) < 3:
        return "the input is too small"
    return f"input {dims_text(model_input[2:])} is too small"


def diagnose(
    exc: BaseException, rec: LayerRecord | None, module: nn.Module | None, model_input: Shape | None
) -> PassFailure:
    """Explain why ``module`` (the innermost one running, recorded as ``rec``) raised ``exc``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if rec is None:
        return PassFailure(f"the model failed before any layer ran: {text}", cause=text)
    failure = _explain(exc, text, rec, module, model_input)
    failure.layer, failure.type, failure.received, failure.cause = rec.name, rec.type, list(rec.input_shapes), text
    return failure


def _explain(
    exc: BaseException, text: str, rec: LayerRecord, module: nn.Module | None, model_input: Shape | None
) -> PassFailure:
    label = f"{short_path(rec.name)} ({rec.type})" if rec.name else f"{rec.type}.forward"
    got = rec.input_shapes[0] if rec.input_shapes else None
    received = ", ".join(shape_text(s) for s in rec.input_shapes) or "no tensor"
    if module is not None and got is not None:
        channels = _channel_problem(module, got)
        if channels is not None:
            expected, what = channels
            return PassFailure(f"{label} expects {_plural(expected, what)} but got {got[1]} (input {shape_text(got)})")
        if isinstance(module, nn.Linear) and got and got[-1] != module.in_features:
            return PassFailure(
                f"{label} expects {module.in_features} input features but got {got[-1]} "
                f"(input {shape_text(got)}); {FIT_HINT}"
            )
        if isinstance(module, nn.LayerNorm):
            norm = tuple(module.normalized_shape)
            if tuple(got[-len(norm) :]) != norm:
                return PassFailure(
                    f"{label} expects trailing dimensions {shape_text(norm)} but got input {shape_text(got)}"
                )
        spatial = _window_output(module, got[2:]) if len(got) > 2 else None
        if spatial is not None and min(spatial, default=1) < 1:
            shrink = f"would shrink {dims_text(got[2:])} to {dims_text(spatial)}"
            return PassFailure(f"{_too_small(model_input)}: {label} {shrink}", too_small=True)
    if any(t in text for t in _TOO_SMALL_TEXTS):
        return PassFailure(f"{_too_small(model_input)}: {label} failed on input {received}: {text}", too_small=True)
    return PassFailure(f"{label} failed on input {received}: {text}")
