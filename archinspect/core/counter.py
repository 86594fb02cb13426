"""The one operator-level FLOP counter every command uses.

A :class:`OpCounter` is a ``TorchDispatchMode``: it sees every ATen operator that actually runs — inside
module hooks' reach or not, so ``x @ w``, ``F.linear``, ``einsum`` and attention in a custom ``forward``
count — and hands each one's cost (:func:`archinspect.core.costs.op_cost`: the convention and formulas)
to a callback, which the engine attributes to the module running it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from archinspect.core.categories import CostCategory
from archinspect.core.compat import DispatchMode
from archinspect.core.costs import Formula, OpCost, classify, formulas, op_cost, register_op_cost
from archinspect.core.fastmeta import fast_meta

__all__ = ["CostCategory", "OpCost", "OpCounter", "register_op_cost"]


class OpCounter(DispatchMode):
    """Calls ``on_op(cost)`` for every operator that does arithmetic, as it runs.

    ``observers``: further callables given ``(func, args, kwargs, out)`` for *every* operator once its
    output exists (also those answered by :mod:`~archinspect.core.fastmeta`), e.g. the receptive-field
    tracker.
    """

    def __init__(
        self,
        on_op: Callable[[OpCost], None],
        observers: Sequence[Callable[..., None]] = (),
        on_uncosted: Callable[[str, str], None] | None = None,
        op_costs: Mapping[Any, Formula] | None = None,
    ) -> None:
        """``on_op(cost)`` for every counted operator; ``observers`` see every call (func, args, kwargs, out);
        ``on_uncosted(name, kind)`` for operators without a cost (kind: ``free: view or metadata|copy|factory``
        or ``uncounted``, see :func:`classify`). ``op_costs``: formulas for this counter only (operator or
        ``"aten.foo"`` -> ``fn(args, kwargs, out)``), over those registered with :func:`register_op_cost`
        (taken as they are now) and before the built-in ones, as torch's ``FlopCounterMode(custom_mapping=)``."""
        super().__init__()
        self.custom = formulas(op_costs)
        self.on_op = on_op
        self.observers = tuple(observers)
        self.on_uncosted = on_uncosted

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        kwargs = kwargs or {}
        out = fast_meta(func, args, kwargs)
        if out is None:
            out = func(*args, **kwargs)
        cost = op_cost(func, args, kwargs, out, self.custom)
        if cost is not None:
            self.on_op(cost)
        elif self.on_uncosted is not None:
            self.on_uncosted(*classify(func))
        for observe in self.observers:
            observe(func, args, kwargs, out)
        return out
