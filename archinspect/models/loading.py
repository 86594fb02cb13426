"""From a MODEL reference to a built ``nn.Module``.

References: a zoo name (``resnet50``, ``densenet-bc:depth=40``), ``torchvision:NAME``, ``timm:NAME``,
``path/to/file.py:Symbol`` or ``package.module:Symbol``, where Symbol is an ``nn.Module`` subclass
(instantiated with the arguments), a factory function, or a module instance. Models we build are built
directly on the target device — on ``meta`` nothing is allocated or initialised. A user's module
instance is never moved or changed; the engine substitutes tensors for the pass instead.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect as pyinspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archinspect.core.inputs import InputSpec, parse_kwargs, shown
from archinspect.errors import ArchInspectError, ModelRunError, UsageError, UserInterrupt, escape_text, typed_errors
from archinspect.models import library
from archinspect.models.downloads import DownloadBlocked, no_downloads, weights_hint
from archinspect.models.zoo import ZooEntry, get_entry, is_zoo_name
from archinspect.models.zoo._registry import canonical_name

LIBRARY_PREFIXES = ("torchvision", "timm")
MAX_REF_CHARS = 4096  # PATH_MAX on Linux: no MODEL reference, path or name, is longer


@dataclass
class LoadedModel:
    """A built model plus what the commands need to know about where it came from."""

    model: Any  # nn.Module
    label: str  # how reports name it
    default_inputs: list[InputSpec] | None = None
    entry: ZooEntry | None = None
    source_file: str | None = None  # the user's file, for "constructed at file:line"
    rebuild: Callable[[str], Any] | None = field(default=None, repr=False)  # build again on a device
    notes: list[str] = field(default_factory=list)  # e.g. "built on CPU: the builder computes with values"
    built_on: str | None = None  # the device the model was built on (None: the user's instance)
    keyword_inputs: dict[str, InputSpec] = field(default_factory=dict)  # ``--input name=spec``

    def cpu_model(self) -> Callable[[], Any] | None:
        """For the pass's CPU fallback: the model rebuilt on CPU, when it was built on meta (else None)."""
        if self.rebuild is None or self.built_on != "meta":
            return None
        rebuild, label = self.rebuild, self.label

        def on_cpu() -> Any:
            with no_downloads(label):
                return rebuild("cpu")

        return on_cpu

    def inputs(self, given: list[InputSpec] | None) -> list[InputSpec]:
        """``given``, else the model's default input unless the keyword inputs take its place; a
        :class:`UsageError` when there is nothing to feed.

        A default input binds to the forward's first positional parameters: when a keyword input names one
        of them (``--input x=1,3,224,224`` for ``forward(self, x)``), the keyword replaces the default instead
        of being added on top of it. A model whose forward takes keyword inputs only runs on those alone.
        """
        if given:
            return given
        defaults = self.default_inputs or []
        bound = set(_positional_names(self.model)[: len(defaults)])
        if defaults and set(self.keyword_inputs) & bound:
            return []
        if not defaults and not self.keyword_inputs:
            raise UsageError(
                f"{self.label} has no default input; give one with inputs='1,3,32,32' (a shape, batch first)",
                mentions=("inputs",),
            )
        return list(defaults)

    def target(self, specs: list[InputSpec] | None = None) -> Any:
        """The :class:`~archinspect.core.target.Target` a command runs: the model, ``specs`` (default: as
        :meth:`inputs` decides), the keyword inputs, the label and the CPU rebuild."""
        from archinspect.core.target import Target

        chosen = self.inputs(None) if specs is None else specs
        return Target.of(self.model, chosen, kwargs=self.keyword_inputs, label=self.label, cpu_model=self.cpu_model())


def _positional_names(model: Any) -> list[str]:
    """Names of the parameters ``model.forward`` takes positionally, in order ([] when it cannot be read)."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError, AttributeError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in params if p.kind in kinds]


@contextlib.contextmanager
def _device_context(device: str | None, what: str = "building the model", guard: bool = True) -> Any:
    """Build on ``device``; on meta, initialisers have nothing to write and are skipped. On a device named
    (``cpu``, ``cuda``: every CLI build) the build runs under the memory guard's
    :func:`~archinspect.core.guard.allocation_guard` unless ``guard`` is False (``--force``); ``None`` (the
    API's ``create_model(name)``) builds as torch would."""
    import torch

    if device and torch.device(device).type == "meta":
        from archinspect.core.fastmeta import MetaBuild

        with torch.device(device), MetaBuild():
            yield
        return
    from archinspect.core.guard import allocation_guard

    if not device:  # the API's create_model(name): built as torch would, in the caller's process
        yield
        return
    with torch.device(device), allocation_guard(device, what) if guard else contextlib.nullcontext():
        yield


def _is_meta_build_error(exc: BaseException) -> bool:
    """Whether building on meta failed because the builder needs values (``Cannot copy out of meta tensor``)."""
    while exc is not None:
        text = str(exc).lower()
        if isinstance(exc, NotImplementedError) or ("meta" in text and ("tensor" in text or "device" in text)):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _build(
    build: Callable[[str | None], Any], device: str | None, label: str, hint: str = ""
) -> tuple[Any, str | None, list[str]]:
    """(model, device it was built on, notes): on meta first; on CPU when the builder computes with values.

    Nothing is downloaded while building: a builder that tries raises :class:`DownloadBlocked` (one line,
    naming ``hint``: the argument that asks for weights); one that catches the refusal and builds anyway
    gets a note."""
    try:
        with no_downloads(label, hint) as guard:
            model, built_on, notes = build(device), device, []
    except (UsageError, DownloadBlocked):
        raise
    except Exception as exc:
        if device != "meta" or not _is_meta_build_error(exc):
            raise
        first = " ".join(str(exc).split())[:100] or type(exc).__name__
        with no_downloads(label, hint) as guard:
            model, built_on = build("cpu"), "cpu"
        notes = [f"{label} was built on CPU: its builder computes with real values ({first})"]
    if guard.refused:
        notes.append(f"{guard.refused[0]} while building; refused, and the builder went on without it")
    return model, built_on, notes


@typed_errors
def create_model(name: str, device: str | None = None, **kwargs: Any) -> Any:
    """Build zoo model ``name`` (``name:key=value,...`` accepted) on ``device`` (``meta``: nothing allocated)."""
    return load_model(name, kwargs, device=device).model


def split_reference(ref: str) -> tuple[str, str, dict[str, Any]]:
    """(kind, target, kwargs) where kind is zoo, torchvision, timm, file or module."""
    text = ref.strip()
    if not text:
        raise UsageError("MODEL is empty; give a zoo name (see `archinspect list`), FILE.py:Symbol or pkg.mod:Symbol")
    if len(text) > MAX_REF_CHARS:
        raise UsageError(
            f"MODEL {shown(text, 80)} is {len(text):,} characters long; at most {MAX_REF_CHARS:,} are read "
            "(the longest path Linux opens)"
        )
    head, sep, tail = text.partition(":")
    if sep and not head.strip():
        raise UsageError(
            f"MODEL {shown(text, 80)} names no file or module before ':'; expected FILE.py:Symbol or pkg.mod:Symbol"
        )
    if sep and head.lower() in LIBRARY_PREFIXES:
        name, sep2, rest = tail.partition(":")
        return head.lower(), name, parse_kwargs(rest) if sep2 else {}
    if ".py:" in text or text.endswith(".py") or "/" in head or "\\" in head:
        path, _, symbol = text.rpartition(":") if ":" in text else (text, "", "")
        return "file", f"{path}:{symbol}", {}
    if sep and "=" in tail:
        return "zoo", head, parse_kwargs(tail)
    if sep and "." in head:
        return "module", text, {}
    if sep and is_zoo_name(head):
        raise UsageError(f"{ref!r}: arguments after ':' must be key=value (e.g. {head}:depth=40)")
    if sep:
        return "module", text, {}
    return "zoo", text, {}


@typed_errors
def load_model(
    ref: str, args: dict[str, Any] | None = None, *, device: str | None = None, force: bool = False
) -> LoadedModel:
    """Resolve a MODEL reference and build it; ``args`` are constructor arguments (``--arg``).

    A zoo model built on a real device is first built on meta to count its bytes: one that would not fit
    in the device's free memory raises :class:`~archinspect.core.guard.ResourceError` unless ``force``.
    """
    kind, target, ref_kwargs = split_reference(ref)
    kwargs = {**ref_kwargs, **(args or {})}
    if kind == "zoo":
        return _load_zoo(target, kwargs, device, force)
    if kind in LIBRARY_PREFIXES:
        return _load_library(kind, target, kwargs, device, force)
    if kind == "file":
        path, _, symbol = target.rpartition(":")
        obj = _symbol_from_file(path, symbol)
        label = f"{Path(path).name}:{symbol}"
        return _instantiate(obj, label, kwargs, device, source_file=str(Path(path)), force=force)
    module_name, _, symbol = target.partition(":")
    obj = _symbol_from_module(module_name, symbol)
    return _instantiate(obj, target, kwargs, device, force=force)


def _load_zoo(name: str, kwargs: dict[str, Any], device: str | None, force: bool = False) -> LoadedModel:
    entry = get_entry(name)

    def build(dev: str | None) -> Any:
        with _device_context(dev, f"building {entry.name}", not force):
            try:
                return entry.build(**kwargs)
            except (UsageError, ModelRunError):
                raise
            except (TypeError, ValueError) as exc:
                raise UsageError(
                    f"{entry.name}: bad argument ({exc}); accepted: {', '.join(entry.accepted_kwargs())}"
                ) from None

    if device and device != "meta" and not force:
        _check_build_memory(entry.name, build, device)
    model, built_on, notes = _build(build, device, entry.name)
    channels = kwargs.get("in_channels", entry.default_input[1] if len(entry.default_input) > 1 else None)
    shape = list(entry.default_input)
    if channels is not None and len(shape) > 1:
        shape[1] = int(channels)
    suffix = ",".join(f"{k}={v}" for k, v in kwargs.items())
    # with arguments, the name as given (densenet-bc:depth=40), not the entry it defaults to (densenet-bc-100)
    label = f"{canonical_name(name)}:{suffix}" if suffix else entry.name
    return LoadedModel(
        model, label, [InputSpec(tuple(shape))], entry=entry, rebuild=build, notes=notes, built_on=built_on
    )


def _check_build_memory(name: str, build: Callable[[str | None], Any], device: str) -> None:
    """Refuse to build a model whose parameters and buffers would not fit in ``device``'s free memory.

    Counted on a meta build (nothing allocated); a builder that cannot build on meta is not checked.
    """
    from archinspect.core.guard import check_memory

    try:
        with no_downloads(name):
            meta_model = build("meta")
    except (UsageError, DownloadBlocked):
        raise
    except Exception:
        return
    tensors = {id(t): t for t in [*meta_model.parameters(), *meta_model.buffers()]}
    needed = sum(t.numel() * t.element_size() for t in tensors.values())
    check_memory(needed, device, f"building {name}", "its parameters and buffers", batch_hint=False)


def _load_library(lib: str, name: str, kwargs: dict[str, Any], device: str | None, force: bool = False) -> LoadedModel:
    try:
        module = importlib.import_module(lib)
    except ImportError:
        raise UsageError(f"{lib}:{name}: {lib} is not installed (pip install {lib})") from None
    if lib == "torchvision":
        import torchvision.models as tvm

        available = tvm.list_models()
    else:
        available = module.list_models()
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown {lib} model {name!r}{hint}")
    if lib == "torchvision":
        factory = library.torchvision_factory(name, kwargs)
    else:
        factory = library.timm_factory(module, name, kwargs)
    label = f"{lib}:{name}"

    def build(dev: str | None) -> Any:
        with _device_context(dev, f"building {label}", not force):
            try:
                return factory()
            except (TypeError, ValueError) as exc:
                if kwargs and any(k in str(exc) for k in kwargs):
                    raise UsageError(f"{label}: bad argument ({exc})") from None
                raise

    model, built_on, notes = _build(build, device, label)
    if lib == "torchvision":
        inputs = library.torchvision_inputs(name, model)
    else:  # timm models carry their input size
        chw = tuple(getattr(model, "pretrained_cfg", {}).get("input_size") or (3, 224, 224))
        inputs = [InputSpec((1, *chw))]
    return LoadedModel(model, label, inputs, rebuild=build, notes=notes, built_on=built_on)


def _check_file(path: str) -> Path:
    """``path`` as a model file: an existing, regular ``.py`` file, else a UsageError saying what it is."""
    file, named = Path(path), shown(path, 80)
    try:
        exists, is_dir, is_file = file.exists(), file.is_dir(), file.is_file()
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"model file {named} cannot be read ({why}); expected FILE.py:Symbol") from None
    if not exists:
        raise UsageError(f"model file {named} does not exist; expected FILE.py:Symbol naming an existing file")
    if is_dir:
        raise UsageError(f"model file {named} is a directory; expected FILE.py:Symbol naming a Python file")
    if not is_file:
        raise UsageError(f"model file {named} is not a regular file (a device or pipe); expected FILE.py:Symbol")
    if file.suffix != ".py":
        raise UsageError(f"model file {named} is not a .py file; expected FILE.py:Symbol naming a Python file")
    return file


@contextlib.contextmanager
def _importable_beside(file: Path) -> Any:
    """The file's folder first on ``sys.path`` while it loads, so that ``from blocks import Block`` finds the
    sibling ``blocks.py`` as running ``python file.py`` would; ``sys.path`` is put back afterwards."""
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)  # the first occurrence: ours, unless the file inserted the same folder


def _symbol_from_file(path: str, symbol: str) -> Any:
    file = _check_file(path)
    if not symbol:
        short = path if len(path) <= 80 else path[:80] + "…"
        raise UsageError(f"{shown(path, 80)}: name the model as {short}:Symbol (a class, factory or module instance)")
    mod_name = f"_archinspect_user_{abs(hash(str(file.resolve())))}"
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise UsageError(f"model file {path!r} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and pickling look the module up by name
    try:
        with _importable_beside(file):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise UsageError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    except UserInterrupt:
        raise
    except (SystemExit, KeyboardInterrupt) as exc:
        raise ModelRunError(f"{path}: the file {escape_text(exc)} while loading; a model file must not exit") from None
    except Exception as exc:
        raise ModelRunError(f"{path}: running the file failed: {type(exc).__name__}: {exc}") from exc
    return _get_symbol(module, symbol, path)


def _symbol_from_module(module_name: str, symbol: str) -> Any:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if is_zoo_name(module_name.split(".")[0]):
            raise UsageError(f"unknown model {module_name!r}") from None
        raise UsageError(f"module {module_name!r} cannot be imported ({exc})") from None
    except SyntaxError as exc:
        raise UsageError(f"{exc.filename}:{exc.lineno}: syntax error: {exc.msg}") from None
    return _get_symbol(module, symbol, module_name)


def _get_symbol(module: Any, symbol: str, where: str) -> Any:
    obj: Any = module
    for part in symbol.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(module) if not n.startswith("_")]
            import difflib

            close = difflib.get_close_matches(symbol, names, n=3)
            offered = _model_symbols(module)
            if close:
                hint = f"; did you mean {', '.join(close)}?"
            elif offered:
                hint = f"; it defines {', '.join(offered)}"
            else:
                hint = "; it defines no nn.Module class, instance or factory function"
            raise UsageError(f"{where} has no symbol {symbol!r}{hint}")
        obj = getattr(obj, part)
    return obj


def _model_symbols(module: Any) -> list[str]:
    """Public names in ``module`` that could be a MODEL: module instances, Module classes, its functions."""
    from torch import nn

    names = []
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_"):
            continue
        own = getattr(obj, "__module__", None) == module.__name__
        if (
            isinstance(obj, nn.Module)
            or (pyinspect.isclass(obj) and issubclass(obj, nn.Module) and own)
            or (pyinspect.isfunction(obj) and own)
        ):
            names.append(name)
    return names


def _instantiate(
    obj: Any,
    label: str,
    kwargs: dict[str, Any],
    device: str | None,
    source_file: str | None = None,
    force: bool = False,
) -> LoadedModel:
    from torch import nn

    if isinstance(obj, nn.Module):
        if kwargs:
            raise UsageError(f"{label} is a module instance; constructor arguments apply only to classes and factories")
        return LoadedModel(obj, label, source_file=source_file)
    if not callable(obj):
        raise UsageError(
            f"{label} is of type {type(obj).__name__}; expected an nn.Module subclass, a factory function "
            "returning a module, or a module instance"
        )
    if pyinspect.isclass(obj) and not issubclass(obj, nn.Module):
        raise UsageError(f"{label} is a class but not an nn.Module subclass; expected a subclass of torch.nn.Module")

    def build(dev: str | None) -> Any:
        with _device_context(dev, f"building {label}", not force):
            try:
                made = obj(**kwargs)
            except ArchInspectError:  # the memory guard's refusal
                raise
            except TypeError as exc:
                if _is_signature_error(obj, kwargs):
                    raise UsageError(f"{label}: {exc}; {_accepted(obj)}") from None
                raise ModelRunError(f"{label}(...) raised TypeError: {exc}") from exc
            except UserInterrupt:
                raise
            except (SystemExit, KeyboardInterrupt) as exc:
                raise ModelRunError(f"{label}(...) {escape_text(exc)} while building the model") from None
            except Exception as exc:
                raise ModelRunError(f"{label}(...) raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(made, nn.Module):
            raise UsageError(f"{label} returned an object of type {type(made).__name__}, not an nn.Module")
        return made

    model, built_on, notes = _build(build, device, label, weights_hint(obj, kwargs))
    return LoadedModel(model, label, source_file=source_file, rebuild=build, notes=notes, built_on=built_on)


def _accepted(obj: Any) -> str:
    try:
        params = [p for p in pyinspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
    except (TypeError, ValueError):
        return "see its signature"
    return f"accepted: {', '.join(params)}" if params else "it takes no arguments"


def _is_signature_error(obj: Any, kwargs: dict[str, Any]) -> bool:
    try:
        pyinspect.signature(obj).bind(**kwargs)
    except TypeError:
        return True
    except ValueError:
        return False
    return False
