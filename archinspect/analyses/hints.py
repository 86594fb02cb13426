"""Hints for common slips in what a person asks for, found before any pass runs."""

from __future__ import annotations

from typing import Any

from archinspect.core.inputs import InputSpec

_CONV_DIMS = {"Conv1d": 1, "Conv2d": 2, "Conv3d": 3, "ConvTranspose1d": 1, "ConvTranspose2d": 2, "ConvTranspose3d": 3}


def _conv_dims(module: Any) -> int | None:
    """1, 2 or 3 for a convolution (or a subclass of one), else None."""
    return next((_CONV_DIMS[c.__name__] for c in type(module).__mro__ if c.__name__ in _CONV_DIMS), None)


def first_conv(model: Any) -> tuple[str, Any] | None:
    """The first convolution the model declares (registration order), as (qualified name, module)."""
    for name, module in model.named_modules():
        if _conv_dims(module) is not None:
            return name, module
    return None


def missing_batch_hint(model: Any, specs: list[InputSpec]) -> str | None:
    """A sentence when the first input looks like C,H,W without the batch dimension, else None.

    It applies when the model's first convolution (an N-d conv takes N+2 dims, batch first) would receive one
    dimension too few and the first dimension equals its ``in_channels``: ``--input 3,224,224`` for a model
    whose first layer is ``Conv2d(3, ...)`` gives ``... did you mean inputs='1,3,224,224'?``. Raise it as
    ``UsageError(hint, param="inputs")`` (the command line says ``--input``).
    """
    if not specs:
        return None
    found = first_conv(model)
    if found is None:
        return None
    name, conv = found
    dims = _conv_dims(conv)
    assert dims is not None
    shape = specs[0].shape
    channels = getattr(conv, "in_channels", None)
    if len(shape) == dims + 1 and shape[0] == channels:
        missing, meant_shape = "no batch dimension", (1, *shape)
    elif len(shape) == dims and channels is not None and shape != () and shape[0] != channels:
        missing, meant_shape = "neither batch nor channel dimension", (1, channels, *shape)  # --input 224,224
    else:
        return None
    given = ",".join(map(str, shape))
    meant = ",".join(map(str, meant_shape))
    prefix = "" if specs[0].dtype == "float32" else f"{specs[0].dtype}:"
    layer = f"{name} ({type(conv).__name__}, in_channels={channels})"
    return (
        f"inputs={prefix + given!r} has {missing}: the first layer {layer} takes {dims + 2}-d input, "
        f"batch first; did you mean inputs={prefix + meant!r}?"
    )


def suggested_input(model: Any, *, mode: str = "eval") -> tuple[tuple[int, ...], str] | None:
    """An input shape (batch 1) the model accepts and why, for a model with no default input, or None.

    From the first convolution: its ``in_channels`` and dimensionality, then the input-size search (meta
    device, a few shape-only passes) for a size at which the model runs and every Linear matches — else the
    smallest size that runs at all. Without a convolution, the first Linear's ``in_features``.
    """
    import torch.nn as nn

    from archinspect.analyses.solve import valid_input_sizes
    from archinspect.errors import ArchInspectError

    found = first_conv(model)
    if found is None:
        linear = next((m for m in model.modules() if isinstance(m, nn.Linear)), None)
        return None if linear is None else ((1, linear.in_features), "its first Linear's in_features")
    conv = found[1]
    dims = _conv_dims(conv)
    assert dims is not None
    guess = InputSpec((1, conv.in_channels, *([32] * dims)))
    try:
        solved = valid_input_sizes(model, [guess], mode=mode, max_size=1024)
    except (ArchInspectError, RuntimeError):
        return None
    if solved.nearest_shape is not None:
        return tuple(solved.nearest_shape), "it runs and every Linear fits"
    axis = solved.axes[0]
    if axis.smallest_runnable is None:
        return None
    return tuple(solved.shape_at(axis, axis.smallest_runnable)), "the smallest size that runs"
