"""The resource guard: before a pass on a real device, will it fit in the memory that device has free?

The engine estimates what a pass needs from a meta pass (:func:`archinspect.core.engine.estimate_pass`):
the substitutes of every parameter and buffer, the inputs, and a conservative peak of live activations.
:func:`check_memory` compares that with what the device has free — on CPU the kernel's ``MemAvailable``
(``/proc/meminfo``), capped by a cgroup's ``memory.max``; on CUDA ``torch.cuda.mem_get_info`` — and
refuses a pass that would not fit with one line saying what to do instead. ``force=True`` (``--force``)
skips the check.
"""

from __future__ import annotations

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


def check_memory(needed: int, device: Any, what: str, detail: str = "", *, batch_hint: bool = True) -> None:
    """Raise :class:`ResourceError` when ``needed`` bytes exceed what ``device`` has free.

    ``what`` names the work ("this pass", "building resnet50"); ``detail`` its parts, in brackets.
    """
    free = free_bytes(device)
    if free is None or needed <= free:
        return
    name = str(device)
    inside = f" ({detail})" if detail else ""
    instead = "use device='meta' (shapes and FLOPs need no memory)"
    if batch_hint:
        instead += ", a smaller batch"
    raise ResourceError(
        f"not enough memory on {name}: {what} needs about {fmt_bytes(needed)}{inside} but {fmt_bytes(free)} is "
        f"free; {instead}, or force=True to try anyway",
        mentions=("device", "force"),
    )
