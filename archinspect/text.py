"""Numbers, sizes and shapes as a person reads them, and the counting convention: one set of helpers
for every message, table and document (base layer: imports nothing of archinspect, nor torch)."""

from __future__ import annotations

from typing import Any

CONVENTION = (
    "FLOPs = 2 × MACs; MACs are the multiply-accumulates of convolution, linear/matmul and attention "
    "(torch.utils.flop_counter's convention); normalisation, pooling, activations, elementwise ops, softmax "
    "and upsampling are other ops, counted apart"
)
# The footer line of every table: one short line (it fits 80 columns); the whole sentence is in `archinspect -h`,
# the README's Conventions section and every JSON document ("convention").
CONVENTION_LINE = "Convention: FLOPs = 2 × MACs (conv/linear/attention); other ops apart; see -h"


def fmt_int(value: Any) -> str:
    """12345 -> '12,345'; anything else as ``str``."""
    return f"{value:,}" if isinstance(value, int) else str(value)


def fmt_count(value: float, unit: str = "") -> str:
    """1234567 -> '1.235 M' (3 decimals), for MACs, FLOPs and op counts."""
    for scale, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= scale:
            return f"{value / scale:.3f} {suffix}{unit}"
    return f"{value:,.0f} {unit}".rstrip()


def fmt_bytes(n: float) -> str:
    """Binary units up to PiB: 1536 -> '1.50 KiB'."""
    for scale, suffix in ((2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{int(n)} B"


def short_path(name: str, limit: int = 80) -> str:
    """A layer path cut to ``limit`` characters for a message: its first and last parts kept, … between.

    ``features.0.0.0.(…).0.conv`` style: ``"0.0.0.0…0.0.conv"``; a path that fits is returned as it is.
    """
    if len(name) <= limit:
        return name
    parts = name.split(".")
    head, tail = [], []
    budget = limit - 1  # the ellipsis
    for i in range(len(parts)):  # alternate: take from the end, then from the start
        side, part = (tail, parts[-1 - len(tail)]) if i % 2 == 0 else (head, parts[len(head)])
        if len(head) + len(tail) >= len(parts) or len(part) + 1 > budget:
            break
        side.append(part)
        budget -= len(part) + 1
    if not head and not tail:  # one enormous part
        return name[: limit // 2 - 1] + "…" + name[-(limit // 2) :]
    return ".".join(head) + (".…." if head else "….") + ".".join(reversed(tail))


def dims_text(dims: Any) -> str:
    """``(88, 10, 10)`` -> ``88×10×10``."""
    return "×".join(str(d) for d in dims)


def shape_text(shape: Any) -> str:
    """A tensor's shape, the one compact form every table and message uses: ``(1, 3, 32, 32)`` ->
    ``1×3×32×32``; a 0-d tensor is ``scalar``."""
    return dims_text(shape) if len(shape) else "scalar"


def fmt_shape(shapes: Any) -> str:
    """[(1, 3, 32, 32)] -> '1×3×32×32'; several tensors are joined with ', '; none is '—'."""
    if not shapes:
        return "—"
    if isinstance(shapes[0], int):
        shapes = [shapes]
    return ", ".join(shape_text(s) for s in shapes)


def signed_parts(*items: tuple[str, float]) -> str:
    """``+normalisation 22.228 M, −attention 1.000 M`` for the non-zero items."""
    return ", ".join(f"{'+' if v > 0 else '−'}{label} {fmt_count(abs(v))}" for label, v in items if v)


RF_BOUND_NOTE = "receptive fields are upper bounds"  # how the pass's note on unruled operators begins


def notes_shown(notes: Any, receptive: bool = False) -> list[str]:
    """The notes a table shows: the note that receptive fields are upper bounds only where receptive fields
    were asked for (``shapes --rf``, ``diff``); JSON keeps every note, as it carries every field."""
    return [n for n in notes if receptive or not str(n).startswith(RF_BOUND_NOTE)]
