"""The zoo registry: entries registered by a decorator, keyed by canonical name.

A canonical name is lowercase with hyphens; lookups accept any case and ``_`` for ``-``.
Each entry carries the figures it must reproduce exactly (``docs/reference/zoo.md``): parameter count and MACs
for one sample at the default input.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archinspect.errors import UsageError, typed_errors

MAX_LAYERS = 2000  # the deepest network a zoo builder will make (resnet1202 is the deepest entry)


@dataclass(frozen=True)
class ArgRule:
    """What one constructor argument accepts: a type and, for numbers, a range (``low_open``: low excluded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    low_open: bool = False

    def accepted(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a name"
        what = "a whole number" if self.kind is int else "a number"
        low = f"{self.low:,}" if self.low is not None else None
        high = f"{self.high:,}" if self.high is not None else None
        if low is not None and high is not None and self.low_open:
            return f"in ({low}, {high}]"
        if low is not None and high is not None:
            return f"{what} from {low} to {high}"
        return what

    def check(self, value: Any) -> Any:
        """``value`` as this rule's type; ValueError (its text says why) when it is not accepted."""
        if self.kind is int and isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20:
            value = int(value)
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value  # not NaN
        else:
            ok = isinstance(value, self.kind)
        if ok and self.low is not None:
            ok = value > self.low if self.low_open else value >= self.low
        if ok and self.high is not None:
            ok = value <= self.high
        if not ok:
            raise ValueError(self.accepted())
        return value


# Every constructor argument the zoo's builders take, bounded so that no value can hang or exhaust the
# machine: a builder never makes more than MAX_LAYERS layers, 2**20 classes or 4096 input channels.
ARG_RULES: dict[str, ArgRule] = {
    "num_classes": ArgRule(int, 1, 2**20),
    "in_channels": ArgRule(int, 1, 4096),
    "depth": ArgRule(int, 1, MAX_LAYERS),
    "growth_rate": ArgRule(int, 1, 1024),
    "compression": ArgRule(float, 0, 1, low_open=True),
    "dropout": ArgRule(float, 0, 1),
    "bottleneck": ArgRule(bool),
    "batch_norm": ArgRule(bool),
    "aux_logits": ArgRule(bool),
    "transform_input": ArgRule(bool),
    "memory_efficient": ArgRule(bool),
    "config": ArgRule(str),
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: how to build it and the reference figures it must match."""

    name: str
    family: str
    builder: Callable[..., Any]
    default_input: tuple[int, ...]
    source: str
    params: int
    macs: int | None = None  # exact MACs for one sample at default_input, where docs/reference/zoo.md gives an integer
    gmacs: float | None = None  # GMACs rounded as docs/reference/zoo.md prints them, where it gives no integer
    num_classes: int = 1000
    defaults: dict[str, Any] = field(default_factory=dict)  # this entry's own defaults; the user may override
    aliases: tuple[str, ...] = ()
    rules: dict[str, ArgRule] = field(default_factory=dict)  # this entry's own bounds, over ARG_RULES

    @property
    def reference_gmacs(self) -> float:
        return self.macs / 1e9 if self.macs is not None else float(self.gmacs or 0.0)

    def accepted_kwargs(self) -> list[str]:
        """Constructor arguments the builder takes."""
        return _registry_entry_args(self.builder)

    def build(self, **kwargs: Any) -> Any:
        accepted = self.accepted_kwargs()
        unknown = [k for k in kwargs if k not in accepted]
        if unknown:
            raise UsageError(
                f"{self.name} takes no argument {_short(unknown[0])}; accepted: {', '.join(accepted) or 'none'}"
            )
        return self.builder(**{**self.defaults, **self.check_args(kwargs)})

    def check_args(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` checked against this entry's rules, then :data:`ARG_RULES`; a UsageError names the value."""
        checked = {}
        for key, value in kwargs.items():
            rule = self.rules.get(key) or ARG_RULES.get(key)
            if rule is None:
                checked[key] = value
                continue
            try:
                checked[key] = rule.check(value)
            except ValueError as why:
                raise UsageError(f"{self.name}: {key}={_short(value)} is not accepted; {key} must be {why}") from None
        return checked


_REGISTRY: dict[str, ZooEntry] = {}
_ALIASES: dict[str, str] = {}


def canonical_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register_model(
    name: str,
    *,
    family: str,
    input: tuple[int, ...],  # noqa: A002 - reads best at the call site
    source: str,
    params: int,
    macs: int | None = None,
    gmacs: float | None = None,
    num_classes: int = 1000,
    aliases: tuple[str, ...] = (),
    rules: dict[str, ArgRule] | None = None,
    **defaults: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated builder as zoo entry ``name``; duplicates are refused.

    ``defaults`` are this entry's values for builder arguments (``depth=100``), so that one builder can
    serve several entries (decorators stack); the user can still override them with ``--arg``. ``rules``
    bound this entry's arguments where :data:`ARG_RULES` is not enough; every argument is checked before
    the builder runs.
    """

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        key = canonical_name(name)
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"zoo entry {key!r} registered twice")
        _REGISTRY[key] = ZooEntry(
            name=key,
            family=family,
            builder=builder,
            default_input=tuple(input),
            source=source,
            params=params,
            macs=macs,
            gmacs=gmacs,
            num_classes=num_classes,
            defaults=dict(defaults),
            aliases=tuple(canonical_name(a) for a in aliases),
            rules=dict(rules or {}),
        )
        missing = [a for a in _registry_entry_args(builder) if a not in ARG_RULES and a not in (rules or {})]
        if missing:
            raise ValueError(f"zoo entry {key!r}: no bound for argument(s) {', '.join(missing)} (add an ArgRule)")
        for alias in aliases:
            a = canonical_name(alias)
            if a in _REGISTRY or a in _ALIASES:
                raise ValueError(f"zoo alias {a!r} registered twice")
            _ALIASES[a] = key
        return builder

    return decorate


def _registry_entry_args(builder: Callable[..., Any]) -> list[str]:
    sig = inspect.signature(builder)
    return [p.name for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _natural_key(name: str) -> list[Any]:
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", name)]


def all_entries() -> dict[str, ZooEntry]:
    _load_families()
    return _REGISTRY


@typed_errors
def list_models(pattern: str | None = None, family: str | None = None) -> list[str]:
    """Zoo names matching a shell-style wildcard (``resnet*``, ``*cifar*``) on the name, an alias or the dataset
    (:func:`archinspect.models.catalog.matches`), in natural order (resnet18 < resnet101)."""
    from archinspect.models.catalog import dataset_of, matches

    entries = all_entries()
    names = [n for n, e in entries.items() if matches(pattern, n, e.aliases, dataset_of(e.family))]
    if family:
        fam = family.lower()
        if fam not in {f.lower() for f in families()}:
            raise UsageError(f"family={family!r}: no such family; families: {', '.join(families())}", param="family")
        names = [n for n in names if entries[n].family.lower() == fam]
    return sorted(names, key=_natural_key)


def families() -> list[str]:
    """The zoo's family names (``DenseNet``, ``D2L``, ...), sorted case-insensitively."""
    return sorted({e.family for e in all_entries().values()}, key=str.lower)


def closest_names(name: str, n: int = 3) -> list[str]:
    keys = list(all_entries()) + list(_ALIASES)
    return difflib.get_close_matches(canonical_name(name), keys, n=n, cutoff=0.5)


def get_entry(name: str) -> ZooEntry:
    """The entry for ``name`` (case-insensitive, ``_`` for ``-``); UsageError naming the closest ones."""
    entries = all_entries()
    key = canonical_name(name)
    key = _ALIASES.get(key, key)
    if key in entries:
        return entries[key]
    close = closest_names(name)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see `archinspect list`"
    shown = repr(name) if len(name) <= 80 else repr(name[:80]) + "…"
    raise UsageError(f"unknown model {shown}{hint}")


def is_zoo_name(name: str) -> bool:
    key = canonical_name(name)
    return key in all_entries() or key in _ALIASES


_FAMILY_MODULES = (
    "alexnet",
    "vgg",
    "googlenet",
    "inception_v3",
    "inception_v4",
    "inception_resnet_v2",
    "xception",
    "resnet",
    "senet",
    "densenet",
    "densenet_cifar",
    "resnet_cifar",
    "d2l",
)
_loaded = False


def _load_families() -> None:
    """Import every family module once, so that their decorators fill the registry."""
    global _loaded
    if _loaded:
        return
    import importlib
    import importlib.util

    for mod in _FAMILY_MODULES:
        full = f"archinspect.models.zoo.{mod}"
        # A family file that does not exist yet is simply absent from the zoo.
        if importlib.util.find_spec(full) is not None:
            importlib.import_module(full)
    _loaded = True
