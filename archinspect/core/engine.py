"""The one pass every analysis plugs into: :func:`run_pass` runs a :class:`~archinspect.core.target.Target`
once, under :class:`~archinspect.core.options.PassOptions`, and tells its observers what happens.

It reads as its steps:

1. **prepare** the model (:func:`_prepare`): unwrap DataParallel, refuse a container without ``forward``,
   materialise lazy modules on a copy, check TorchScript parts, make the inputs, swap a substitute in for
   every parameter and buffer (:mod:`~archinspect.core.substitute`);
2. **instrument** it (:func:`_instrumented`): one pre/post hook pair per module feeding the recorder and the
   observers, TorchScript proxies, stray tensor attributes on the pass's device, the operator counter;
3. **run** the forward (or the caller's ``step``: ``memory`` runs a training step);
4. **assemble** the :class:`~archinspect.core.report.Report` (:func:`_assemble`).

The model is never modified (substitutes, attributes, flags and hooks are all restored in ``finally``),
passes over one model are serialised (:func:`~archinspect.core.substitute.model_lock`), and one rule
decides the fallback from meta to CPU (:func:`falls_back`, :func:`is_meta_gap`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from archinspect.core import adapt
from archinspect.core.compat import UninitializedTensorMixin, disable_current_modes, own_buffers, own_parameters
from archinspect.core.counter import OpCounter
from archinspect.core.devices import resolve_device
from archinspect.core.failure import diagnose
from archinspect.core.guard import MemoryEstimate, ResourceError, check_memory
from archinspect.core.inputs import InputSpec
from archinspect.core.isolation import isolated_pass, threads_counted
from archinspect.core.observe import NOT_HANDLED, ModuleCall, PassObserver, PassRun
from archinspect.core.options import DEFAULT_DEPTH, PassOptions
from archinspect.core.receptive import ReceptiveObserver
from archinspect.core.recorder import Recorder, patched_forwards
from archinspect.core.report import LayerRecord, Report, Totals
from archinspect.core.substitute import model_lock, substituted, substitutes, training_mode
from archinspect.core.target import Target
from archinspect.core.tensors import nbytes
from archinspect.errors import ModelRunError, UserInterrupt, escape_text

__all__ = [
    "DEFAULT_DEPTH",
    "MetaKernelMissing",
    "PassOptions",
    "Step",
    "Target",
    "estimate_pass",
    "falls_back",
    "failure_error",
    "is_meta_gap",
    "run_pass",
]

# A step runs the model: given ``forward`` (calls the model once on the pass's inputs, returns its output),
# it does what it needs (a training step adds a loss, a backward and an optimizer step). The default is one
# forward under ``torch.no_grad()``.
Step = Callable[[Callable[[], Any]], Any]


class MetaKernelMissing(Exception):
    """Raised inside the pass when an operator cannot run on the meta device."""


def is_meta_gap(exc: BaseException) -> bool:
    """Whether ``exc`` is the meta device's limit rather than the model's own failure.

    No meta kernel, a data-dependent operator (``nonzero``, ``.item()``, ``.numpy()``, ``.tolist()``), or a
    tensor left on another device (created in forward on a fixed device, or a CPU attribute). The one test
    every fallback from meta uses (the pass, ``memory``, building a model on meta).
    """
    low = str(exc).lower()
    if isinstance(exc, NotImplementedError):
        return True
    if "meta" in low and ("tensor" in low or "backend" in low or "device" in low or "kernel" in low):
        return True
    return isinstance(exc, RuntimeError) and (
        "expected all tensors to be on the same device" in low or "is not on the expected device" in low
    )


def falls_back(options: PassOptions, device: torch.device) -> bool:
    """The one fallback rule: a pass the caller left on ``auto`` that ran on meta reruns on CPU when meta
    cannot run the model (announced in the report's notes). An explicit device never changes."""
    return options.fallback and options.device == "auto" and device.type == "meta"


def pass_device(target: Target, options: PassOptions) -> torch.device:
    """Where the pass runs: the device asked for; with ``auto``, where real input tensors are, else meta."""
    real = target.real_devices
    if options.device == "auto" and real:
        return real[0]
    return torch.device(resolve_device(options.device, auto="meta"))


def run_pass(
    target: Target,
    options: PassOptions | None = None,
    observers: Sequence[PassObserver] = (),
    *,
    step: Step | None = None,
    fake: Any = None,
) -> Report:
    """Run ``target`` once and return a :class:`Report` of every module call (own figures per record).

    ``observers`` watch the pass (:mod:`archinspect.core.observe`); with ``options.receptive`` the
    receptive-field tracker is added. A failure raises :class:`ModelRunError` whose ``failure`` says which
    layer, what it received and why. On meta with ``device="auto"``, an operator meta cannot run makes the
    pass rerun on CPU (the model rebuilt there when ``target.cpu_model`` is given), guarded by the memory
    check. Before a pass on a real device the memory it needs is estimated and compared with what the device
    has free (:class:`~archinspect.core.guard.ResourceError` unless ``options.force``).

    ``step`` runs the model (default: one forward under ``torch.no_grad()``); ``fake``: a ``FakeTensorMode``
    under which inputs and substitutes are made (tensors of ``options.device`` that allocate nothing; the step
    enters the mode where it needs it).
    """
    options = options or PassOptions()
    target = target.with_dtype(options.dtype_name)
    model, unwrapped = adapt.unwrap(target.model)
    adapt.check_forward(model, target.label)
    notes = [unwrapped] if unwrapped else []
    observers = [*observers, *([ReceptiveObserver()] if options.receptive else [])]
    device = pass_device(target, options)
    with isolated_pass(model, device), model_lock(model):  # the caller's RNG and torch settings untouched
        try:
            return _attempt(model, target, options, device, observers, step, notes, fake)
        except MetaKernelMissing as gap:
            if not falls_back(options, device):
                raise _naming_device(ModelRunError(f"{gap} (use device='cpu')")) from None
            rebuilt = target.cpu_model() if target.cpu_model is not None else None
            how = "the model rebuilt on CPU" if rebuilt is not None else "CPU"
            notes.append(f"{gap}; ran on {how} instead")
            model = adapt.unwrap(rebuilt)[0] if rebuilt is not None else model
            try:
                return _attempt(model, target, options, torch.device("cpu"), observers, step, notes)
            except ResourceError:
                raise
            except ModelRunError as err:
                raise ModelRunError(f"{err} (after falling back to CPU: on meta, {gap})", failure=err.failure) from err


def _attempt(
    model: nn.Module,
    target: Target,
    options: PassOptions,
    device: torch.device,
    observers: Sequence[PassObserver],
    step: Step | None,
    notes: list[str],
    fake: Any = None,
) -> Report:
    """One try on one device: prepare → instrument → run → assemble."""
    if device.type != "meta" and fake is None and not options.force:
        check_pass_memory(target.with_model(model), options, device)
    with fake if fake is not None else contextlib.nullcontext():
        run = _prepare(model, target, options, device, notes)
    try:
        with _instrumented(run, observers) as call_model:
            (step or _infer)(call_model)
    except Exception as exc:
        if device.type == "meta" and is_meta_gap(exc):
            raise MetaKernelMissing(_meta_gap_text(exc)) from exc
        raise failure_error(exc, run.records, run.stack, target.specs, model=run.model) from exc
    except UserInterrupt:  # Ctrl-C: an order to stop, not the model's failure
        raise
    except (SystemExit, KeyboardInterrupt) as exc:  # the model's code exiting is its failure, not an order
        err = RuntimeError(escape_text(exc))
        raise failure_error(err, run.records, run.stack, target.specs, model=run.model) from None
    report = _assemble(run, run.recorder)
    for observer in observers:
        observer.finish(report)
    return report


def _infer(call_model: Callable[[], Any]) -> Any:
    with torch.no_grad():
        return call_model()


# -- 1. prepare -------------------------------------------------------------------------------------------
@dataclass
class _Run(PassRun):
    """The pass's own view of itself: what observers read, plus what instrumenting needs."""

    swaps: list[Any] = field(default_factory=list)
    scripts: dict[str, nn.Module] = field(default_factory=dict)
    recorder: Recorder | None = None


def _prepare(model: nn.Module, target: Target, options: PassOptions, device: torch.device, notes: list[str]) -> _Run:
    """The model ready to run on ``device``: inputs made, a lazy model materialised on a copy, TorchScript
    parts checked, a substitute for every parameter and buffer."""
    args, kwargs = target.materialise(device, options.dtype)
    if adapt.has_lazy(model):  # materialised on a copy by a first call; the user's module stays lazy
        model = _materialised(model, args, kwargs, options, device)
        note = "lazy modules materialised on a copy for the pass (the model itself is left uninitialised)"
        if note not in notes:
            notes.append(note)
    scripts = adapt.script_roots(model)
    _check_scripts(scripts, device)
    dtype = options.dtype_name
    swaps = substitutes(model, device, dtype, options.mode)
    if scripts:  # a scripted module keeps its own tensors (they cannot be swapped from Python)
        inside = {id(m) for r in scripts.values() for m in r.modules()}
        swaps = [s for s in swaps if id(s.module) not in inside]
    unique = {id(s.tensor): s.tensor for s in swaps}.values()
    return _Run(
        target=target,
        options=options,
        device=device,
        model=model,
        args=args,
        kwargs=kwargs,
        parameters=[t for t in unique if isinstance(t, nn.Parameter)],
        buffers=[t for t in unique if not isinstance(t, nn.Parameter)],
        kept_parameters=[p for r in scripts.values() for p in r.parameters()],
        kept_buffers=[b for r in scripts.values() for b in r.buffers()],
        notes=notes,
        swaps=swaps,
        scripts=scripts,
    )


def _materialised(model: nn.Module, args: list, kwargs: dict, options: PassOptions, device: torch.device) -> nn.Module:
    twin = adapt.lazy_copy(model, device)
    try:
        with training_mode(twin, options.mode), torch.no_grad(), _default_device(device):
            twin(*args, **kwargs)
    except Exception as exc:
        if device.type == "meta" and is_meta_gap(exc):
            raise MetaKernelMissing(_meta_gap_text(exc)) from exc
        raise ModelRunError(f"materialising the lazy modules failed: {' '.join(str(exc).split())}") from exc
    return twin


def _check_scripts(scripts: dict[str, nn.Module], device: torch.device) -> None:
    held = {t.device for r in scripts.values() for t in [*r.parameters(), *r.buffers()]} - {device}
    if not held:
        return
    where = ", ".join(sorted(str(d) for d in held))
    if device.type == "meta":
        raise MetaKernelMissing(f"a TorchScript submodule keeps its own tensors (on {where})")
    raise _naming_device(
        ModelRunError(
            f"a TorchScript submodule keeps its own tensors on {where}; it cannot run on {device} "
            f"(run with device='{sorted(held, key=str)[0]}')"
        )
    )


def _naming_device(err: ModelRunError) -> ModelRunError:
    """``err``, whose remedy names the ``device`` argument (the command line says ``--device``)."""
    err.mentions = ("device",)
    return err


def _default_device(device: torch.device) -> Any:
    """On meta, tensors a forward creates without ``device=`` (``torch.arange(n)``) are made on meta too."""
    return torch.device("meta") if device.type == "meta" else contextlib.nullcontext()


# -- 2. instrument ----------------------------------------------------------------------------------------
class _Hooks:
    """One pre/post hook pair per module: the recorder first in, last out; observers in between."""

    def __init__(self, recorder: Recorder, observers: Sequence[PassObserver]) -> None:
        self.recorder = recorder
        self.enters = [o.enter for o in observers if o.overrides("enter")]
        self.leaves = [o.leave for o in reversed(observers) if o.overrides("leave")]
        self.calls: list[ModuleCall] = []

    def pre(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        record = self.recorder.pre(module, args, kwargs)
        if self.enters or self.leaves:
            call = ModuleCall(record, module, record.name, args, kwargs)
            self.calls.append(call)
            for enter in self.enters:
                enter(call)

    def post(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if self.enters or self.leaves:
            call = self.calls.pop()
            for leave in self.leaves:
                leave(call, output)
        self.recorder.post(module, args, kwargs, output)


@contextlib.contextmanager
def _instrumented(run: _Run, observers: Sequence[PassObserver]) -> Iterator[Callable[[], Any]]:
    """Hooks, proxies, the counter and every observer in place; yields the call that runs the model once.
    The recorder (``run.recorder``) is made once the TorchScript proxies stand in their parents' slots."""
    model, device = run.model, run.device
    with contextlib.ExitStack() as stack:
        proxies = stack.enter_context(adapt.proxied_scripts(model, run.scripts))
        root = None
        if "" in run.scripts:  # the model itself is scripted: call it through a proxy
            root = adapt.ScriptProxy(model)
            proxies[root] = model
        recorder = run.recorder = Recorder(
            model, proxies, check_dtypes=device.type == "meta", op_costs=run.options.op_costs
        )
        run.records, run.stack = recorder.records, recorder.stack
        zeros = stack.enter_context(adapt.stray_tensors_on(model, device))
        if zeros:
            run.notes.append(
                f"{zeros} plain tensor attribute(s) on meta have no values: zeros on {device} for the pass"
            )
        _hook(stack, run, recorder, observers, root)
        _watch(stack, run, recorder, observers)
        yield lambda: (root or model)(*run.args, **run.kwargs)


def _hook(
    stack: contextlib.ExitStack,
    run: _Run,
    recorder: Recorder,
    observers: Sequence[PassObserver],
    root: nn.Module | None,
) -> None:
    """One pre/post hook pair per module (the root alone without ``per_module``), the fused-RNN replays, and
    the observers that answer module calls themselves; all removed when ``stack`` closes."""
    model, options = run.model, run.options
    hooks = _Hooks(recorder, observers)
    skipped = set().union(*(o.skipped(model) for o in observers if o.overrides("skipped")))
    hooked = [m for m in recorder.names if not isinstance(m, torch.jit.ScriptModule) and m not in skipped]
    for mod in hooked if options.per_module else [root or model]:
        stack.callback(mod.register_forward_pre_hook(hooks.pre, with_kwargs=True).remove)
        stack.callback(mod.register_forward_hook(hooks.post, with_kwargs=True).remove)
    if options.count and run.device.type != "meta":  # after the hooks: the replay is charged to the RNN's record
        stack.enter_context(adapt.rnn_replays(model, recorder.replay_counter, recorder.mute))
    replacing = [o.replace for o in observers if o.overrides("replace")]
    if replacing:
        stack.enter_context(patched_forwards(model, recorder.names, _first_answer(replacing, recorder.names)))


def _watch(stack: contextlib.ExitStack, run: _Run, recorder: Recorder, observers: Sequence[PassObserver]) -> None:
    """The substitutes in place, the mode set, the counter and every observer's own context entered."""
    model, options = run.model, run.options
    stack.enter_context(substituted(model, run.swaps))
    stack.enter_context(training_mode(model, options.mode))
    stack.enter_context(_default_device(run.device))
    if options.count:
        op_watchers = [o.op for o in observers if o.overrides("op")]
        counter = OpCounter(recorder.on_op, op_watchers, on_uncosted=recorder.on_uncosted, op_costs=options.op_costs)
        stack.enter_context(counter)
        stack.enter_context(threads_counted(model, counter, run.device))  # submodules run on worker threads
    for observer in observers:
        stack.enter_context(observer.running())
    for observer in observers:
        observer.start(run)


def _first_answer(replacing: list[Callable[[ModuleCall], Any]], names: dict[nn.Module, str]) -> Any:
    def intercept(name: str, module: nn.Module, args: tuple, kwargs: dict) -> Any:
        call = ModuleCall(None, module, name, args, kwargs)  # type: ignore[arg-type]  # no record yet
        for replace in replacing:
            answer = replace(call)
            if answer is not NOT_HANDLED:
                return answer
        return NOT_HANDLED

    return intercept


# -- 4. assemble ------------------------------------------------------------------------------------------
def _assemble(run: _Run, recorder: Recorder | None) -> Report:
    assert recorder is not None  # made by _instrumented
    # totals from the model that ran: for a lazy model its materialised copy (the user's has no sizes yet)
    totals = _totals(run.model, recorder.records, [run.args, run.kwargs], run.options.dtype)
    if run.options.per_module:
        recorder.add_unrun()
    elif recorder.records:  # the one row holds everything, so that it still sums to the totals
        recorder.records[0].params, recorder.records[0].trainable_params = totals.params, totals.trainable_params
    return Report(
        model_name=run.target.label,
        inputs=run.target.specs,
        device=str(run.device),
        mode=run.options.mode,
        records=recorder.records,
        ops=recorder.ops,
        totals=totals,
        depth=run.options.depth,
        notes=run.notes,
        keyword_inputs=run.target.keyword_specs,
        free_ops=recorder.free_ops,
        uncounted_ops=recorder.uncounted_ops,
    )


def _totals(model: nn.Module, records: list[LayerRecord], args: list[Any], dtype: torch.dtype | None) -> Totals:
    def size(t: torch.Tensor) -> int:
        itemsize = dtype.itemsize if (dtype is not None and t.is_floating_point()) else t.element_size()
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


# -- the memory guard's estimate --------------------------------------------------------------------------
def estimate_pass(target: Target, options: PassOptions | None = None) -> MemoryEstimate:
    """What a pass of ``target`` needs on a real device, measured by a meta pass (nothing allocated).

    ``weights``: the pass's substitutes of every parameter and buffer (unique tensors, cast to the options'
    dtype). ``activations``: a conservative peak of live tensors under ``torch.no_grad()`` — the largest input
    + output of any leaf layer plus the largest input a container holds while its children run (a residual
    block keeps its input for the shortcut). ``None`` when the meta pass cannot run.
    """
    options = options or PassOptions()
    cast = options.dtype
    target = target.with_dtype(options.dtype_name)
    seen: set[int] = set()
    weights = 0
    for mod in target.model.modules():
        for t in [*own_parameters(mod).values(), *own_buffers(mod).values()]:
            if t is None or id(t) in seen or isinstance(t, UninitializedTensorMixin):
                continue
            seen.add(id(t))
            itemsize = cast.itemsize if (cast is not None and t.is_floating_point()) else t.element_size()
            weights += t.numel() * itemsize
    inputs_bytes = target.input_bytes
    meta = options.but(device="meta", fallback=False, force=True, depth=0, receptive=False, per_module=True)
    # A caller's own dispatch mode (a FlopCounterMode around inspect) must not see this extra pass.
    with model_lock(target.model), disable_current_modes():
        try:
            records = run_pass(target, meta).records
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


def check_pass_memory(target: Target, options: PassOptions, device: torch.device) -> None:
    """Refuse (:class:`~archinspect.core.guard.ResourceError`) a real pass that would not fit on ``device``."""
    estimate = estimate_pass(target, options)
    check_memory(estimate.total, device, "this pass", estimate.parts())


def _meta_gap_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = first.split(". ")[0].rstrip(".")  # the first sentence: torch's advice after it is for torch users
    return f"an operator has no meta kernel ({first[:160]})"


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
