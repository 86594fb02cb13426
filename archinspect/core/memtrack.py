"""Live-storage accounting: every tensor storage an operator creates, when it is freed, and the running peak.

A :class:`StorageTracker` is a ``TorchDispatchMode``: it sees the output of every ATen operator, registers
each new untyped storage once (a view shares its base's storage and costs nothing) and puts a weakref
finaliser on it, so the storage's release is seen the moment the last tensor using it dies. It keeps the
running total of live bytes and its maximum. Each storage carries a kind (parameter, gradient, activation,
...), the module call that created it and its allocation/release sequence numbers, so what was alive at the
peak is recomputed afterwards (:meth:`StorageTracker.alive_at_peak`) without copying anything while the
model runs. The same idea as torch's ``torch.distributed._tools.mem_tracker.MemTracker``, kept small.

Run on fake or meta tensors it allocates nothing: sizes come from shapes and dtypes alone.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch

from archinspect.core.compat import DispatchMode, tree_flatten

# Kinds of storage, in the order a breakdown lists them.
KINDS = (
    "params",
    "buffers",
    "inputs",
    "grads",
    "optimizer_state",
    "saved_activations",
    "other_activations",
    "temporaries",
)

CUDA_BLOCK = 512  # the CUDA caching allocator rounds every request up to a multiple of 512 bytes


def rounded(nbytes: int, block: int) -> int:
    """``nbytes`` rounded up to a multiple of ``block`` (``block`` 1: unchanged; 0 bytes stay 0)."""
    return -(-nbytes // block) * block if block > 1 else nbytes


@dataclass
class StorageInfo:
    """One storage: its size in bytes (after rounding), kind, creating module call and lifetime."""

    nbytes: int
    kind: str
    owner: int | None  # index of the module call whose forward created it
    born: int  # sequence number of its allocation
    died: int | None = None  # sequence number of its release; None while alive
    saved: bool = False  # autograd saved it for backward


class StorageTracker(DispatchMode):
    """Counts live storage bytes on one device; ``peak`` is the maximum, ``peak_phase`` when it happened.

    ``block``: allocation rounding in bytes (1 = exact tensor bytes; 512 models the CUDA caching
    allocator). ``device_types``: only storages on these device types count (an optimizer's CPU step
    counters take no GPU memory). ``on_alloc(info)`` is called for every new storage.
    """

    def __init__(
        self,
        device_types: tuple[str, ...],
        block: int = 1,
        on_alloc: Callable[[StorageInfo], None] | None = None,
    ) -> None:
        super().__init__()
        self.device_types = device_types
        self.block = block
        self.on_alloc = on_alloc
        self.infos: dict[int, StorageInfo] = {}  # id(storage) -> info, for live storages
        self.all: list[StorageInfo] = []
        self._refs: dict[int, weakref.ref] = {}
        self.seq = 0
        self.live = 0
        self.peak = 0
        self.peak_seq = 0
        self.phase = "forward"
        self.peak_phase = "forward"
        self.phase_peaks: dict[str, int] = {}
        self.owner: int | None = None  # the module call running now (forward only)
        self.default_kind = "other_activations"

    # -- registration ---------------------------------------------------------------------------------
    def info_of(self, t: torch.Tensor) -> StorageInfo | None:
        """The live storage record behind ``t`` (None when untracked or on another device)."""
        st = t.untyped_storage()
        ref = self._refs.get(id(st))
        return self.infos.get(id(st)) if ref is not None and ref() is st else None

    def track(self, t: torch.Tensor, kind: str | None = None) -> StorageInfo | None:
        """Register ``t``'s storage if new (returns its record); an existing record keeps its kind."""
        if t.device.type not in self.device_types or t.layout != torch.strided:
            return None
        found = self.info_of(t)
        if found is not None:
            return found
        st = t.untyped_storage()
        key = id(st)
        self.seq += 1
        info = StorageInfo(rounded(st.nbytes(), self.block), kind or self.default_kind, self.owner, self.seq)
        self.infos[key] = info
        self.all.append(info)
        self._refs[key] = weakref.ref(st, lambda _ref, key=key: self._release(key))
        self.live += info.nbytes
        if self.live > self.phase_peaks.get(self.phase, -1):
            self.phase_peaks[self.phase] = self.live
        if self.live > self.peak:
            self.peak, self.peak_seq, self.peak_phase = self.live, self.seq, self.phase
        if self.on_alloc is not None:
            self.on_alloc(info)
        return info

    def track_all(self, tensors: Iterable[Any], kind: str) -> None:
        for t in tensors:
            if isinstance(t, torch.Tensor):
                self.track(t, kind)

    def _release(self, key: int) -> None:
        info = self.infos.pop(key, None)
        self._refs.pop(key, None)
        if info is None:
            return
        self.seq += 1
        info.died = self.seq
        self.live -= info.nbytes

    def set_phase(self, phase: str, kind: str) -> None:
        """From now on new storages belong to ``phase`` and are of ``kind`` unless said otherwise."""
        self.phase, self.default_kind = phase, kind
        self.phase_peaks.setdefault(phase, self.live)

    # -- the pass ---------------------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.track(t)
        return out

    # -- afterwards -------------------------------------------------------------------------------------
    def alive_at_peak(self) -> list[StorageInfo]:
        """The storages that were alive at the moment of the peak."""
        s = self.peak_seq
        return [i for i in self.all if i.born <= s and (i.died is None or i.died > s)]

    def breakdown(self) -> dict[str, int]:
        """Bytes alive at the peak by kind (keys: :data:`KINDS`); the values sum to ``peak``."""
        out = dict.fromkeys(KINDS, 0)
        for info in self.alive_at_peak():
            kind = "saved_activations" if (info.saved and info.kind == "other_activations") else info.kind
            out[kind] += info.nbytes
        return out
