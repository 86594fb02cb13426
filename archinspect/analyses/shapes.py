"""``archinspect shapes``: the public :func:`inspect`, the core pass plus what an analysis can add.

:func:`archinspect.core.engine.run_pass` reports a failure as data (which layer, what it received, why).
When the input is too small for a window, :func:`explain_failure` searches the smallest input that runs
(:mod:`~archinspect.analyses.solve`, a handful of shape-only probes) and says it in the message:
``input 32×32 is too small: 5 (MaxPool2d) would shrink 2×2 to 0×0; smallest input that runs is 65×65``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from archinspect.analyses.solve import DEFAULT_MAX_SIZE, smallest_runnable_size
from archinspect.core.engine import DEFAULT_DEPTH, run_pass
from archinspect.core.inputs import as_specs
from archinspect.core.report import Report
from archinspect.errors import ModelRunError, typed_errors
from archinspect.text import dims_text


@typed_errors
def inspect(
    model: nn.Module,
    inputs: Any,
    *,
    device: str = "auto",
    depth: int = DEFAULT_DEPTH,
    mode: str = "eval",
    dtype: str | None = None,
    model_name: str | None = None,
    per_module: bool = True,
    kwargs: dict[str, Any] | None = None,
    cpu_model: Callable[[], nn.Module] | None = None,
    receptive: bool = True,
    force: bool = False,
    op_costs: Mapping[Any, Any] | None = None,
) -> Report:
    """Run ``model`` once on dummy ``inputs`` and return a :class:`Report` of every module call.

    ``inputs``: shapes, :class:`InputSpec` or tensors (one per positional input). ``device``: ``auto``
    (meta, falling back to CPU when an operator has no meta kernel), ``meta``, ``cpu``, ``cuda[:N]``.
    ``dtype``: cast floating parameters and inputs (``float16``, ``bfloat16``, ...). ``mode``: ``eval``
    or ``train`` (BatchNorm statistics are never written back to the model). ``per_module=False``: totals
    only, the model as one row. ``receptive``: give every record its output's receptive field (``rf``).
    Real tensors are used as given (the pass runs on their device); a dict of inputs, or ``kwargs``, passes
    keyword inputs by name (shapes, InputSpecs or tensors), like torchinfo's ``input_data``. ``cpu_model``:
    builds the model on CPU for the meta pass's fallback. A failure raises :class:`ModelRunError` naming the
    layer, what it received and why, with the smallest input that runs when the input is too small.

    Before a CPU/CUDA pass the memory it needs is estimated and compared with what the device has free:
    a pass that would not fit raises :class:`~archinspect.core.guard.ResourceError` unless ``force``.
    ``op_costs``: cost formulas for this call only, ``{"aten.lgamma": fn}`` (operator or its name ->
    ``fn(args, kwargs, out)`` returning ``(macs, other_ops)`` or an :class:`~archinspect.OpCost`), over those
    of :func:`~archinspect.register_op_cost` and before the built-in ones; the next call is not affected.
    The model is never modified; calls on one model from several threads are serialised (one pass at
    a time per model), calls on different models run in parallel.
    """
    try:
        return run_pass(
            model,
            inputs,
            device=device,
            depth=depth,
            mode=mode,
            dtype=dtype,
            model_name=model_name,
            per_module=per_module,
            kwargs=kwargs,
            cpu_model=cpu_model,
            receptive=receptive,
            force=force,
            op_costs=op_costs,
        )
    except ModelRunError as err:
        explained = explain_failure(err, model, inputs, mode, kwargs=kwargs)
        if explained is err:
            raise
        raise explained from err


def explain_failure(
    err: ModelRunError,
    model: nn.Module,
    inputs: Any,
    mode: str,
    extra: str = "",
    kwargs: dict[str, Any] | None = None,
) -> ModelRunError:
    """``err`` with what a size search adds (the smallest input that runs) and ``extra`` appended.

    Returns ``err`` itself when there is nothing to add. The search never hides the failure: if it cannot
    run, the message stands as it was.
    """
    failure = err.failure
    text = str(err)
    if getattr(failure, "too_small", False):
        text += _smallest_size_text(model, inputs, mode, kwargs)
    text += extra
    return err if text == str(err) else ModelRunError(text, failure=failure)


def _smallest_size_text(model: nn.Module, inputs: Any, mode: str, kwargs: dict[str, Any] | None) -> str:
    """'; smallest input that runs is 65×65' (or that nothing up to the search limit runs); '' on failure."""
    try:
        specs = as_specs(inputs)
        shape = smallest_runnable_size(model, specs, mode=mode, kwargs=kwargs)
    except Exception:  # a search that cannot run must not hide the original failure
        return ""
    if shape is None:
        spatial = len(specs[0].shape) - 2 if specs else 2
        return f"; no input up to {dims_text([DEFAULT_MAX_SIZE] * spatial)} runs"
    return f"; smallest input that runs is {dims_text(shape[2:])}"
