"""What real models need before one inspection pass can run them, none of it changing the model.

- ``nn.DataParallel`` / ``DistributedDataParallel`` wrappers are unwrapped (the wrapped module is what runs).
- A container without ``forward`` (``nn.ModuleList``) is a clear error instead of torch's.
- Lazy modules (``nn.LazyLinear``) are materialised on a *copy* for the pass; the user's stays lazy.
- TorchScript submodules cannot take Python hooks: each is called through a :class:`ScriptProxy` that
  stands in its parent's slot for the pass, so it is one leaf row whose operators are still counted.
- Plain tensor attributes that are not buffers (``AnchorGenerator.cell_anchors``) are put on the pass's
  device for its duration, so a CPU pass holds no meta tensor and a meta pass no CPU one.
- Fused RNN kernels (oneDNN on CPU, cuDNN) hide their products from the counter: on those devices each
  ``nn.RNNBase`` call is counted by replaying it on meta, where torch runs its unfused implementation —
  so an LSTM costs the same on every device.

Every swap is undone in ``finally``.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from archinspect.core.compat import child_modules, own_buffers, own_parameters
from archinspect.errors import UsageError

_WRAPPERS = (nn.DataParallel, nn.parallel.DistributedDataParallel)


def unwrap(model: nn.Module) -> tuple[nn.Module, str | None]:
    """The module a DataParallel/DistributedDataParallel wrapper runs, and a note saying so (else None)."""
    kinds = []
    while isinstance(model, _WRAPPERS):
        kinds.append(type(model).__name__)
        model = model.module
    if not kinds:
        return model, None
    return model, f"unwrapped {' > '.join(kinds)}: inspected its .module ({type(model).__name__})"


def check_forward(model: nn.Module, label: str) -> None:
    """A UsageError for a module with no ``forward`` of its own (``nn.ModuleList``, ``nn.ModuleDict``)."""
    if isinstance(model, torch.jit.ScriptModule):
        return
    if getattr(type(model), "forward", None) is nn.Module.forward:
        children = ", ".join(name for name, _ in list(model.named_children())[:4]) or "none"
        raise UsageError(
            f"{label} ({type(model).__name__}) has no forward(): it is a container, not a model that runs; "
            f"inspect one of its members (children: {children}) or a module whose forward calls them"
        )


def has_lazy(model: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())


def lazy_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A deep copy of ``model`` whose uninitialised parameters and buffers will materialise on ``device``.

    ``copy.deepcopy`` refuses uninitialised tensors (``LazyBatchNorm2d``'s buffers raise "Attempted to use an
    uninitialized parameter in Tensor.__deepcopy__"), so fresh uninitialised ones on ``device`` are given to
    the copy through deepcopy's memo; shared ones stay shared.
    """
    memo: dict[int, Any] = {}
    for mod in model.modules():
        for t in own_parameters(mod).values():
            if isinstance(t, nn.UninitializedParameter) and id(t) not in memo:
                memo[id(t)] = nn.UninitializedParameter(requires_grad=t.requires_grad, device=device, dtype=t.dtype)
        for t in own_buffers(mod).values():
            if isinstance(t, nn.UninitializedBuffer) and id(t) not in memo:
                memo[id(t)] = nn.UninitializedBuffer(requires_grad=False, device=device, dtype=t.dtype)
    return copy.deepcopy(model, memo)


def script_roots(model: nn.Module) -> dict[str, nn.Module]:
    """Qualified name -> TorchScript module, for every scripted module not inside another one."""
    roots: dict[str, nn.Module] = {}
    for name, mod in model.named_modules():
        if isinstance(mod, torch.jit.ScriptModule) and not any(
            name == r or name.startswith(r + ".") or r == "" for r in roots
        ):
            roots[name] = mod
    return roots


class ScriptProxy(nn.Module):
    """Calls a TorchScript module (held unregistered, so its parameters stay where they are) from Python."""

    def __init__(self, script: nn.Module) -> None:
        super().__init__()
        self.__dict__["script"] = script
        self.shown_type = f"{getattr(script, 'original_name', type(script).__name__)} (TorchScript)"

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.__dict__["script"](*args, **kwargs)


@contextlib.contextmanager
def proxied_scripts(model: nn.Module, roots: dict[str, nn.Module]) -> Iterator[dict[nn.Module, nn.Module]]:
    """Put a :class:`ScriptProxy` in each scripted module's slot for the block; yields proxy -> script."""
    placed: list[tuple[nn.Module, str, nn.Module]] = []
    proxies: dict[nn.Module, nn.Module] = {}
    try:
        for name, script in roots.items():
            if not name:
                continue
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            proxy = ScriptProxy(script)
            child_modules(parent)[attr] = proxy
            placed.append((parent, attr, script))
            proxies[proxy] = script
        yield proxies
    finally:
        for parent, attr, script in placed:
            child_modules(parent)[attr] = script


def _moved(value: Any, target: torch.device) -> tuple[Any, int]:
    """``value`` (a tensor, or a list/tuple of them) on ``target``, and how many meta tensors became zeros."""
    if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
        if value.device == target:
            return value, 0
        if value.device.type == "meta":
            return torch.zeros(value.shape, dtype=value.dtype, device=target), 1
        return value.detach().to(target), 0
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        moved = [_moved(v, target) for v in value]
        if all(m is v for (m, _), v in zip(moved, value, strict=True)):
            return value, 0
        items = [m for m, _ in moved]
        return (type(value)(items) if isinstance(value, list) else tuple(items)), sum(n for _, n in moved)
    return value, 0


_MODULE_SLOTS = {"_parameters", "_buffers", "_modules"}


@contextlib.contextmanager
def stray_tensors_on(model: nn.Module, target: torch.device) -> Iterator[int]:
    """Plain tensor attributes (not parameters or buffers; lists of tensors too) on ``target`` for the block.

    Yields how many were meta tensors made zeros (they had no values to copy). Restored afterwards.
    """
    swapped: list[tuple[nn.Module, str, Any]] = []
    zeros = 0
    try:
        for mod in model.modules():
            for key, value in list(vars(mod).items()):
                if key in _MODULE_SLOTS or key.startswith("__"):
                    continue
                new, made = _moved(value, target)
                if new is not value:
                    swapped.append((mod, key, value))
                    mod.__dict__[key] = new
                    zeros += made
        yield zeros
    finally:
        for mod, key, value in swapped:
            mod.__dict__[key] = value


def _meta_copy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        if obj.is_floating_point() or obj.device.type != "cpu":
            return torch.empty(obj.shape, dtype=obj.dtype, device="meta")
        return obj  # PackedSequence.batch_sizes and the like stay CPU integers
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_meta_copy(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_meta_copy(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _meta_copy(v) for k, v in obj.items()}
    return obj


@contextlib.contextmanager
def rnn_replays(model: nn.Module, counter: Callable[[], Any], mute: Callable[[int], None]) -> Iterator[None]:
    """Count every ``nn.RNNBase`` call by a meta replay of it; the real (fused) call is muted.

    ``counter()`` gives a fresh OpCounter that charges costs unmuted; ``mute(+1/-1)`` brackets the real call.
    """
    handles = []

    def pre(module: nn.Module, args: tuple, kwargs: dict) -> None:
        from archinspect.core.compat import reparametrize_module

        mute(1)  # before the replay: the pass's own counter sees the replay's operators too
        params = {k: torch.empty(p.shape, dtype=p.dtype, device="meta") for k, p in module.named_parameters()}
        with torch.no_grad(), reparametrize_module(module, params), counter():
            module.forward(*_meta_copy(args), **_meta_copy(kwargs))  # forward itself: no hooks again

    def post(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        mute(-1)

    try:
        for mod in model.modules():
            if isinstance(mod, nn.RNNBase) and not isinstance(mod, torch.jit.ScriptModule):
                handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
                handles.append(mod.register_forward_hook(post, with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()
