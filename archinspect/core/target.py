"""What one analysis runs: a :class:`Target` is the model, its inputs, its label and how to rebuild it on CPU.

Every analysis (``inspect``, ``count_flops``, ``fit``, ``memory``, ``diff``, ``benchmark``, …) takes the same
target, built once by :meth:`Target.of` from what the caller gave:

- positional inputs: a shape (``(1, 3, 32, 32)``), an :class:`~archinspect.core.inputs.InputSpec`, a real
  tensor, or any pytree of them (a dict, list or tuple holding shapes, specs and tensors), and non-tensor
  values (``True``, ``None``, a string) passed as they are;
- keyword inputs by name, of the same kinds (``need_weights=False`` is a keyword value, not a shape);
- a dict given *as* the inputs is keyword inputs (torchinfo's ``input_data`` convention);
  a dict *inside* the list of inputs is one positional input.

Inputs are leaves of a pytree: :meth:`Target.materialise` turns every spec into a dummy tensor on the
pass's device (real tensors are used as given, moved and cast only when asked), leaving other values alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from archinspect.core.inputs import InputSpec
from archinspect.errors import UsageError

Leaf = Any  # an InputSpec (a dummy to make), a real tensor (used as given) or a plain value


def _is_shape(value: Any) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) > 0
        and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    )


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def normalise(value: Any) -> Any:
    """One input as a pytree whose tensor leaves are InputSpecs or tensors: shapes become InputSpecs."""
    if isinstance(value, InputSpec) or _is_tensor(value):
        return value
    if _is_shape(value):
        return InputSpec(tuple(value))
    if isinstance(value, Mapping):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple keeps its type
        return type(value)(*(normalise(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(normalise(v) for v in value)
    return value


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, leaf) for every InputSpec or tensor in an input pytree, in order; other values are skipped."""
    if isinstance(value, InputSpec) or _is_tensor(value):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")


def map_leaves(value: Any, fn: Callable[[Any], Any]) -> Any:
    """The same pytree with every InputSpec and tensor replaced by ``fn(leaf)``."""
    if isinstance(value, InputSpec) or _is_tensor(value):
        return fn(value)
    if isinstance(value, Mapping):
        return {k: map_leaves(v, fn) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(map_leaves(v, fn) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(map_leaves(v, fn) for v in value)
    return value


def spec_of(leaf: Any) -> InputSpec:
    """The shape and dtype of a tensor leaf, as reports show it."""
    if isinstance(leaf, InputSpec):
        return leaf
    return InputSpec(tuple(leaf.shape), str(leaf.dtype).removeprefix("torch."))


def _positional(inputs: Any) -> list[Any]:
    """The positional inputs as a list: one shape, spec or tensor alone is one input."""
    if inputs is None:
        return []
    if isinstance(inputs, InputSpec) or _is_tensor(inputs) or _is_shape(inputs):
        return [normalise(inputs)]
    if isinstance(inputs, (list, tuple)):
        return [normalise(v) for v in inputs]
    raise UsageError(
        f"inputs={_brief(inputs)} is not accepted; give a shape, an InputSpec, a tensor, a dict of keyword "
        f"inputs, or a list of those (one per positional input)",
        param="inputs",
    )


def _brief(value: Any) -> str:
    """A value named in a message without printing a tensor's numbers (nor a container's contents)."""
    if _is_tensor(value):
        return f"<tensor {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}>"
    if value is None or isinstance(value, (bool, int, float, str)):
        text = repr(value)
        return text if len(text) <= 60 else text[:60] + "…"
    return f"<{type(value).__name__}>"


@dataclass(frozen=True)
class Target:
    """A model and what to feed it: everything an analysis needs besides its options.

    ``args``: positional inputs (pytrees of InputSpecs, tensors and plain values), ``kwargs``: keyword
    inputs by name, ``label``: the name reports show, ``cpu_model``: builds the model on CPU (the meta
    pass's fallback for a model built on meta, whose tensors have no values), or None.
    """

    model: Any  # nn.Module; typed loosely so that importing this module never imports torch
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    cpu_model: Callable[[], Any] | None = None

    @classmethod
    def of(
        cls,
        model: Any,
        inputs: Any = None,
        *,
        kwargs: Mapping[str, Any] | None = None,
        label: str | None = None,
        cpu_model: Callable[[], Any] | None = None,
    ) -> Target:
        """A target from what an API caller gives (see the module docstring); a Target is returned as it is
        (with ``kwargs``, ``label`` and ``cpu_model`` applied when given)."""
        if isinstance(model, Target):
            extra = {k: normalise(v) for k, v in (kwargs or {}).items()}
            return replace(
                model,
                kwargs={**model.kwargs, **extra},
                label=label or model.label,
                cpu_model=cpu_model or model.cpu_model,
            )
        keywords: dict[str, Any] = {}
        if isinstance(inputs, Mapping):
            keywords.update(inputs)
            inputs = None
        keywords.update(kwargs or {})
        for key in keywords:
            if not isinstance(key, str) or not key.isidentifier():
                raise UsageError(
                    f"kwargs key {key!r} is not a Python name; keyword inputs are named like mask=...", param="kwargs"
                )
        return cls(
            model=model,
            args=tuple(_positional(inputs)),
            kwargs={k: normalise(v) for k, v in keywords.items()},
            label=label or type(model).__name__,
            cpu_model=cpu_model,
        )

    # -- what reports show ------------------------------------------------------------------------------
    @property
    def specs(self) -> list[InputSpec]:
        """Shape and dtype of every positional tensor input (pytrees flattened in order)."""
        return [spec_of(leaf) for arg in self.args for _, leaf in leaves(arg)]

    @property
    def keyword_specs(self) -> dict[str, InputSpec]:
        """Shape and dtype of every keyword tensor input, by name (``name.key``/``name[i]`` inside pytrees)."""
        return {path: spec_of(leaf) for name, value in self.kwargs.items() for path, leaf in leaves(value, name)}

    @property
    def tensor_leaves(self) -> list[Any]:
        return [leaf for value in [*self.args, *self.kwargs.values()] for _, leaf in leaves(value)]

    @property
    def real_devices(self) -> list[Any]:
        """Devices of the real (non-meta) tensors among the inputs, in order."""
        return [t.device for t in self.tensor_leaves if _is_tensor(t) and t.device.type != "meta"]

    @property
    def input_bytes(self) -> int:
        return sum(spec_of(leaf).nbytes for leaf in self.tensor_leaves)

    # -- variations -------------------------------------------------------------------------------------
    def with_model(self, model: Any) -> Target:
        return replace(self, model=model)

    def with_args(self, args: Any) -> Target:
        return replace(self, args=tuple(_positional(args)))

    def map_specs(self, fn: Callable[[InputSpec], InputSpec]) -> Target:
        """Every InputSpec leaf replaced by ``fn(spec)`` (real tensors kept)."""

        def each(leaf: Any) -> Any:
            return fn(leaf) if isinstance(leaf, InputSpec) else leaf

        return replace(
            self,
            args=tuple(map_leaves(a, each) for a in self.args),
            kwargs={k: map_leaves(v, each) for k, v in self.kwargs.items()},
        )

    def with_batch(self, batch: int) -> Target:
        """Every dummy input with ``batch`` as its first dimension."""
        return self.map_specs(lambda s: s.with_batch(batch) if s.shape else s)

    def with_dtype(self, dtype_name: str | None) -> Target:
        """Floating dummy inputs cast to ``dtype_name`` (integer inputs keep theirs)."""
        return self if dtype_name is None else self.map_specs(lambda s: s.with_dtype(dtype_name))

    def materialise(self, device: Any, dtype: Any = None) -> tuple[list[Any], dict[str, Any]]:
        """(args, kwargs) for the forward on ``device``: specs made dummies, real tensors moved or cast as asked."""

        def make(leaf: Any) -> Any:
            if isinstance(leaf, InputSpec):
                return leaf.make(device)
            cast = dtype if (dtype is not None and leaf.is_floating_point()) else leaf.dtype
            if leaf.device == device and leaf.dtype == cast:
                return leaf
            return leaf.to(device=device, dtype=cast)

        return [map_leaves(a, make) for a in self.args], {k: map_leaves(v, make) for k, v in self.kwargs.items()}


__all__ = ["Target", "leaves", "map_leaves", "normalise", "spec_of"]
