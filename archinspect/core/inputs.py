"""Parsing what the user types: ``--input`` shapes (with dtype prefixes) and ``--arg key=value`` values."""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any

from archinspect.errors import UsageError

MAX_DIMS = 8
MAX_BYTES = 2**63 - 1  # the most a torch storage can address (its size in bytes is an int64)
MAX_VALUE_CHARS = 1000  # an --arg value longer than this is refused before it is read
SEED = 0  # the private generator's seed: every pass sees the same dummy inputs

ITEMSIZE: dict[str, int] = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}

# dtype prefix (as typed) -> torch attribute name; kept as strings so parsing never imports torch.
DTYPE_NAMES: dict[str, str] = {
    "float": "float32",
    "float32": "float32",
    "fp32": "float32",
    "half": "float16",
    "float16": "float16",
    "fp16": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "double": "float64",
    "float64": "float64",
    "long": "int64",
    "int64": "int64",
    "int": "int32",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}

INPUT_FORMS = (
    "comma- or x-separated positive sizes like 1,3,32,32 or 1x3x32x32, optionally 'long:' prefixed; 'scalar' for 0-d"
)


@dataclass(frozen=True)
class InputSpec:
    """One positional input: its shape (batch first) and dtype name (``float32``, ``int64``, ...)."""

    shape: tuple[int, ...]
    dtype: str = "float32"

    def __post_init__(self) -> None:
        check_addressable(self.shape, self.dtype)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes the tensor takes: elements × the dtype's size."""
        return self.numel * ITEMSIZE.get(self.dtype, 8)

    @property
    def is_floating(self) -> bool:
        return self.dtype.startswith(("float", "bfloat"))

    def with_batch(self, batch: int) -> InputSpec:
        return InputSpec((batch, *self.shape[1:]), self.dtype)

    def with_dtype(self, dtype: str) -> InputSpec:
        """The same input cast to a floating dtype; integer inputs (token ids) keep theirs."""
        return InputSpec(self.shape, dtype) if self.is_floating else self

    def make(self, device: Any = "cpu") -> Any:
        """A random tensor of this shape on ``device`` (never zeros: normal floats, small non-negative ints).

        The numbers come from a private generator seeded with :data:`SEED`: the same input every time,
        and torch's global random state (CPU and CUDA) is never touched.
        """
        import torch

        dt = getattr(torch, self.dtype)
        dev = torch.device(device)
        if dev.type == "meta":
            return torch.empty(self.shape, dtype=dt, device=dev)
        gen = torch.Generator(device=dev)
        gen.manual_seed(SEED)
        if self.is_floating:
            return torch.randn(self.shape, device=dev, generator=gen).to(dt)
        if self.dtype == "bool":
            return torch.randint(0, 2, self.shape, device=dev, generator=gen).bool()
        return torch.randint(0, 2, self.shape, device=dev, dtype=dt, generator=gen)

    def __str__(self) -> str:
        dims = ",".join(str(d) for d in self.shape) or "scalar"
        return dims if self.dtype == "float32" else f"{self.dtype}:{dims}"


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters with … so that an error stays one short line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def _approx(n: int) -> str:
    """3 significant digits of a possibly huge integer: ``3e+24``."""
    digits = str(n)
    return f"{n:.3g}" if len(digits) < 300 else f"{digits[0]}.{digits[1:3]}e+{len(digits) - 1}"


def check_addressable(shape: tuple[int, ...], dtype: str = "float32", raw: str | None = None) -> None:
    """UsageError when a tensor of ``shape`` could not exist: its size in bytes past what torch can address."""
    numel = math.prod(shape)
    size = numel * ITEMSIZE.get(dtype, 8)
    if size > MAX_BYTES:
        what = f"inputs={shown(raw)}" if raw is not None else f"input {shown(','.join(map(str, shape)))}"
        raise UsageError(
            f"{what} is {_approx(numel)} elements ({_approx(size)} bytes as {dtype}); no tensor can be that large "
            f"(at most 2**63-1 bytes); give a smaller size",
            param="inputs" if raw is not None else None,
        )


def parse_input(text: str) -> InputSpec:
    """Parse ``1,3,32,32``, ``1x3x32x32`` or ``long:1,128`` into an :class:`InputSpec`. Also understood:
    a shape as Python prints it (``(1, 3, 224, 224)``, ``[1, 3, 224, 224]``), sizes separated by spaces
    (``'1 3 224 224'``), and ``scalar`` (or ``()``) for a 0-d tensor."""
    raw = text
    text = text.strip()
    dtype = "float32"
    if ":" in text:
        prefix, text = text.split(":", 1)
        key = prefix.strip().lower()
        if key not in DTYPE_NAMES:
            accepted = ", ".join(sorted(DTYPE_NAMES))
            raise UsageError(
                f"inputs={shown(raw)}: unknown dtype prefix {shown(prefix, 20)}; accepted: {accepted}", param="inputs"
            )
        dtype = DTYPE_NAMES[key]
    text = text.strip()
    if len(text) >= 2 and (text[0], text[-1]) in (("(", ")"), ("[", "]")):  # a shape as Python prints it
        text = text[1:-1].strip().rstrip(",").strip() or "scalar"
    if text.lower() == "scalar":
        return InputSpec((), dtype)
    if not text:
        raise UsageError(f"inputs={shown(raw)} is empty; expected {INPUT_FORMS}", param="inputs")
    parts = re.split(r"\s*[,xX×]\s*|\s+", text)
    dims: list[int] = []
    for part in parts:
        p = part.strip()
        if not p:
            raise UsageError(f"inputs={shown(raw)} has an empty size; expected {INPUT_FORMS}", param="inputs")
        if len(p) > 20 and p.lstrip("+-").isdigit():  # longer than any int64; int() refuses > 4300 digits
            raise UsageError(
                f"inputs={shown(raw)}: size {p[:20]}… is past any tensor size; give a smaller one", param="inputs"
            )
        try:
            if not p.isascii():  # int() reads full-width and other Unicode digits: '１' is 1
                raise ValueError(p)
            value = int(p)
        except ValueError:
            bad = shown(p, 20)
            raise UsageError(
                f"inputs={shown(raw)}: {bad} is not a whole number; expected {INPUT_FORMS}", param="inputs"
            ) from None
        if value <= 0:
            message = f"inputs={shown(raw)}: size {value} must be positive; expected {INPUT_FORMS}"
            raise UsageError(message, param="inputs")
        dims.append(value)
    if len(dims) > MAX_DIMS:
        raise UsageError(
            f"inputs={shown(raw)} has {len(dims)} dimensions; at most {MAX_DIMS} are accepted", param="inputs"
        )
    check_addressable(tuple(dims), dtype, raw)
    return InputSpec(tuple(dims), dtype)


def parse_inputs(texts: list[str] | None) -> list[InputSpec] | None:
    if not texts:
        return None
    return [parse_input(t) for t in texts]


_KEYWORD = re.compile(r"\s*([A-Za-z_]\w*)\s*=(.*)")


def split_keyword_inputs(texts: list[str] | None) -> tuple[list[str], dict[str, InputSpec]]:
    """(positional ``--input`` texts, keyword inputs): ``mask=bool:1,128`` is the forward's ``mask`` argument."""
    positional: list[str] = []
    keywords: dict[str, InputSpec] = {}
    for text in texts or []:
        m = _KEYWORD.fullmatch(text)
        if not m:
            positional.append(text)
            continue
        name, spec = m.group(1), m.group(2)
        if name in keywords:
            raise UsageError(f"inputs={text!r}: keyword input {name!r} is given twice", param="inputs")
        try:
            keywords[name] = parse_input(spec)
        except UsageError as exc:
            raise UsageError(f"inputs={text!r} (keyword input {name}): {exc}", param="inputs") from None
    return positional, keywords


def parse_value(text: str) -> Any:
    """A constructor argument: int, float, bool, None, tuple/list, or else the string itself."""
    t = text.strip()
    if len(t) > MAX_VALUE_CHARS:
        raise UsageError(
            f"args={t[:20]!r}… is {len(t)} characters long; at most {MAX_VALUE_CHARS} are read", param="args"
        )
    low = t.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low == "none":
        return None
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, TypeError, MemoryError):
        return t
    except RecursionError:
        raise UsageError(f"args={t[:20]!r}… is nested too deeply to read", param="args") from None


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets, so ``blocks=(6,12),k=3`` gives two items."""
    items, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    return [i for i in (s.strip() for s in items) if i]


def parse_kwargs(items: list[str] | str | None) -> dict[str, Any]:
    """Parse ``key=value`` items (``--arg`` repeated, or the tail of ``name:key=value,key=value``)."""
    if not items:
        return {}
    if isinstance(items, str):
        items = _split_top_level(items)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"args={shown(item)} is not key=value (e.g. depth=40, bottleneck=true)", param="args")
        out[key] = parse_value(value)
    return out


SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
SIZE_FORMS = (
    "a number of bytes or a size like 24GiB, 16GB, 512MiB, 1.5TiB "
    "(KiB/MiB/GiB/TiB = 1024-based, KB/MB/GB/TB = 1000-based)"
)


def parse_size(text: str, param: str = "budget_bytes") -> int:
    """A memory size as typed (``24GiB``, ``16GB``, ``512MiB``, ``1000000``) in bytes; UsageError otherwise
    (about the argument ``param``)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([A-Za-z]*)\s*", text or "")
    unit = m.group(2).lower() if m else ""
    if not m or unit not in SIZE_UNITS:
        raise UsageError(f"{param}={text!r} is not a size; expected {SIZE_FORMS}", param=param)
    value = int(float(m.group(1)) * SIZE_UNITS[unit]) if "." in m.group(1) else int(m.group(1)) * SIZE_UNITS[unit]
    if value <= 0:
        raise UsageError(f"{param}={text!r} must be more than 0 bytes", param=param)
    return value


def as_specs(inputs: Any) -> list[InputSpec]:
    """Accept InputSpecs, shapes (tuples of ints) or tensors, one or a list of them."""
    return [spec_of(item) for item in input_items(inputs)]


Item = Any  # one input: an InputSpec (a shape to make a dummy of) or a real tensor, used as given


def input_items(inputs: Any) -> list[Item]:
    """Positional inputs, one or a list: InputSpecs kept, shapes made InputSpecs, tensors kept (used as given)."""
    import torch

    if isinstance(inputs, (InputSpec, torch.Tensor)) or (
        isinstance(inputs, (tuple, list)) and inputs and all(isinstance(d, int) for d in inputs)
    ):
        inputs = [inputs]
    items: list[Item] = []
    for item in inputs:
        if isinstance(item, (InputSpec, torch.Tensor)):
            items.append(item)
        elif isinstance(item, (tuple, list)) and all(isinstance(d, int) for d in item):
            items.append(InputSpec(tuple(item)))
        else:
            raise UsageError(f"input {item!r} is not a shape, an InputSpec or a tensor")
    return items


def keyword_items(kwargs: dict[str, Any] | None) -> dict[str, Item]:
    """Keyword inputs by name: specs (from shapes) or tensors used as given."""
    out: dict[str, Item] = {}
    for key, value in (kwargs or {}).items():
        if not isinstance(key, str) or not key.isidentifier():
            raise UsageError(f"keyword input {key!r} is not a Python name (e.g. mask=bool:1,128)")
        out[key] = input_items([value])[0]
    return out


def spec_of(item: Item) -> InputSpec:
    """The shape and dtype of an input, as reports show it."""
    import torch

    if isinstance(item, torch.Tensor):
        return InputSpec(tuple(item.shape), str(item.dtype).removeprefix("torch."))
    return item
