"""The tensors inside a module's arguments or output, however they are nested.

Outputs come in many containers: tuples, lists, dicts, named tuples, dataclasses (``slots=True`` too),
``torch.distributions`` objects (their parameters: ``Normal`` gives ``loc`` and ``scale``) and plain
objects holding tensors in attributes (a detection head's ``ImageList``). All are flattened in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import torch

_MAX_NESTING = 8  # objects inside objects: deeper than this is not an output container


def _attributes(obj: Any) -> list[Any] | None:
    """The public attribute values of a plain object, a slots dataclass or a distribution; None if none."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [getattr(obj, f.name, None) for f in dataclasses.fields(obj)]
    if isinstance(obj, (str, bytes, int, float, bool, type)) or obj is None or callable(obj):
        return None
    values: list[Any] = []
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        # A distribution keeps the parameters it was built with (loc, scale, logits) here; the ones it
        # would derive lazily (probs from logits) are not computed: that would run operators.
        values.extend(v for k, v in attrs.items() if not k.startswith("_"))
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if isinstance(slot, str) and not slot.startswith("_") and hasattr(obj, slot):
                values.append(getattr(obj, slot))
    return values or None


def tensors(obj: Any, _depth: int = 0) -> Iterator[torch.Tensor]:
    """Every tensor in ``obj``: containers, named tuples, dataclasses, distributions and objects, in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors(item, _depth)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors(item, _depth)
    elif _depth < _MAX_NESTING and not isinstance(obj, torch.nn.Module):
        values = _attributes(obj)
        for item in values or ():
            yield from tensors(item, _depth + 1)


def first_tensor(obj: Any) -> torch.Tensor | None:
    """The first tensor in ``obj`` (see :func:`tensors`), or None."""
    return next(tensors(obj), None)


def shapes(obj: Any) -> list[tuple[int, ...]]:
    return [tuple(t.shape) for t in tensors(obj)]


def nbytes(obj: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors(obj))


def named_args(func: Any, args: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every argument of an ATen call by its schema name (defaults filled in)."""
    named = {}
    for i, arg in enumerate(func._schema.arguments):
        if i < len(args) and not arg.kwarg_only:
            named[arg.name] = args[i]
        else:
            named[arg.name] = kwargs.get(arg.name, arg.default_value if arg.has_default_value() else None)
    return named
