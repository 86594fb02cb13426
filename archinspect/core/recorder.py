"""The per-module record of a pass: module hooks build a :class:`LayerRecord` per call, and the counter's
costs are charged to the innermost module running. Also the interceptor patch ``fit`` uses to step over a
mismatched layer."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from archinspect.core.compat import ConvNd, own_parameters
from archinspect.core.counter import OpCost, OpCounter
from archinspect.core.observe import NOT_HANDLED
from archinspect.core.report import LayerRecord, OpTally
from archinspect.core.tensors import nbytes, shapes

# An interceptor may answer a module call instead of the module (an observer's ``replace``: ``archinspect.fit``
# steps over a mismatched layer): given (qualified name, module, args, kwargs) it returns an output or NOT_HANDLED.
Interceptor = Callable[[str, nn.Module, tuple, dict], Any]


def _own_params(model: nn.Module) -> dict[nn.Module, tuple[int, int]]:
    """(params, trainable) each module holds directly; a shared parameter goes to its first owner."""
    seen: set[int] = set()
    out: dict[nn.Module, tuple[int, int]] = {}
    for mod in model.modules():
        total = trainable = 0
        for p in own_parameters(mod).values():  # the module's own, without a recursive walk per module
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        out[mod] = (total, trainable)
    return out


class Recorder:
    """Builds LayerRecords from module hooks and charges operator costs to the running module."""

    def __init__(
        self,
        model: nn.Module,
        proxies: dict[nn.Module, nn.Module] | None = None,
        check_dtypes: bool = False,
        op_costs: Mapping[Any, Any] | None = None,
    ) -> None:
        self.op_costs = op_costs  # per-call cost formulas, for the replay counter too
        self.names = {mod: name for name, mod in model.named_modules()}
        self.check_dtypes = check_dtypes  # on meta, where kernels do not check them
        self.own = _own_params(model)
        for proxy, script in (proxies or {}).items():  # a scripted module: one leaf row holding all of it
            if script is model:  # the model itself is scripted: the proxy is the one row
                self.names = {proxy: ""}
            for inner in script.modules():
                self.own.pop(inner, None)
            params = list(script.parameters())
            self.own[proxy] = (sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))
        self.records: list[LayerRecord] = []
        self.stack: list[int] = []
        self.calls: dict[nn.Module, int] = {}
        self.ops: dict[str, OpTally] = {}
        self.free_ops: dict[str, dict[str, int]] = {}  # kind -> op -> calls
        self.uncounted_ops: dict[str, int] = {}  # op -> calls
        self.muted = 0  # > 0 while a fused RNN kernel runs whose cost a meta replay already charged

    def mute(self, step: int) -> None:
        self.muted += step

    def on_uncosted(self, op: str, kind: str) -> None:
        if self.muted:
            return
        if kind == "uncounted":
            self.uncounted_ops[op] = self.uncounted_ops.get(op, 0) + 1
        else:
            per_kind = self.free_ops.setdefault(kind.removeprefix("free: "), {})
            per_kind[op] = per_kind.get(op, 0) + 1

    def replay_counter(self) -> OpCounter:
        """A counter that charges even while muted (the meta replay of a fused RNN call)."""
        return OpCounter(self.charge, on_uncosted=self.on_uncosted_unmuted, op_costs=self.op_costs)

    def on_uncosted_unmuted(self, op: str, kind: str) -> None:
        muted, self.muted = self.muted, 0
        try:
            self.on_uncosted(op, kind)
        finally:
            self.muted = muted

    def pre(self, module: nn.Module, args: tuple, kwargs: dict) -> LayerRecord:
        n = self.calls.get(module, 0) + 1
        self.calls[module] = n
        parent = self.stack[-1] if self.stack else None
        rec = self._add(module, self.names[module], parent, len(self.stack), call=n)
        rec.input_shapes = shapes((args, kwargs))
        self.stack.append(rec.index)
        if self.check_dtypes:
            _check_input_dtype(module, args)
        return rec

    def _add(self, module: nn.Module, name: str, parent: int | None, depth: int, **fields: Any) -> LayerRecord:
        """A new record under ``parent``; a module's own parameters go to its first record only."""
        params, trainable = self.own[module] if fields.get("call", 1) == 1 else (0, 0)
        rec = LayerRecord(
            index=len(self.records),
            name=name,
            type=vars(module).get("shown_type") or type(module).__name__,  # not getattr: a __getattr__ may raise
            depth=depth,
            parent=parent,
            params=params,
            trainable_params=trainable,
            **fields,
        )
        self.records.append(rec)
        if parent is not None:
            self.records[parent].children.append(rec.index)
        return rec

    def post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        rec = self.records[self.stack.pop()]
        rec.output_shapes = shapes(output)
        rec.output_bytes = nbytes(output)

    def on_op(self, cost: OpCost) -> None:
        if not self.muted:
            self.charge(cost)

    def charge(self, cost: OpCost) -> None:
        if self.stack:
            rec = self.records[self.stack[-1]]
            rec.macs += cost.macs
            rec.other_ops += cost.other
        tally = self.ops.get(cost.op)
        if tally is None:
            tally = self.ops[cost.op] = OpTally(cost.op, cost.category)
        tally.calls += 1
        tally.macs += cost.macs
        tally.other_ops += cost.other

    def add_unrun(self) -> None:
        """Records for modules that hold parameters but never ran (e.g. auxiliary heads in eval).

        They hang under the record of their nearest ancestor that ran, with records for the containers
        in between (``aux1`` > ``aux1.conv`` > ``aux1.conv.conv``), so folding to any depth keeps their
        parameters and the column sums equal the totals.
        """
        by_name = {self.records[i].name: i for i in range(len(self.records) - 1, -1, -1)}  # first calls
        modules = {name: mod for mod, name in self.names.items()}
        for mod, (params, _) in self.own.items():
            if params and mod not in self.calls:
                self._unrun_record(self.names[mod], by_name, modules)

    def _unrun_record(self, name: str, by_name: dict[str, int], modules: dict[str, nn.Module]) -> int | None:
        if name in by_name:
            return by_name[name]
        parent = self._unrun_record(name.rpartition(".")[0], by_name, modules) if name else None
        depth = self.records[parent].depth + 1 if parent is not None else 0
        rec = self._add(modules[name], name, parent, depth, ran=False)
        by_name[name] = rec.index
        return rec.index


def _check_input_dtype(module: nn.Module, args: tuple) -> None:
    """Raise as the CPU kernel would when a conv or linear layer gets an input of another dtype than its weight.

    Meta kernels do not compare dtypes, so without this an integer input runs through ``conv1`` on meta
    and the failure is blamed on a later layer (a pooling without an integer kernel).
    """
    if not isinstance(module, (ConvNd, nn.Linear)) or not args:
        return
    x, weight = args[0], getattr(module, "weight", None)
    if isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor) and x.dtype != weight.dtype:
        got, want = str(x.dtype).removeprefix("torch."), str(weight.dtype).removeprefix("torch.")
        raise RuntimeError(f"expected the input's dtype to match the weight's ({want}) but got {got}")


@contextlib.contextmanager
def patched_forwards(model: nn.Module, names: dict[nn.Module, str], intercept: Interceptor) -> Iterator[None]:
    """Route every module's forward through ``intercept`` for the pass; restored afterwards."""
    patched: list[tuple[nn.Module, Any]] = []

    def wrap(mod: nn.Module, original: Any) -> Any:
        def forward(*args: Any, **kwargs: Any) -> Any:
            answer = intercept(names[mod], mod, args, kwargs)
            return original(*args, **kwargs) if answer is NOT_HANDLED else answer

        return forward

    try:
        for mod in names:
            had = mod.__dict__.get("forward", NOT_HANDLED)
            patched.append((mod, had))
            mod.forward = wrap(mod, mod.forward)  # type: ignore[method-assign]
        yield
    finally:
        for mod, had in patched:
            if had is NOT_HANDLED:
                mod.__dict__.pop("forward", None)
            else:
                mod.forward = had  # type: ignore[method-assign]
