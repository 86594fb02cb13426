"""The model is never changed: a substitute for every parameter and buffer for the duration of a pass,
every module's attributes put back afterwards, train/eval flags restored, and every module held for the pass.

Concurrency: :class:`model_lock` holds every module a pass touches (re-entrant), so threads may inspect the
same model, or models that share submodules; passes over models that share nothing run in parallel.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from archinspect.core.compat import UninitializedTensorMixin


class _Claims:
    """Which thread holds which modules: a pass claims every module of its model at once, or waits.

    Keyed by the module itself (hashed by identity; an entry exists only while a pass holds the module).
    Claiming all of a model's modules in one step, under one
    condition, means two models that share a submodule are serialised wherever the sharing is, and no
    thread ever holds some of the modules it needs while waiting for the others (no deadlock between
    passes). A thread's own claims are re-entrant: a nested claim takes only the modules it lacks, and
    gives back only those (claims are released in reverse order, as ``with`` blocks are).
    """

    def __init__(self) -> None:
        self.owner: dict[nn.Module, int] = {}  # module -> ident of the thread whose pass holds it
        self.changed = threading.Condition(threading.Lock())

    def acquire(self, modules: frozenset[nn.Module]) -> set[nn.Module]:
        """Waits until no other thread holds any of ``modules``, takes them; returns those newly taken."""
        me = threading.get_ident()
        owner = self.owner
        with self.changed:
            while any(owner[m] != me for m in owner.keys() & modules):
                self.changed.wait()
            new = modules - owner.keys()
            owner.update(dict.fromkeys(new, me))
        return new

    def release(self, modules: set[nn.Module]) -> None:
        with self.changed:
            for m in modules:
                del self.owner[m]
            self.changed.notify_all()


_CLAIMS = _Claims()


class model_lock:  # noqa: N801 - used as a function: ``with model_lock(model):``
    """Holds every module of ``model`` (each submodule, shared or not) for a pass; re-entrant per thread.

    A pass swaps tensors in the tables of every module it runs; any other pass over a model that shares
    one of those modules waits until this one is over, and passes over disjoint models run in parallel.
    """

    def __init__(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model must be a torch.nn.Module, got {type(model).__name__}")
        self.modules = frozenset(model.modules())
        self.taken: list[set[nn.Module]] = []  # per ``with`` on this object: the modules it newly took

    def __enter__(self) -> model_lock:
        self.taken.append(_CLAIMS.acquire(self.modules))
        return self

    def __exit__(self, *exc: object) -> None:
        _CLAIMS.release(self.taken.pop())


def substitutes(model: nn.Module, target: torch.device, dtype: str | None, mode: str) -> list[Swap]:
    """A substitute for every parameter and buffer of every module, for this one pass (the model keeps its own).

    Every tensor is replaced, on every device, so that writes in ``forward`` (``self.acc += x``, BatchNorm
    statistics in train mode, spectral norm's power iteration) land on the substitutes. A module shared
    under two names is visited once; a tensor held by two modules (tied weights) gets one substitute.
    Lazy modules' uninitialised parameters are left as they are.
    """
    cast = getattr(torch, dtype) if dtype else None
    made: dict[int, torch.Tensor] = {}
    swaps: list[Swap] = []
    for mod in model.modules():  # unique modules: a shared one once
        for slot in ("_parameters", "_buffers"):
            for key, t in getattr(mod, slot).items():
                if t is None or isinstance(t, UninitializedTensorMixin):
                    continue
                if id(t) not in made:
                    made[id(t)] = _substitute(t, target, cast)
                swaps.append(Swap(mod, slot, key, made[id(t)]))
    return swaps


@dataclass(frozen=True)
class Swap:
    """One tensor slot of one module and the substitute that takes its place."""

    module: nn.Module
    slot: str  # "_parameters" or "_buffers"
    key: str
    tensor: torch.Tensor


def _substitute(t: torch.Tensor, target: torch.device, cast: torch.dtype | None) -> torch.Tensor:
    want = cast if (cast is not None and t.is_floating_point()) else t.dtype
    if target.type == "meta":
        sub = torch.empty(t.shape, dtype=want, device=target)
    elif t.device.type == "meta":
        sub = torch.zeros(t.shape, dtype=want, device=target)
    else:
        sub = t.detach().to(device=target, dtype=want, copy=True)
    if isinstance(t, nn.Parameter):
        return nn.Parameter(sub, requires_grad=t.requires_grad and sub.is_floating_point())
    return sub


@contextlib.contextmanager
def substituted(model: nn.Module, swaps: list[Swap]) -> Iterator[None]:
    """The substitutes in place of the model's tensors, and every module's attributes, restored afterwards.

    Attributes a ``forward`` sets (``self.calls += 1``, ``self.last = x``) are undone too: each module's
    ``__dict__`` is put back as it was, key for key and object for object.
    """
    saved = {mod: dict(mod.__dict__) for mod in model.modules() if not isinstance(mod, torch.jit.ScriptModule)}
    slots = {id(getattr(s.module, s.slot)): dict(getattr(s.module, s.slot)) for s in swaps}
    try:
        for s in swaps:
            getattr(s.module, s.slot)[s.key] = s.tensor
        yield
    finally:
        for s in swaps:
            table = getattr(s.module, s.slot)
            original = slots[id(table)]
            table.clear()
            table.update(original)
        for mod, attrs in saved.items():
            now = mod.__dict__
            if now.keys() != attrs.keys() or any(now[k] is not v for k, v in attrs.items()):
                now.clear()
                now.update(attrs)


@contextlib.contextmanager
def training_mode(model: nn.Module, mode: str) -> Iterator[nn.Module]:
    """``model`` in ``mode`` ("eval" or "train") for the block; every module's own flag restored after."""
    flags = {m: m.training for m in model.modules()}
    try:
        model.train(mode == "train")
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag
