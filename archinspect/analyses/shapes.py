"""``archinspect shapes``: the public :func:`inspect`, the core pass plus what an analysis can add.

:func:`archinspect.core.engine.run_pass` reports a failure as data (which layer, what it received, why).
When the input is too small for a window, :func:`explain_failure` searches the smallest input that runs
(:mod:`~archinspect.analyses.solve`, a handful of shape-only probes) and says it in the message:
``input 32×32 is too small: 5 (MaxPool2d) would shrink 2×2 to 0×0; smallest input that runs is 65×65``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from archinspect.analyses.solve import DEFAULT_MAX_SIZE, smallest_runnable_size
from archinspect.core.engine import run_pass
from archinspect.core.observe import PassObserver
from archinspect.core.options import PassOptions
from archinspect.core.report import Report
from archinspect.core.target import Target
from archinspect.errors import ModelRunError, typed_errors
from archinspect.text import dims_text


@typed_errors
def inspect(
    model: nn.Module | Target,
    inputs: Any = None,
    *,
    kwargs: dict[str, Any] | None = None,
    model_name: str | None = None,
    cpu_model: Callable[[], nn.Module] | None = None,
    options: PassOptions | None = None,
    observers: Sequence[PassObserver] = (),
    **pass_options: Any,
) -> Report:
    """Run ``model`` once on dummy ``inputs`` and return a :class:`Report` of every module call.

    Args:
        model: an ``nn.Module`` (or a :class:`~archinspect.core.target.Target`, which carries its inputs).
        inputs: positional inputs, batch first: a shape ``(1, 3, 32, 32)``, an InputSpec, a real tensor, or a
            list of them (one per positional input; dicts, lists and plain values are passed as they are).
            A dict given as ``inputs`` is keyword inputs, like torchinfo's ``input_data``.
        kwargs: keyword inputs by name, of the same kinds (``{"mask": InputSpec((1, 128), "bool")}``).
        model_name: the name reports show (default: the class name).
        cpu_model: builds the model on CPU, for the meta pass's fallback when the model was built on meta.
        options: a :class:`~archinspect.core.options.PassOptions`; or give the pass options as keywords:
            ``device`` (``auto``: meta, falling back to CPU when an operator has no meta kernel; ``meta``,
            ``cpu``, ``cuda[:N]``), ``dtype``, ``mode`` (``eval``/``train``), ``depth`` (default 2),
            ``fallback``, ``force`` (skip the memory guard), ``per_module`` (False: totals only, the model as
            one row), ``receptive`` (default True here: every record's ``rf``), ``count``, ``op_costs``
            (cost formulas for this call only).
        observers: extra :class:`~archinspect.core.observe.PassObserver` s watching the pass.

    A failure raises :class:`ModelRunError` naming the layer, what it received and why, with the smallest
    input that runs when the input is too small. The model is never modified; calls on one model from
    several threads are serialised.

    Example:
        >>> report = archinspect.inspect(net, (1, 1, 28, 28))
        >>> report.totals.params
    """
    target = Target.of(model, inputs, kwargs=kwargs, label=model_name, cpu_model=cpu_model)
    return inspect_target(target, PassOptions.of(options, pass_options, receptive=True), observers)


def inspect_target(target: Target, options: PassOptions, observers: Sequence[PassObserver] = ()) -> Report:
    """:func:`inspect` for a target and options already checked (what the CLI and other analyses call)."""
    try:
        return run_pass(target, options, observers)
    except ModelRunError as err:
        explained = explain_failure(err, target, options.mode)
        if explained is err:
            raise
        raise explained from err


def explain_failure(err: ModelRunError, target: Target, mode: str, extra: str = "") -> ModelRunError:
    """``err`` with what a size search adds (the smallest input that runs) and ``extra`` appended.

    Returns ``err`` itself when there is nothing to add. The search never hides the failure: if it cannot
    run, the message stands as it was.
    """
    failure = err.failure
    text = str(err)
    if getattr(failure, "too_small", False):
        text += _smallest_size_text(target, mode)
    text += extra
    return err if text == str(err) else ModelRunError(text, failure=failure)


def _smallest_size_text(target: Target, mode: str) -> str:
    """'; smallest input that runs is 65×65' (or that nothing up to the search limit runs); '' on failure."""
    try:
        specs = target.specs
        shape = smallest_runnable_size(target, mode=mode)
    except Exception:  # a search that cannot run must not hide the original failure
        return ""
    if shape is None:
        spatial = len(specs[0].shape) - 2 if specs else 2
        return f"; no input up to {dims_text([DEFAULT_MAX_SIZE] * spatial)} runs"
    return f"; smallest input that runs is {dims_text(shape[2:])}"
