"""Device names as typed (``auto|meta|cpu|cuda|cuda:N``) to torch devices, with clear errors."""

from __future__ import annotations

import re

from archinspect.errors import UsageError

ACCEPTED = "auto, meta, cpu, cuda, cuda:N"


def resolve_device(name: str, *, auto: str = "meta", instead: str = "cpu or meta") -> str:
    """Check ``name`` and return a concrete device string; ``auto`` becomes ``auto`` (per command).

    Raises UsageError for an unknown name or for CUDA where there is none (suggesting ``instead``).
    """
    if name is not None and not str(name).strip():
        raise UsageError(f"device={name!r} is empty; accepted: {ACCEPTED}", param="device")
    text = (name or "auto").strip().lower()
    if text == "auto":
        text = auto
    if text in ("meta", "cpu"):
        return text
    m = re.fullmatch(r"cuda(?::(\d+))?", text)
    if not m:
        shown = repr(name) if len(name) <= 80 else repr(name[:80]) + "…"
        raise UsageError(f"device={shown} is not a device; accepted: {ACCEPTED}", param="device")
    import torch

    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        use = " or ".join(f"device={choice!r}" for choice in instead.split(" or "))
        raise UsageError(f"device={name!r}: CUDA is not available ({why}); use {use}", param="device")
    index = int(m.group(1) or torch.cuda.current_device())
    count = torch.cuda.device_count()
    if index >= count:
        message = f"device={name!r}: there are {count} CUDA devices (cuda:0 to cuda:{count - 1})"
        raise UsageError(message, param="device")
    return f"cuda:{index}"


def auto_bench_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cuda_free_bytes(device: str) -> int:
    """Free memory on a CUDA device as the driver reports it (``torch.cuda.mem_get_info``), in bytes."""
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return int(free)
