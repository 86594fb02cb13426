"""Why a layer failed, in one line a person can act on.

The engine knows which module was running when the forward raised and what it received; torch's own
message ("Invalid channel dimensions", "a and b must have same reduction dim") rarely says which layer
or which size. For the common mistakes — a wrong channel or feature count, an input too small for a
convolution or pooling window — the message is rebuilt from the module's declared sizes and what it
actually received; anything else keeps torch's text after the layer's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archinspect.core.report import LayerRecord
from archinspect.render.table import dims_text, shape_text

Shape = tuple[int, ...]

_TOO_SMALL_TEXTS = (
    "Output size is too small",
    "Kernel size can't be greater",
    "input image is smaller than kernel",
)
FIT_HINT = "`archinspect fit` finds the in_features it needs and the input sizes that fit"


@dataclass
class Diagnosis:
    """A failure explained: the one-line message, and whether the input is too small for the model."""

    message: str
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
    if isinstance(module, nn.modules.conv._ConvNd):
        expected = module.in_channels  # transposed convolutions too: weight [in, out/groups, k...]
        return (expected, "input channel") if got[1] != expected else None
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return (module.num_features, "channel") if got[1] != module.num_features else None
    if isinstance(module, nn.GroupNorm):
        return (module.num_channels, "channel") if got[1] != module.num_channels else None
    return None


def _too_small(model_input: Shape | None) -> str:
    if model_input is None or len(model_input) < 3:
        return "the input is too small"
    return f"input {dims_text(model_input[2:])} is too small"


def diagnose(exc: BaseException, rec: LayerRecord, module: nn.Module | None, model_input: Shape | None) -> Diagnosis:
    """Explain why ``module`` (the innermost one running, recorded as ``rec``) raised ``exc``."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    label = f"{rec.name} ({rec.type})" if rec.name else f"{rec.type}.forward"
    got = rec.input_shapes[0] if rec.input_shapes else None
    received = ", ".join(shape_text(s) for s in rec.input_shapes) or "no tensor"
    if module is not None and got is not None:
        channels = _channel_problem(module, got)
        if channels is not None:
            expected, what = channels
            return Diagnosis(f"{label} expects {_plural(expected, what)} but got {got[1]} (input {shape_text(got)})")
        if isinstance(module, nn.Linear) and got and got[-1] != module.in_features:
            return Diagnosis(
                f"{label} expects {module.in_features} input features but got {got[-1]} "
                f"(input {shape_text(got)}); {FIT_HINT}"
            )
        if isinstance(module, nn.LayerNorm):
            norm = tuple(module.normalized_shape)
            if tuple(got[-len(norm) :]) != norm:
                return Diagnosis(
                    f"{label} expects trailing dimensions {shape_text(norm)} but got input {shape_text(got)}"
                )
        spatial = _window_output(module, got[2:]) if len(got) > 2 else None
        if spatial is not None and min(spatial, default=1) < 1:
            shrink = f"would shrink {dims_text(got[2:])} to {dims_text(spatial)}"
            return Diagnosis(f"{_too_small(model_input)}: {label} {shrink}", too_small=True)
    if any(t in text for t in _TOO_SMALL_TEXTS):
        return Diagnosis(f"{_too_small(model_input)}: {label} failed on input {received}: {text}", too_small=True)
    return Diagnosis(f"{label} failed on input {received}: {text}")


def smallest_size_text(model: nn.Module, inputs: Sequence[Any], mode: str) -> str:
    """'; smallest input that runs is 65×65' (or that nothing up to the search limit runs); '' on failure."""
    try:
        from archinspect.analyses.solve import DEFAULT_MAX_SIZE, smallest_runnable_size
    except ImportError:  # the size search is optional; the message stands without it
        return ""
    try:
        shape = smallest_runnable_size(model, list(inputs), mode=mode)
    except Exception:  # a search that cannot run must not hide the original failure
        return ""
    if shape is None:
        spatial = len(inputs[0].shape) - 2 if inputs else 2
        return f"; no input up to {dims_text([DEFAULT_MAX_SIZE] * spatial)} runs"
    return f"; smallest input that runs is {dims_text(shape[2:])}"
