"""The training step that memory is measured on, shared by the prediction (:mod:`archinspect.analyses.memory`)
and the real-run check (:mod:`archinspect.analyses.memory_check`), so both measure the same code: the real
``torch.optim`` optimizers by name, their state allocated before the step, and the step itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from archinspect.core.tensors import tensors
from archinspect.errors import ModelRunError, UsageError

OPTIMIZERS: dict[str, str] = {
    "none": "no optimizer state (forward and backward only)",
    "sgd": "torch.optim.SGD(lr=0.01), no state",
    "momentum": "torch.optim.SGD(lr=0.01, momentum=0.9), one buffer per parameter",
    "adam": "torch.optim.Adam, two moments per parameter and a step counter",
    "adamw": "torch.optim.AdamW, two moments per parameter and a step counter",
}
STATEFUL = ("momentum", "adam", "adamw")


def make_optimizer(name: str, params: list[torch.Tensor], foreach: bool) -> torch.optim.Optimizer | None:
    """The real ``torch.optim`` optimizer ``name`` (see :data:`OPTIMIZERS`) over ``params``; None for ``none``."""
    if name == "none":
        return None
    if name in ("sgd", "momentum"):
        return torch.optim.SGD(params, lr=0.01, momentum=0.9 if name == "momentum" else 0.0, foreach=foreach)
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=1e-3, foreach=foreach)


def check_optimizer(name: str) -> str:
    key = (name or "").strip().lower()
    if key not in OPTIMIZERS:
        accepted = ", ".join(OPTIMIZERS)
        raise UsageError(f"optimizer={name!r} is not an optimizer; accepted: {accepted}", param="optimizer")
    return key


def prime_optimizer(opt: torch.optim.Optimizer, params: list[torch.Tensor], fake: Any = None) -> None:
    """Allocate ``opt``'s state as a first step would (zero gradients, one step, grads freed again)."""
    with fake if fake is not None else contextlib.nullcontext():
        for p in params:
            p.grad = torch.zeros_like(p)
    with torch.no_grad():
        opt.step()
    opt.zero_grad(set_to_none=True)


def optimizer_tensors(opt: torch.optim.Optimizer | None) -> list[torch.Tensor]:
    """Every tensor in ``opt``'s state (momentum buffers, moments, step counters)."""
    return [] if opt is None else list(tensors(list(opt.state.values())))


class TrainingStep:
    """The step that is measured, shared by the prediction and by the real-run check
    (:mod:`archinspect.analyses.memory_check`) so both measure the same code.

    ``forward()`` runs the model; ``on_phase(name)`` is told when forward, backward and optimizer begin;
    ``pack`` sees every tensor autograd saves (``saved_tensors_hooks``).
    """

    def __init__(
        self,
        forward: Callable[[], Any],
        opt: torch.optim.Optimizer | None,
        on_phase: Callable[[str], None] = lambda _p: None,
        amp: Callable[[], Any] = contextlib.nullcontext,
        pack: Callable[[torch.Tensor], Any] | None = None,
        context: Callable[[str], Any] = lambda _p: contextlib.nullcontext(),
    ) -> None:
        self.forward, self.opt, self.on_phase, self.amp, self.pack = forward, opt, on_phase, amp, pack
        self.context = context

    def infer(self) -> None:
        self.on_phase("forward")
        with self.context("forward"), torch.no_grad(), self.amp():
            self.forward()

    def train(self) -> None:
        self.on_phase("forward")
        hooks = (
            torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t) if self.pack else contextlib.nullcontext()
        )
        with self.context("forward"):
            with hooks, self.amp():
                out = self.forward()
            outs = [t for t in tensors(out) if t.requires_grad]
            if not outs:
                raise ModelRunError("the model's output does not require grad: nothing to train")
            loss = outs[0].sum()
            for t in outs[1:]:
                loss = loss + t.sum()
        self.on_phase("backward")
        with self.context("backward"):
            loss.backward()
        self.on_phase("optimizer")
        with self.context("optimizer"):
            if self.opt is not None:
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
            del out, outs, loss
