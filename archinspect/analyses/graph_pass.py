"""The pass ``archinspect graph`` draws, with the provenance tracker watching it.

Provisional until the core's observer interface lands: the tracker is driven by module hooks of its own
(registered in the same order as the recorder's, so its call numbers are the LayerRecord indices) and by
the counter's ``observers`` (every operator once its output exists), added for this pass only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from archinspect.analyses.shapes import inspect
from archinspect.core import engine
from archinspect.core.provenance import Provenance, ProvenanceTracker
from archinspect.core.report import Report

_PATCH_LOCK = threading.Lock()


@contextlib.contextmanager
def _watching(model: nn.Module, tracker: ProvenanceTracker) -> Iterator[None]:
    count, stack, handles = [0], [], []

    def pre(module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not stack:
            count[0] = 0
            tracker.start(args, kwargs)
        stack.append(count[0])
        count[0] += 1
        tracker.enter(stack[-1], module, args, kwargs)

    def post(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        tracker.leave(stack.pop(), output)

    original = engine.OpCounter

    def counter(on_op: Any, observers: Any = (), **kw: Any) -> Any:
        return original(on_op, [*observers, tracker.op], **kw)

    with _PATCH_LOCK:
        try:
            for mod in model.modules():
                if not isinstance(mod, torch.jit.ScriptModule):
                    handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
                    handles.append(mod.register_forward_hook(post, with_kwargs=True))
            engine.OpCounter = counter  # type: ignore[assignment,misc]
            yield
        finally:
            engine.OpCounter = original  # type: ignore[misc]
            for h in handles:
                h.remove()


def observed_pass(
    model: nn.Module, inputs: Any, *, depth: int = 2, **options: Any
) -> tuple[Report, Provenance, nn.Module]:
    """The report, the dataflow and the module that ran (for its layers' settings)."""
    tracker = ProvenanceTracker()
    with _watching(model, tracker):
        report = inspect(model, inputs, depth=depth, receptive=options.pop("receptive", True), **options)
    return report, tracker.result, model
