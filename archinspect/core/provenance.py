"""Where every tensor of a pass came from: the dataflow that ``archinspect graph`` draws.

A :class:`ProvenanceTracker` is a :class:`~archinspect.core.observe.PassObserver` of the one pass: it sees
the module calls as they are entered and left and every ATen operator once its output exists, and gives
each tensor a :class:`Source`:
the model input it is, the operator that made it, or the module call that returned it. A module call
that returns a tensor wraps the source it had inside (``inner``), so the chain of a ResNet block's output
reads ``layer1 -> layer1.2 -> layer1.2.relu``; a graph at any depth later picks the link at that depth
(:func:`archinspect.analyses.graph.build_graph`).

Tensors are told apart by identity, not by value (on the meta device they have none): a weak map from
the tensor object to its latest source, so an in-place ``out += identity`` gives ``out`` a new source
after its inputs were read, and a view nobody saw made (``_base`` set) falls back to its base's source.
Operators running inside a module without submodules (a ``Conv2d``'s ``conv2d``) are not recorded: that
module is a node at every depth. Aliasing operators (``detach``, ``clone``, ``contiguous``, a same-shape
``_to_copy``) pass their input's source through, so they never become nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.weak import WeakTensorKeyDictionary

from archinspect.core.compat import child_modules, view_base
from archinspect.core.costs import op_cost
from archinspect.core.observe import ModuleCall, PassObserver, PassRun
from archinspect.core.tensors import tensors

Shape = tuple[int, ...]

# Operators that hand their input on unchanged (as far as the dataflow is concerned).
PASS_THROUGH = frozenset({"alias", "detach", "clone", "contiguous", "_to_copy", "lift_fresh", "lift_fresh_copy"})


@dataclass(frozen=True, eq=False)
class Source:
    """One version of a tensor: who made it. ``kind``: ``input`` (``ref`` = position or keyword name),
    ``op`` (``ref`` = index into :attr:`Provenance.ops`) or ``call`` (``ref`` = the LayerRecord index of the
    module call that returned it; ``inner`` = the source it had inside that call)."""

    kind: str
    ref: int | str
    shape: Shape
    inner: Source | None = None


@dataclass
class OpEvent:
    """An operator that ran in a module with submodules (or outside every module): a potential graph node."""

    index: int
    name: str  # the ATen name without overload: add_, cat, view, mean, addmm
    record: int | None  # the innermost module call running it
    inputs: list[Source]
    output_shapes: list[Shape]
    macs: int | float = 0
    other_ops: int | float = 0
    after: int = -1  # the last module call entered before it ran (its place in the order of the pass)


@dataclass
class Provenance:
    """The dataflow of one pass, independent of the depth it is drawn at."""

    inputs: list[tuple[int | str, Shape]] = field(default_factory=list)  # (position or keyword, shape)
    calls: dict[int, list[Source]] = field(default_factory=dict)  # record index -> sources of its input tensors
    ops: list[OpEvent] = field(default_factory=list)
    outputs: list[Source] = field(default_factory=list)  # the model's output tensors


def op_name(func: Any) -> str:
    """``aten.add_.Tensor`` -> ``add_``."""
    schema = getattr(func, "_schema", None)
    name = schema.name if schema is not None else str(func)
    return name.split("::")[-1]


class ProvenanceTracker(PassObserver):
    """Builds a :class:`Provenance` (``result``) while the pass runs; ``model`` is the module that ran.

    A pass that restarts (the meta pass falling back to CPU) starts again from ``start``.
    """

    def __init__(self) -> None:
        self.result = Provenance()
        self.model: torch.nn.Module | None = None
        self._sources: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self._stack: list[tuple[int, bool]] = []  # (record index, module has no submodules)
        self._last = -1  # the last call entered

    def start(self, run: PassRun) -> None:
        """Mark the model's inputs (positional, then keyword)."""
        self.result = Provenance()
        self.model = run.model
        self._sources = WeakTensorKeyDictionary()
        self._stack, self._last = [], -1
        named = [*enumerate(run.args), *run.kwargs.items()]
        for key, value in named:
            for t in tensors(value):
                self._sources[t] = Source("input", key, tuple(t.shape))
                self.result.inputs.append((key, tuple(t.shape)))

    def source(self, t: torch.Tensor) -> Source | None:
        found = self._sources.get(t)
        base_tensor = view_base(t)
        if found is None and base_tensor is not None:
            base = self._sources.get(base_tensor)
            if base is not None:
                found = Source(base.kind, base.ref, tuple(t.shape), base.inner)
        return found

    def enter(self, call: ModuleCall) -> None:
        record = call.record.index
        self._stack.append((record, not child_modules(call.module)))
        self._last = record
        found = [s for t in tensors((call.args, call.kwargs)) if (s := self.source(t)) is not None]
        self.result.calls[record] = found

    def leave(self, call: ModuleCall, output: Any) -> None:
        record = call.record.index
        if self._stack and self._stack[-1][0] == record:
            self._stack.pop()
        returned = []
        for t in tensors(output):
            inner = self.source(t)
            src = Source("call", record, tuple(t.shape), inner)
            self._sources[t] = src
            returned.append(src)
        if not self._stack:
            self.result.outputs = returned

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if self._stack and self._stack[-1][1]:
            return  # inside a module without submodules: that module is the node
        name = op_name(func)
        inputs = [s for t in tensors((args, kwargs)) if (s := self.source(t)) is not None]
        outs = list(tensors(out))
        if name in PASS_THROUGH and len(inputs) == 1 and len(outs) == 1 and tuple(outs[0].shape) == inputs[0].shape:
            self._sources[outs[0]] = inputs[0]
            return
        if not outs:
            return
        cost = op_cost(func, args, kwargs, out)
        event = OpEvent(
            index=len(self.result.ops),
            name=name,
            record=self._stack[-1][0] if self._stack else None,
            inputs=inputs,
            output_shapes=[tuple(t.shape) for t in outs],
            macs=cost.macs if cost is not None else 0,
            other_ops=cost.other if cost is not None else 0,
            after=self._last,
        )
        self.result.ops.append(event)
        for t in outs:
            self._sources[t] = Source("op", event.index, tuple(t.shape))
