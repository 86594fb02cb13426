"""Measuring a real run's peak, independently of the prediction, to check :func:`archinspect.memory` against.

The same step (:class:`~archinspect.analyses.train_step.TrainingStep`: forward, ``loss = sum of outputs``,
backward, optimizer step, ``zero_grad(set_to_none=True)``, optimizer state primed by an earlier step) runs
on real CPU tensors on a deep copy of the model, measured by one of two independent instruments:

- ``profiler``: ``torch.profiler`` memory events — every allocation and free the CPU allocator performs
  during the step, including buffers kernels allocate internally (oneDNN reorders, im2col), which no
  dispatch-level tracker sees. Peak = bytes alive at the start + the highest running sum of the events.
- ``memtracker``: torch's own ``torch.distributed._tools.mem_tracker.MemTracker`` on real tensors.

This allocates and computes for real: keep batches small.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch
from torch import nn

from archinspect.analyses.train_step import TrainingStep, check_optimizer, make_optimizer, prime_optimizer
from archinspect.core.inputs import as_specs
from archinspect.core.substitute import training_mode
from archinspect.core.tensors import tensors
from archinspect.errors import UsageError

METHODS = ("profiler", "memtracker")


def measured_peak(
    model: nn.Module,
    inputs: Any,
    *,
    mode: str = "eval",
    optimizer: str = "sgd",
    dtype: str | None = None,
    amp: bool = False,
    method: str = "profiler",
    foreach: bool = False,
) -> int:
    """Peak bytes of one real CPU inference or training step of a copy of ``model`` (left untouched)."""
    if method not in METHODS:
        raise UsageError(f"method {method!r}: accepted: {', '.join(METHODS)}")
    with torch.random.fork_rng():  # seeded for repeatable runs; the caller's RNG state is left as it was
        torch.manual_seed(0)
        return _measured_peak(model, inputs, mode, optimizer, dtype, amp, method, foreach)


def _measured_peak(
    model: nn.Module, inputs: Any, mode: str, optimizer: str, dtype: str | None, amp: bool, method: str, foreach: bool
) -> int:
    real = copy.deepcopy(model).to("cpu")
    if dtype is not None:
        real = real.to(getattr(torch, dtype))
    specs = [s.with_dtype(dtype) if dtype else s for s in as_specs(inputs)]
    args = [s.make("cpu") for s in specs]
    opt = None
    if mode == "train" and check_optimizer(optimizer) != "none":
        params = [p for p in real.parameters() if p.requires_grad]
        opt = make_optimizer(optimizer, params, foreach)
        prime_optimizer(opt, params)
    with training_mode(real, mode):
        step = TrainingStep(
            lambda: real(*args),
            opt,
            amp=(lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if amp else contextlib.nullcontext,
        )
        run = step.infer if mode == "eval" else step.train
        if method == "memtracker":
            return _with_memtracker(run, real, opt, args)
        return peak_of_run(run, real, opt, args)


def _storages_bytes(items: list[torch.Tensor]) -> int:
    seen: dict[int, int] = {}
    for t in items:
        st = t.untyped_storage()
        seen[st.data_ptr() or id(st)] = st.nbytes()
    return sum(seen.values())


def peak_of_run(run: Any, model: nn.Module, opt: Any, args: list[torch.Tensor]) -> int:
    """Peak bytes of ``run()`` on CPU: storages of ``model``, ``args`` and ``opt``'s state alive before it, plus
    the highest running sum of ``torch.profiler``'s memory events during it (the ``profiler`` method)."""
    from torch.profiler import ProfilerActivity, profile

    state = list(tensors(list(opt.state.values()))) if opt is not None else []
    base = _storages_bytes([*model.parameters(), *model.buffers(), *args, *state])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    live = high = 0
    for _, n in events:
        live += n
        high = max(high, live)
    return base + high


def _with_memtracker(run: Any, model: nn.Module, opt: Any, args: list[torch.Tensor]) -> int:
    from archinspect.core.compat import mem_tracker

    MemTracker = mem_tracker()  # noqa: N806 - torch's class

    tracker = MemTracker()
    tracker.track_external(model, *([opt] if opt is not None else []), *args)
    with tracker:
        run()
    peak = tracker.get_tracker_snapshot("peak")
    return int(peak[torch.device("cpu")]["Total"])
