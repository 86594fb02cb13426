"""Observers of the one pass: how an analysis watches a forward without owning it.

:func:`archinspect.core.engine.run_pass` runs the model once and tells every :class:`PassObserver` what
happens, in this order:

1. ``start(run)`` — once, the model prepared and instrumented, just before the forward; ``run`` is the
   :class:`PassRun` (the target, the options, the device, the module that actually runs, the records).
2. ``enter(call)`` — each module call, just before its ``forward`` runs, after the recorder made the
   call's :class:`~archinspect.core.report.LayerRecord` (``call.record``). Observers enter in list order.
3. ``op(func, args, kwargs, out)`` — every ATen operator once its output exists (only with
   ``options.count``; an observer that does not override ``op`` costs nothing per operator).
4. ``leave(call, output)`` — just after ``forward`` returned; observers leave in reverse order, so the
   last observer in the list sits closest to the real call (a timer goes last).
5. ``finish(report)`` — once, the :class:`~archinspect.core.report.Report` assembled; an observer may
   add notes or keep what it needs.

Two rarer hooks: ``replace(call)`` may answer a module call instead of the module (``fit`` steps over a
mismatched layer that way; return :data:`NOT_HANDLED` to let the module run), and ``running()`` gives a
context entered around the forward (a dispatch mode of the observer's own, as the memory tracker has).
``skipped(model)`` names modules the pass must leave without hooks (a fused kernel that only runs
unhooked).

The built-in observers: the recorder (always first: records, costs), the receptive-field tracker
(:mod:`archinspect.core.receptive`), the fit interceptor (``analyses.tolerant``), the memory tracker
(``analyses.memory``). A new view is one observer plus its renderer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from archinspect.core.options import PassOptions
    from archinspect.core.report import LayerRecord, Report
    from archinspect.core.target import Target

NOT_HANDLED = object()


@dataclass
class ModuleCall:
    """One module call as observers see it: its record, the module, its qualified name and its inputs."""

    record: LayerRecord
    module: nn.Module
    name: str
    args: tuple
    kwargs: dict


@dataclass
class PassRun:
    """What observers can read about the pass under way.

    ``model``: the module that actually runs (unwrapped, or a materialised copy of a lazy model, or the CPU
    rebuild after a fallback). ``args``/``kwargs``: the tensors the forward gets. ``parameters``/``buffers``:
    the substitutes standing in for the model's own tensors (unique; what an optimizer of this pass trains).
    ``kept_parameters``/``kept_buffers``: tensors the pass runs with but could not substitute (a TorchScript
    part's own): the user's tensors themselves, never to be written.
    ``records``: the LayerRecords so far; ``stack``: indices of the records of the modules running now.
    """

    target: Target
    options: PassOptions
    device: torch.device
    model: nn.Module
    args: list[Any]
    kwargs: dict[str, Any]
    parameters: list[Any] = field(default_factory=list)
    buffers: list[Any] = field(default_factory=list)
    kept_parameters: list[Any] = field(default_factory=list)
    kept_buffers: list[Any] = field(default_factory=list)
    records: list[LayerRecord] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def current(self) -> LayerRecord | None:
        """The record of the innermost module running now, or None outside every module."""
        return self.records[self.stack[-1]] if self.stack else None


class PassObserver:
    """Base class: every hook does nothing; override the ones you need (see the module docstring)."""

    def start(self, run: PassRun) -> None:
        """The pass is about to run the forward."""

    def enter(self, call: ModuleCall) -> None:
        """A module's forward is about to run."""

    def leave(self, call: ModuleCall, output: Any) -> None:
        """A module's forward returned ``output``."""

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        """An ATen operator ran (``func(*args, **kwargs) -> out``)."""

    def replace(self, call: ModuleCall) -> Any:
        """An output to use instead of running the module, or :data:`NOT_HANDLED`."""
        return NOT_HANDLED

    def running(self) -> contextlib.AbstractContextManager[Any]:
        """A context entered around the forward (after the pass's own instrumentation)."""
        return contextlib.nullcontext()

    def skipped(self, model: nn.Module) -> set[Any]:
        """Modules to leave without hooks for this pass."""
        return set()

    def finish(self, report: Report) -> None:
        """The pass is over and its report assembled."""

    # -- what the engine asks ---------------------------------------------------------------------------
    @classmethod
    def overrides(cls, hook: str) -> bool:
        """Whether this observer class implements ``hook`` (the engine skips the ones it does not)."""
        return getattr(cls, hook) is not getattr(PassObserver, hook)


__all__ = ["NOT_HANDLED", "ModuleCall", "PassObserver", "PassRun"]
