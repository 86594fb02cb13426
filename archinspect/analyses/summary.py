"""``archinspect.summary``: the common case in one call, in the spirit of torchinfo's ``summary()``.

A model instance or a MODEL reference (a zoo name, ``torchvision:NAME``, ``file.py:Symbol``) and an input
(shape(s), tensor(s), a dict of keyword inputs; a zoo model's default when none is given) give back the
:class:`~archinspect.core.report.Report`, which displays itself as the shapes table (``print()``, a notebook).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archinspect.analyses.hints import missing_batch_hint
from archinspect.analyses.shapes import inspect
from archinspect.core.devices import resolve_device
from archinspect.core.inputs import as_specs
from archinspect.core.observe import PassObserver
from archinspect.core.options import DEFAULT_DEPTH
from archinspect.core.report import Report
from archinspect.errors import UsageError, typed_errors
from archinspect.models.loading import load_model

# what ``columns=`` accepts (table headers and keys, any case, ``-``/space/``_`` alike) -> the column's key
SUMMARY_COLUMNS = {
    "layer": "layer",
    "type": "type",
    "input_shape": "input_shape",
    "output_shape": "output_shape",
    "params": "params",
    "macs": "macs",
    "share": "share",
    "output_size": "output_bytes",
    "output_bytes": "output_bytes",
    "rf": "rf_size",
    "rf_size": "rf_size",
    "jump": "rf_jump",
    "rf_jump": "rf_jump",
    "start": "rf_start",
    "rf_start": "rf_start",
}


@dataclass
class Resolved:
    """A model and its inputs as one pass takes them."""

    model: nn.Module
    inputs: Any  # positional inputs: specs or tensors
    kwargs: dict[str, Any] | None
    label: str
    device: str  # what the pass gets: "auto" or a resolved device
    cpu_model: Callable[[], nn.Module] | None
    notes: list[str]

    def inspect(
        self, *, depth: int, mode: str, dtype: str | None, observers: Sequence[PassObserver] = ()
    ) -> Report:
        """The one pass on this model and input; the loading notes come first in the report's notes."""
        report = inspect(
            self.model,
            self.inputs,
            device=self.device,
            depth=depth,
            mode=mode,
            dtype=dtype,
            model_name=self.label,
            kwargs=self.kwargs,
            cpu_model=self.cpu_model,
            observers=observers,
        )
        report.notes[:0] = self.notes
        return report


def resolve(
    model: nn.Module | str,
    input_size: Any = None,
    input_data: Any = None,
    *,
    device: str = "auto",
    model_args: dict[str, Any] | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Resolved:
    """Load a MODEL reference (or take the module), pick its inputs, check the batch dimension.

    ``input_size``: a shape or a list of shapes (or InputSpecs); ``input_data``: a tensor, a list of them, or
    a dict of keyword inputs; a dict given as ``input_size`` is keyword inputs too."""
    if input_size is not None and input_data is not None:
        raise UsageError("give input_size or input_data, not both")
    given = input_size if input_size is not None else input_data
    keywords = dict(kwargs or {})
    if isinstance(given, dict):
        keywords = {**given, **keywords}
        given = None
    notes: list[str] = []
    cpu_model = None
    if isinstance(model, str):
        resolved = resolve_device(device, auto="meta")
        loaded = load_model(model, model_args, device=resolved)
        module, label, notes, cpu_model = loaded.model, loaded.label, list(loaded.notes), loaded.cpu_model()
        if given is None and not keywords:
            given = loaded.default_inputs
        if not given and not keywords:
            raise UsageError(f"{loaded.label} has no default input; give input_size, batch first, e.g. (1, 3, 32, 32)")
    elif isinstance(model, nn.Module):
        if model_args:
            raise UsageError(f"model arguments {sorted(model_args)} apply only to a MODEL reference, not a module")
        module, label = model, type(model).__name__
    else:
        raise UsageError(f"model {type(model).__name__!r} is not an nn.Module or a MODEL reference such as 'resnet18'")
    if given is None and not keywords:
        raise UsageError("input_size is missing: give a shape, batch first, e.g. (1, 3, 32, 32), or input_data")
    positional = [] if given is None else given
    hint = _batch_hint(module, positional)
    if hint is not None:
        raise UsageError(hint, param="input_size")
    return Resolved(module, positional, keywords or None, label, device, cpu_model, notes)


def _batch_hint(module: nn.Module, positional: Any) -> str | None:
    """The batch-first hint in this function's words (``input_size=``), or None; inputs that are not shapes
    or tensors (pytrees, plain values) are left to the pass."""
    try:
        specs = as_specs(positional) if positional != [] else []
    except UsageError:
        return None
    hint = missing_batch_hint(module, specs)
    return hint.replace("inputs=", "input_size=") if hint is not None else None


def column_keys(columns: Sequence[str] | str | None) -> tuple[str, ...] | None:
    """``columns`` (names or one comma-separated string) as table keys; UsageError naming the accepted ones."""
    if columns is None:
        return None
    names = columns.split(",") if isinstance(columns, str) else list(columns)
    keys = []
    for name in names:
        norm = str(name).strip().lower().replace("-", "_").replace(" ", "_")
        if norm not in SUMMARY_COLUMNS:
            accepted = ", ".join(k for k in SUMMARY_COLUMNS if not k.startswith("rf_") and k != "output_bytes")
            raise UsageError(f"columns: {name!r} is not a column; accepted: {accepted}")
        keys.append(SUMMARY_COLUMNS[norm])
    return tuple(dict.fromkeys(keys))


@typed_errors
def summary(
    model: nn.Module | str,
    input_size: Any = None,
    *,
    input_data: Any = None,
    depth: int = DEFAULT_DEPTH,
    columns: Sequence[str] | str | None = None,
    device: str = "auto",
    mode: str = "eval",
    dtype: str | None = None,
    kwargs: dict[str, Any] | None = None,
    **model_args: Any,
) -> Report:
    """Inspect ``model`` on one input and return the :class:`Report`, which prints as the shapes table.

    Args:
        model: an ``nn.Module``, or a MODEL reference: a zoo name (``"densenet-bc"``), ``"torchvision:NAME"``,
            ``"timm:NAME"``, ``"file.py:Symbol"``; a reference is built on the meta device (nothing allocated).
        input_size: a shape, batch first (``(1, 3, 224, 224)``), a list of shapes for several inputs,
            ``InputSpec``s, or a dict of keyword inputs. Default: the zoo model's own input.
        input_data: real tensors instead (one, a list, or a dict by keyword), used as given.
        depth: fold modules deeper than this into their parent (default 2).
        columns: show only these columns (``["output_shape", "params"]`` or ``"output-shape,params"``):
            layer, type, input_shape, output_shape, params, macs, share, output_size, rf, jump, start.
        device: ``auto`` (meta, falling back to CPU when an operator has no meta kernel), ``meta``, ``cpu``,
            ``cuda[:N]``.
        mode: ``eval`` or ``train``.
        dtype: cast floating parameters and inputs (``float16``, ``bfloat16``, ...).
        kwargs: further keyword inputs to ``forward`` by name.
        **model_args: constructor arguments for a MODEL reference (``depth=40``).

    Example:
        >>> import archinspect
        >>> archinspect.summary("d2l-alexnet", (1, 1, 224, 224))   # in a notebook: the table
    """
    keys = column_keys(columns)
    target = resolve(model, input_size, input_data, device=device, model_args=model_args, kwargs=kwargs)
    report = target.inspect(depth=depth, mode=mode, dtype=dtype)
    report.columns = keys
    return report
