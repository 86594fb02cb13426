"""Several models in one run: MODEL references loaded one at a time (memory holds one model) and timed
with one :class:`~archinspect.bench.runner.BenchPlan`, checked before anything loads. Imports torch only
when called, so the CLI's ``--help`` can show :data:`DEFAULT_SUITE`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archinspect.bench.result import BenchResult
    from archinspect.bench.runner import BenchOptions
    from archinspect.core.inputs import InputSpec

# Small to mid-size zoo models: two ResNets, a DenseNet, VGG-16 (matmul-heavy) and the CIFAR DenseNet-BC
# (many small kernels, launch-bound at batch 1). On 2 CPU cores the whole suite takes about a minute.
DEFAULT_SUITE = ("resnet18", "resnet50", "densenet121", "vgg16", "densenet-bc")
DEFAULT_BATCHES_CUDA = (1, 32)

# progress(total rows) is a context manager yielding advance(description, rows done)
Progress = Callable[[int], AbstractContextManager[Callable[[str, int], None]]]


def benchmark_models(
    refs: Sequence[str],
    inputs: list[InputSpec] | None = None,
    kwargs: dict[str, Any] | None = None,
    *,
    keyword_inputs: dict[str, InputSpec] | None = None,
    device: str = "auto",
    batches: list[int] | None = None,
    options: BenchOptions | None = None,
    peak: bool = True,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> BenchResult:
    """Benchmark each MODEL reference (``DEFAULT_SUITE`` when empty) in turn; one concatenated result.

    ``inputs``: the input specs for every model (default: each zoo model's own); ``keyword_inputs``: keyword
    inputs by name for every model (``--input NAME=SHAPE``). ``kwargs``: constructor arguments. On CUDA the
    default batch sweep is :data:`DEFAULT_BATCHES_CUDA`. The matmul peak is measured once and shared by every
    model's rows. ``warn`` receives, before anything is timed, a warning when a CPU run would compete with
    other processes for the cores (:func:`.policy.oversubscription`).
    """
    import contextlib

    from archinspect.analyses.hints import missing_batch_hint
    from archinspect.bench.result import BenchResult
    from archinspect.bench.runner import BenchPlan, benchmark
    from archinspect.core.limits import check_bound
    from archinspect.errors import UsageError
    from archinspect.models.loading import load_model, split_reference
    from archinspect.models.zoo import get_entry

    refs = list(refs) or list(DEFAULT_SUITE)
    plan = BenchPlan.make(device, options)
    for size in batches or []:
        check_bound("batch_sizes", size)
    for ref in refs:  # unknown zoo names fail before anything is timed, not after minutes of the suite
        kind, target, _ = split_reference(ref)
        if kind == "zoo":
            get_entry(target)
    if plan.device.type == "cpu" and warn is not None:
        warning = cpu_contention(plan.threads)
        if warning is not None:
            warn(warning)
    if batches is None and plan.device.type == "cuda":
        batches = list(DEFAULT_BATCHES_CUDA)
    total = len(refs) * len(batches or [1]) * len(plan.variants)
    bar = progress(total) if progress is not None else contextlib.nullcontext(lambda description, steps: None)
    results: list[BenchResult] = []
    shared_peak: Any = peak
    with bar as advance:
        for ref in refs:
            advance(f"{ref}: loading", 0)
            loaded = load_model(ref, kwargs, device=str(plan.device), force=plan.force)
            loaded.keyword_inputs = dict(keyword_inputs or {})
            specs = loaded.inputs(inputs)
            hint = missing_batch_hint(loaded.model, specs)
            if hint is not None:
                raise UsageError(hint, param="inputs")
            advance(f"{loaded.label}: timing", 0)
            res = benchmark(
                loaded.target(specs),
                plan=plan,
                batch_sizes=batches,
                name=loaded.label,
                peak=shared_peak,
                copy_model=False,  # built for this run; no caller holds it
                progress=False,  # the suite's own bar counts every model's rows
                on_row=lambda row: advance(f"{row.model} batch {row.batch} {row.variant}", 1),
            )
            shared_peak = res.peak if res.peak is not None else False
            results.append(res)
            del loaded
    return BenchResult.concat(results)


def cpu_contention(threads_given: int | None) -> str | None:
    """The oversubscription warning for a CPU run with ``--threads threads_given`` on this machine, now."""
    import os

    import torch

    from archinspect.bench.policy import oversubscription

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return oversubscription(os.cpu_count(), load, threads_given or torch.get_num_threads(), threads_given)
