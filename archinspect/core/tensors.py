"""The tensors inside a module's arguments or output, however they are nested."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor in ``obj``: tuples, lists, dicts, named tuples and dataclasses flattened in order."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from tensors(item)
    elif hasattr(obj, "__dataclass_fields__") or hasattr(obj, "_fields"):
        yield from tensors(tuple(getattr(obj, f) for f in getattr(obj, "_fields", obj.__dict__)))


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
