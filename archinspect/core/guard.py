"""The resource guard: before a pass on a real device, will it fit in the memory that device has free?

The engine estimates what a pass needs from a meta pass (:func:`archinspect.core.engine.estimate_pass`):
the substitutes of every parameter and buffer, the inputs, and a conservative peak of live activations.
:func:`check_memory` compares that with what the device has free — on CPU the kernel's ``MemAvailable``
(``/proc/meminfo``), capped by a cgroup's ``memory.max``; on CUDA ``torch.cuda.mem_get_info`` — and
refuses a pass that would not fit with one line saying what to do instead. ``force=True`` (``--force``)
skips the check.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archinspect.errors import ModelRunError
from archinspect.text import fmt_bytes

MEMINFO = Path("/proc/meminfo")
CGROUP = Path("/sys/fs/cgroup")


class ResourceError(ModelRunError):
    """A pass (or a model build) would need more memory than the device has free; exit 1. ``mentions``: the
    arguments its remedy names (``device='meta'``, ``force=True``), see :class:`~archinspect.errors.UsageError`."""

    def __init__(self, message: str, *, mentions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.mentions = mentions


@dataclass(frozen=True)
class MemoryEstimate:
    """What one pass needs on its device, in bytes.

    ``weights``: the substitutes of every parameter and buffer (the pass's own copies). ``inputs``: the
    dummy inputs. ``activations``: a conservative peak of live activations (``None`` when the meta pass
    that measures them could not run).
    """

    weights: int
    inputs: int
    activations: int | None

    @property
    def total(self) -> int:
        return self.weights + self.inputs + (self.activations or 0)

    def parts(self) -> str:
        acts = fmt_bytes(self.activations) if self.activations is not None else "not estimated"
        return f"weights {fmt_bytes(self.weights)}, inputs {fmt_bytes(self.inputs)}, activations {acts}"


def _cgroup_free() -> int | None:
    """memory.max - memory.current of this process's cgroup (v2), when a limit is set."""
    try:
        limit = (CGROUP / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((CGROUP / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def cpu_free_bytes() -> int | None:
    """Bytes of RAM available to this process without swapping, or None when it cannot be told."""
    free: int | None = None
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        free = None
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            free = None
    capped = _cgroup_free()
    if capped is not None:
        free = capped if free is None else min(free, capped)
    return free


def free_bytes(device: Any) -> int | None:
    """Free memory on ``device`` (a torch device or its name) in bytes; None when unknown (no check)."""
    import torch

    dev = torch.device(device)
    if dev.type == "cpu":
        return cpu_free_bytes()
    if dev.type == "cuda":
        return int(torch.cuda.mem_get_info(dev)[0])
    return None


def check_memory(
    needed: int, device: Any, what: str, detail: str = "", *, batch_hint: bool = True, instead: str | None = None
) -> None:
    """Raise :class:`ResourceError` when ``needed`` bytes exceed what ``device`` has free.

    ``what`` names the work ("this pass", "building resnet50"); ``detail`` its parts, in brackets; ``instead``
    what to do instead (default: ``device='meta'``, a smaller batch), before ``or force=True``.
    """
    free = free_bytes(device)
    if free is None or needed <= free:
        return
    name = str(device)
    inside = f" ({detail})" if detail else ""
    if instead is None:
        instead = "use device='meta' (shapes and FLOPs need no memory)" + (", a smaller batch" if batch_hint else "")
    raise ResourceError(
        f"not enough memory on {name}: {what} needs about {fmt_bytes(needed)}{inside} but {fmt_bytes(free)} is "
        f"free; {instead}, or force=True to try anyway",
        mentions=("device", "force"),
    )


# Operators that make a new tensor from a size: (index of the size argument, or -1 for "like" ops whose size is
# their first argument's). Their bytes are known before they allocate.
_FACTORIES = {
    "empty": 0, "empty_strided": 0, "zeros": 0, "ones": 0, "full": 0, "rand": 0, "randn": 0, "randperm": 0,
    "new_empty": 1, "new_empty_strided": 1, "new_zeros": 1, "new_ones": 1, "new_full": 1,
    "empty_like": -1, "zeros_like": -1, "ones_like": -1, "full_like": -1, "rand_like": -1, "randn_like": -1,
}  # fmt: skip


def _factory_bytes(func: Any, args: tuple, kwargs: dict) -> int | None:
    """Bytes a factory operator is about to allocate, or None for any other operator."""
    import torch

    where = _FACTORIES.get(func._overloadpacket.__name__)
    if where is None or not args:
        return None
    if where < 0:
        first = args[0]
        numel, dtype = first.numel(), kwargs.get("dtype") or first.dtype
    else:
        size = args[where]
        numel = size if isinstance(size, int) else 1
        if not isinstance(size, int):
            for dim in size:
                numel *= int(dim)
        base = args[0] if where == 1 else None
        dtype = kwargs.get("dtype") or (base.dtype if base is not None else torch.get_default_dtype())
    return max(numel, 0) * dtype.itemsize


def allocation_guard(device: Any, what: str) -> Any:
    """A context in which building a model on ``device`` (CPU or CUDA) is stopped, with a
    :class:`ResourceError`, before the tensor that would take its allocations past the memory the device had
    free when it began: counted from the sizes given to factory operators (``torch.empty``, ``zeros``,
    ``randn``, ``new_*``, ``*_like``), before they allocate. Whatever built the model — the zoo, torchvision,
    timm, a user's class or factory — passes through it. A null context on meta or when free memory is unknown."""
    import torch

    from archinspect.core.compat import DispatchMode

    dev = torch.device(device) if device is not None else torch.device("cpu")
    free = free_bytes(dev) if dev.type in ("cpu", "cuda") else None
    if free is None:
        return contextlib.nullcontext()

    class AllocationGuard(DispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[override]
            kwargs = kwargs or {}
            size = _factory_bytes(func, args, kwargs)
            target = kwargs.get("device")
            if size is not None and (target is None or torch.device(target).type == dev.type):
                self.total += size
                if self.total > free:
                    raise ResourceError(
                        f"not enough memory on {dev}: {what} allocates more than {fmt_bytes(self.total)} but "
                        f"{fmt_bytes(free)} is free; use device='meta' (shapes and FLOPs need no memory), smaller "
                        "constructor arguments, or force=True to try anyway",
                        mentions=("device", "force"),
                    )
            return func(*args, **kwargs)

    return AllocationGuard()
