"""What a pass must not change in the caller's process, and what it must see on other threads.

:func:`isolated_pass` wraps a whole pass (the engine enters it with one line): torch's global random state
is forked (a Dropout in train mode, ``randn_like`` or a ``manual_seed`` in ``forward`` leave the caller's
seeded run as it was), process-wide settings a ``forward`` may change are put back (default dtype and
device, intra-op threads, deterministic algorithms, anomaly mode, cuDNN and TF32 flags, float32 matmul
precision), and the recursion limit is raised for the pass by what the model's nesting needs (a pass adds
frames per level that a plain call does not: 200 nested modules ran out of the default 1,000).

:func:`threads_counted` makes operators that a submodule runs on another thread inside ``forward`` count:
a ``TorchDispatchMode`` is thread-local, so without it they were missed (8,192 MACs reported, 16,384 ran).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.core.compat import DispatchMode, child_modules

FRAMES_PER_LEVEL = 12  # Python frames a pass spends per level of nesting (hooks, dispatch), with room to spare
RECURSION_CEILING = 30_000  # above this CPython's C stack (8 MiB) may overflow: a crash instead of an error


@dataclass(frozen=True)
class GlobalState:
    """Process-wide torch settings a ``forward`` can change, as they were."""

    default_dtype: torch.dtype
    default_device: Any
    threads: int
    deterministic: bool
    deterministic_warn_only: bool
    anomaly: bool
    matmul_precision: str
    cudnn: tuple[bool, bool, bool]
    tf32: bool

    @classmethod
    def capture(cls) -> GlobalState:
        getter = getattr(torch, "get_default_device", None)
        return cls(
            torch.get_default_dtype(),
            getter() if getter is not None else None,
            torch.get_num_threads(),
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.is_anomaly_enabled(),
            torch.get_float32_matmul_precision(),
            (torch.backends.cudnn.enabled, torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic),
            torch.backends.cuda.matmul.allow_tf32,
        )

    def restore(self) -> None:
        """Put back each setting that differs (setting the thread count is not free: only when changed)."""
        now = GlobalState.capture()
        if now.default_dtype != self.default_dtype:
            torch.set_default_dtype(self.default_dtype)
        if now.default_device != self.default_device:
            torch.set_default_device(self.default_device)
        if now.threads != self.threads:
            torch.set_num_threads(self.threads)
        if (now.deterministic, now.deterministic_warn_only) != (self.deterministic, self.deterministic_warn_only):
            torch.use_deterministic_algorithms(self.deterministic, warn_only=self.deterministic_warn_only)
        if now.anomaly != self.anomaly:
            torch.set_anomaly_enabled(self.anomaly)
        if now.matmul_precision != self.matmul_precision:
            torch.set_float32_matmul_precision(self.matmul_precision)
        if now.cudnn != self.cudnn:
            cudnn = torch.backends.cudnn
            cudnn.enabled, cudnn.benchmark, cudnn.deterministic = self.cudnn
        if now.tf32 != self.tf32:
            torch.backends.cuda.matmul.allow_tf32 = self.tf32


def nesting_depth(model: nn.Module) -> int:
    """How deep ``model``'s modules nest (the model alone: 0; not a module: 0), walked without recursion."""
    if not isinstance(model, nn.Module):
        return 0
    deepest, seen, todo = 0, set(), [(model, 0)]
    while todo:
        module, depth = todo.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in child_modules(module).values() if child is not None)
    return deepest


@contextlib.contextmanager
def deep_enough(model: nn.Module) -> Iterator[None]:
    """The recursion limit raised for a pass over ``model`` by what its nesting needs (never lowered, at most
    :data:`RECURSION_CEILING`), put back afterwards."""
    before = sys.getrecursionlimit()
    needed = min(before + FRAMES_PER_LEVEL * nesting_depth(model), RECURSION_CEILING)
    if needed > before:
        sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        if sys.getrecursionlimit() == needed:
            sys.setrecursionlimit(before)


@contextlib.contextmanager
def isolated_pass(model: nn.Module, device: Any = None) -> Iterator[None]:
    """Run a pass over ``model`` without changing the caller's process: torch's random state forked (CPU, and
    every CUDA device already in use), global settings restored, the recursion limit raised for the pass."""
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    saved = GlobalState.capture()
    with torch.random.fork_rng(devices=cuda), deep_enough(model):
        try:
            yield
        finally:
            saved.restore()


class _Relay(DispatchMode):
    """The pass's counter, entered on a worker thread: every operator goes to ``target``'s handler."""

    def __init__(self, target: DispatchMode) -> None:
        super().__init__()
        self.target = target

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
        return self.target.__torch_dispatch__(func, types, args, kwargs)


@contextlib.contextmanager
def threads_counted(model: nn.Module, counter: DispatchMode, device: Any = None) -> Iterator[None]:
    """While the pass runs, a module of ``model`` called on another thread is run as on the pass's own: the
    ``counter`` sees its operators (a dispatch mode is thread-local), under the pass's grad mode and, on meta,
    with tensors made without ``device=`` on meta. Entered after the recorder's hooks are registered, so that
    the recorder charges the operators to the module running on that thread."""
    owner = threading.get_ident()
    grad = torch.is_grad_enabled()
    on_meta = device is not None and torch.device(device).type == "meta"
    local = threading.local()

    def pre(module: nn.Module, args: Any) -> None:
        if threading.get_ident() == owner:
            return
        depth = getattr(local, "depth", 0)
        if depth == 0:
            entered = contextlib.ExitStack()
            entered.enter_context(torch.set_grad_enabled(grad))
            if on_meta:
                entered.enter_context(torch.device("meta"))
            entered.enter_context(_Relay(counter))
            local.entered = entered
        local.depth = depth + 1

    def post(module: nn.Module, args: Any, output: Any) -> None:
        if threading.get_ident() == owner or not getattr(local, "depth", 0):
            return
        local.depth -= 1
        if local.depth == 0:
            local.entered.close()

    handles = []
    try:
        for module in model.modules():
            if isinstance(module, torch.jit.ScriptModule):  # takes no hooks; its inside runs in TorchScript
                continue
            handles.append(module.register_forward_pre_hook(pre, prepend=True))
            handles.append(module.register_forward_hook(post, always_call=True))
        yield
    finally:
        for handle in handles:
            handle.remove()
