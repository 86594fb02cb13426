"""The one-pass inspection engine: push dummy inputs through a model once and record every module call.

Module hooks give the tree (name, type, input and output shapes); an :class:`~archinspect.core.counter.OpCounter`
sees every operator and charges its cost to the innermost module running at that moment. The model is
never modified: every parameter and buffer is replaced by a substitute for the duration of the call (shared
modules and tied weights keep sharing one substitute), so whatever ``forward`` writes lands on the
substitutes; hooks are removed, train/eval flags and every module's attributes restored in ``finally``.

Concurrency: passes over one model are serialised by a per-model lock
(:func:`archinspect.core.substitute.model_lock`), so threads may call :func:`run_pass` (and everything built
on it) on the same model; passes over different models run in parallel.

The parts: ``inputs`` (what to feed), ``substitute`` (the model's tensors swapped for the pass, its state
restored), ``recorder`` (a LayerRecord per module call, costs charged to the running module), ``counter``
(the cost of every operator), ``adapt`` (what real models need), ``guard`` (memory before a real pass).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archinspect.core import adapt
from archinspect.core.counter import OpCounter
from archinspect.core.devices import resolve_device
from archinspect.core.failure import diagnose
from archinspect.core.guard import MemoryEstimate, ResourceError, check_memory
from archinspect.core.inputs import InputSpec, Item, input_items, keyword_items, spec_of
from archinspect.core.isolation import isolated_pass, threads_counted
from archinspect.core.receptive import FieldTracker
from archinspect.core.recorder import Interceptor, Recorder, patched_forwards
from archinspect.core.report import LayerRecord, Report, Totals
from archinspect.core.substitute import model_lock, substituted, substitutes, training_mode
from archinspect.core.tensors import nbytes
from archinspect.errors import ModelRunError, UsageError, UserInterrupt, escape_text

DEFAULT_DEPTH = 2


class MetaKernelMissing(Exception):
    """Raised inside the pass when an operator cannot run on the meta device."""


def _is_meta_gap(exc: BaseException) -> bool:
    """Whether ``exc`` is the meta device's limit rather than the model's own failure.

    No meta kernel, a data-dependent operator (``nonzero``, ``.item()``, ``.numpy()``, ``.tolist()``),
    or a tensor left on another device (created in forward on a fixed device, or a CPU attribute).
    """
    text = str(exc)
    low = text.lower()
    if isinstance(exc, NotImplementedError):
        return True
    if "meta" in low and ("tensor" in low or "backend" in low or "device" in low or "kernel" in low):
        return True
    return isinstance(exc, RuntimeError) and (
        "expected all tensors to be on the same device" in low or "is not on the expected device" in low
    )


def run_pass(
    model: nn.Module,
    inputs: Any,
    *,
    device: str = "auto",
    depth: int = DEFAULT_DEPTH,
    mode: str = "eval",
    dtype: str | None = None,
    model_name: str | None = None,
    intercept: Interceptor | None = None,
    meta_fallback: bool = True,
    per_module: bool = True,
    kwargs: dict[str, Any] | None = None,
    cpu_model: Callable[[], nn.Module] | None = None,
    receptive: bool = False,
    force: bool = False,
) -> Report:
    """Run ``model`` once on dummy ``inputs`` and return a :class:`Report` of every module call.

    The collecting layer's pass: a failure is raised as a :class:`ModelRunError` whose ``failure`` says
    which layer, what it received and why; :func:`archinspect.inspect` (``analyses.shapes``) adds what
    a size search can tell (the smallest input that runs).

    ``inputs``: shapes, :class:`InputSpec` or tensors (one per positional input). ``device``: ``auto``
    (meta, falling back to CPU when an operator has no meta kernel), ``meta``, ``cpu``, ``cuda[:N]``.
    ``dtype``: cast floating parameters and inputs (``float16``, ``bfloat16``, ...). ``mode``: ``eval``
    or ``train`` (BatchNorm statistics are never written back to the model). ``per_module=False`` records
    the model as one row (the same counter, no per-module hooks): for totals only, about 3× faster; its
    ``activation_bytes`` is then the model's output alone (leaf outputs need per-module records).

    Real tensors among ``inputs`` (or in ``kwargs``, keyword inputs by name) are used as given; with
    ``device="auto"`` the pass then runs on their device. A dict as ``inputs`` is keyword inputs.
    ``cpu_model``: builds the model on CPU, used instead of substituting tensors when the meta pass falls
    back (a model built on meta holds meta tensors the substitution cannot give values to).

    ``receptive=True`` also gives every record the receptive field of its output (``LayerRecord.rf``,
    :mod:`~archinspect.core.receptive`), followed through every operator like the FLOPs.

    Before a pass on a real device (CPU, CUDA) the memory it needs is estimated from a meta pass and
    compared with what the device has free (:mod:`archinspect.core.guard`); a pass that would not fit
    raises :class:`~archinspect.core.guard.ResourceError` unless ``force``. Passes over one model are
    serialised (:func:`model_lock`); the model is never modified.
    """
    if isinstance(inputs, dict):
        inputs, kwargs = [], {**inputs, **(kwargs or {})}
    if mode not in ("eval", "train"):
        raise UsageError(f"--mode {mode!r} is not a mode; accepted: eval, train")
    if depth < 0:
        raise UsageError(f"--depth {depth} must be 0 or more")
    items, keywords = input_items(inputs), keyword_items(kwargs)
    if dtype is not None:
        if not hasattr(torch, dtype) or not getattr(torch, dtype).is_floating_point:
            raise UsageError(f"--dtype {dtype!r}: accepted: float32, float16, bfloat16, float64")
        items = [s if isinstance(s, torch.Tensor) else s.with_dtype(dtype) for s in items]
        keywords = {k: s if isinstance(s, torch.Tensor) else s.with_dtype(dtype) for k, s in keywords.items()}
    notes: list[str] = []
    model, unwrapped = adapt.unwrap(model)
    if unwrapped:
        notes.append(unwrapped)
    name = model_name or type(model).__name__
    adapt.check_forward(model, name)
    real = [t for t in [*items, *keywords.values()] if isinstance(t, torch.Tensor) and t.device.type != "meta"]
    if real and device in ("auto", None):
        device = str(real[0].device)  # real inputs: the pass runs where they are
    target = resolve_device(device, auto="meta")
    opts = _PassOptions(depth, mode, dtype, name, intercept, per_module, receptive)
    with model_lock(model), isolated_pass(model, target):  # the caller's RNG and torch settings untouched
        try:
            return _run(model, items, keywords, target, opts, notes, force)
        except MetaKernelMissing as gap:
            if not (meta_fallback and device in ("auto", None)):
                raise ModelRunError(f"{gap} (use --device cpu)") from None
            rebuilt = cpu_model() if cpu_model is not None else None
            how = "the model rebuilt on CPU" if rebuilt is not None else "CPU"
            notes.append(f"{gap}; ran on {how} instead")
            try:
                model = adapt.unwrap(rebuilt)[0] if rebuilt is not None else model
                return _run(model, items, keywords, "cpu", opts, notes, force)
            except ModelRunError as err:
                if isinstance(err, ResourceError):
                    raise
                raise ModelRunError(f"{err} (after falling back to CPU: on meta, {gap})", failure=err.failure) from err


def _default_device(target: torch.device) -> Any:
    """On meta, tensors a forward creates without ``device=`` (``torch.arange(n)``) are made on meta too."""
    return torch.device("meta") if target.type == "meta" else contextlib.nullcontext()


@dataclass(frozen=True)
class _PassOptions:
    depth: int
    mode: str
    dtype: str | None
    name: str
    intercept: Interceptor | None
    per_module: bool
    receptive: bool = False


def _made(item: Item, target: torch.device, dtype: str | None) -> Any:
    """The tensor the pass gets for one input: a dummy for a spec, a real tensor as given (moved if asked)."""
    if not isinstance(item, torch.Tensor):
        return item.make(target)
    cast = getattr(torch, dtype) if (dtype and item.is_floating_point()) else item.dtype
    return item if (item.device == target and item.dtype == cast) else item.to(device=target, dtype=cast)


def _run(
    model: nn.Module,
    items: Sequence[Item],
    keywords: dict[str, Item],
    target_name: str,
    opts: _PassOptions,
    notes: list[str],
    force: bool = True,
) -> Report:
    depth, mode, dtype, intercept = opts.depth, opts.mode, opts.dtype, opts.intercept
    target = torch.device(target_name)
    if target.type != "meta" and not force:
        check_pass_memory(model, items, keywords, target, opts)
    specs = [spec_of(i) for i in items]
    args = [_made(i, target, dtype) for i in items]
    kwargs = {k: _made(i, target, dtype) for k, i in keywords.items()}
    if adapt.has_lazy(model):  # materialised on a copy by a first call; the user's module stays lazy
        model = adapt.lazy_copy(model, target)
        try:
            with training_mode(model, mode), torch.no_grad(), _default_device(target):
                model(*args, **kwargs)
        except Exception as exc:
            if target.type == "meta" and _is_meta_gap(exc):
                raise MetaKernelMissing(_meta_gap_text(exc)) from exc
            raise ModelRunError(f"materialising the lazy modules failed: {' '.join(str(exc).split())}") from exc
        note = "lazy modules materialised on a copy for the pass (the model itself is left uninitialised)"
        if note not in notes:
            notes.append(note)
    scripts = adapt.script_roots(model)
    held = {t.device for r in scripts.values() for t in [*r.parameters(), *r.buffers()]}
    if held - {target}:
        where = ", ".join(sorted(str(d) for d in held - {target}))
        if target.type == "meta":
            raise MetaKernelMissing(f"a TorchScript submodule keeps its own tensors (on {where})")
        raise ModelRunError(
            f"a TorchScript submodule keeps its own tensors on {where}; it cannot run on {target} "
            f"(run with --device {sorted(held - {target}, key=str)[0]})"
        )
    subs = substitutes(model, target, dtype, mode)
    if scripts:  # a scripted module keeps its own tensors (they cannot be swapped from Python)
        inside = {id(m) for r in scripts.values() for m in r.modules()}
        subs = [s for s in subs if id(s.module) not in inside]
    handles = []
    with contextlib.ExitStack() as stack:
        proxies = stack.enter_context(adapt.proxied_scripts(model, scripts))
        root = None
        if "" in scripts:  # the model itself is scripted: call it through a proxy
            root = adapt.ScriptProxy(model)
            proxies[root] = model
        fields = FieldTracker() if opts.receptive else None
        if fields is not None and args:
            fields.mark_input(args[0])
        rec = Recorder(model, fields, proxies, check_dtypes=target.type == "meta")
        zeros = stack.enter_context(adapt.stray_tensors_on(model, target))
        if zeros:
            notes.append(f"{zeros} plain tensor attribute(s) on meta have no values: zeros on {target} for the pass")
        try:
            hooked = [m for m in rec.names if not isinstance(m, torch.jit.ScriptModule)]
            for mod in hooked if opts.per_module else [root or model]:
                handles.append(mod.register_forward_pre_hook(rec.pre, with_kwargs=True))
                handles.append(mod.register_forward_hook(rec.post, with_kwargs=True))
            if target.type != "meta":  # after the recorder's hooks: the replay is charged to the RNN's record
                stack.enter_context(adapt.rnn_replays(model, rec.replay_counter, rec.mute))
            patch = patched_forwards(model, rec.names, intercept) if intercept else contextlib.nullcontext()
            observers = [fields] if fields is not None else []
            counter = OpCounter(rec.on_op, observers, on_uncosted=rec.on_uncosted)
            swapped = substituted(model, subs)
            threads = threads_counted(model, counter, target)  # submodules run on worker threads count too
            with swapped, training_mode(model, mode), torch.no_grad(), patch, _default_device(target), counter, threads:
                (root or model)(*args, **kwargs)
        except Exception as exc:
            if target.type == "meta" and _is_meta_gap(exc):
                raise MetaKernelMissing(_meta_gap_text(exc)) from exc
            raise failure_error(exc, rec.records, rec.stack, specs, model=model) from exc
        except UserInterrupt:  # Ctrl-C: an order to stop, not the model's failure
            raise
        except (SystemExit, KeyboardInterrupt) as exc:  # the model's code exiting is its failure, not an order
            raise failure_error(RuntimeError(escape_text(exc)), rec.records, rec.stack, specs, model=model) from None
        finally:
            for h in handles:
                h.remove()
    # totals from the model that ran: for a lazy model its materialised copy (the user's has no sizes yet)
    totals = _totals(model, rec.records, [args, kwargs], dtype)
    if opts.per_module:
        rec.add_unrun()
    else:  # the one row holds everything, so that it still sums to the totals
        rec.records[0].params, rec.records[0].trainable_params = totals.params, totals.trainable_params
    if fields is not None and fields.unruled:
        notes.append(
            "receptive fields are upper bounds after operators without an exact rule: " + ", ".join(fields.unruled)
        )
    return Report(
        model_name=opts.name,
        inputs=list(specs),
        device=str(target),
        mode=mode,
        records=rec.records,
        ops=rec.ops,
        totals=totals,
        depth=depth,
        notes=notes,
        keyword_inputs={k: spec_of(i) for k, i in keywords.items()},
        free_ops=rec.free_ops,
        uncounted_ops=rec.uncounted_ops,
    )


def estimate_pass(
    model: nn.Module,
    inputs: Any,
    *,
    kwargs: dict[str, Any] | None = None,
    dtype: str | None = None,
    mode: str = "eval",
) -> MemoryEstimate:
    """What a pass of ``model`` on ``inputs`` needs on a real device, measured by a meta pass (nothing allocated).

    ``inputs``/``kwargs`` as for :func:`run_pass`. ``weights``: the pass's substitutes of every parameter and
    buffer (unique tensors, cast to ``dtype``). ``activations``: a conservative peak of live tensors under
    ``torch.no_grad()`` — the largest input + output of any leaf layer plus the largest input a container
    holds while its children run (a residual block keeps its input for the shortcut). ``None`` when the
    meta pass cannot run.
    """
    if isinstance(inputs, dict):
        inputs, kwargs = [], {**inputs, **(kwargs or {})}
    items, keywords = input_items(inputs), keyword_items(kwargs)
    cast = getattr(torch, dtype) if dtype else None
    if cast is not None:
        items = [s if isinstance(s, torch.Tensor) else s.with_dtype(dtype) for s in items]
        keywords = {k: s if isinstance(s, torch.Tensor) else s.with_dtype(dtype) for k, s in keywords.items()}
    seen: set[int] = set()
    weights = 0
    for mod in model.modules():
        for t in [*mod._parameters.values(), *mod._buffers.values()]:
            if t is None or id(t) in seen or isinstance(t, nn.parameter.UninitializedTensorMixin):
                continue
            seen.add(id(t))
            itemsize = cast.itemsize if (cast is not None and t.is_floating_point()) else t.element_size()
            weights += t.numel() * itemsize
    inputs_bytes = sum(spec_of(i).nbytes for i in [*items, *keywords.values()])
    opts = _PassOptions(0, mode, dtype, type(model).__name__, None, True)
    # A caller's own dispatch mode (a FlopCounterMode around inspect) must not see this extra pass.
    unobserved = getattr(torch.utils._python_dispatch, "_disable_current_modes", contextlib.nullcontext)
    with model_lock(model), unobserved():
        try:
            records = _run(model, items, keywords, "meta", opts, []).records
        except (MetaKernelMissing, ModelRunError):
            return MemoryEstimate(weights, inputs_bytes, None)
    itemsize = cast.itemsize if cast is not None else 4
    leaf_peak = held = 0
    for rec in records:
        if not rec.ran:
            continue
        received = sum(math.prod(shape) for shape in rec.input_shapes) * itemsize
        if rec.is_leaf:
            leaf_peak = max(leaf_peak, received + rec.output_bytes)
        elif rec.parent is not None:
            held = max(held, received)
    return MemoryEstimate(weights, inputs_bytes, leaf_peak + held)


def check_pass_memory(
    model: nn.Module, items: Sequence[Item], keywords: dict[str, Item], target: torch.device, opts: _PassOptions
) -> None:
    """Refuse (:class:`~archinspect.core.guard.ResourceError`) a real pass that would not fit on ``target``."""
    estimate = estimate_pass(model, list(items), kwargs=dict(keywords), dtype=opts.dtype, mode=opts.mode)
    check_memory(estimate.total, target, "this pass", estimate.parts())


def _meta_gap_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = first.split(". ")[0].rstrip(".")  # the first sentence: torch's advice after it is for torch users
    return f"an operator has no meta kernel ({first[:160]})"


def _totals(model: nn.Module, records: list[LayerRecord], args: list[Any], dtype: str | None) -> Totals:
    cast = getattr(torch, dtype) if dtype else None

    def size(t: torch.Tensor) -> int:
        itemsize = cast.itemsize if (cast is not None and t.is_floating_point()) else t.element_size()
        return t.numel() * itemsize

    params = list(model.parameters())  # unique: shared parameters once
    return Totals(
        params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        macs=sum(r.macs for r in records),
        other_ops=sum(r.other_ops for r in records),
        param_bytes=sum(size(p) for p in params),
        buffer_bytes=sum(size(b) for b in model.buffers()),
        input_bytes=nbytes(args),
        activation_bytes=sum(r.output_bytes for r in records if r.ran and r.is_leaf),
    )


def failure_error(
    exc: BaseException,
    records: list[LayerRecord],
    stack: list[int],
    specs: Sequence[InputSpec],
    model: nn.Module | None = None,
) -> ModelRunError:
    """A one-line ModelRunError naming the innermost layer that was running and what it received.

    Its ``failure`` is the :class:`~archinspect.core.failure.PassFailure` as data. With ``model``, a
    wrong channel or feature count and an input too small for a window are told in the layer's own terms.
    """
    rec = records[stack[-1]] if stack else None
    module = None
    if model is not None and rec is not None:
        with contextlib.suppress(AttributeError):
            module = model.get_submodule(rec.name)
    failure = diagnose(exc, rec, module, specs[0].shape if specs else None)
    return ModelRunError(failure.message, failure=failure)
