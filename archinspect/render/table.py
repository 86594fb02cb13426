"""One table description, four renderings: rich (terminal), CSV, Markdown and plain text.

Commands describe a table once as :class:`TableData` — columns with a formatter, rows of raw values — and
every output format reads it, so the CSV carries the same rows as the table a person sees (CSV keeps raw
numbers; the table and Markdown show them formatted).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.cells import cell_len

from archinspect.errors import UsageError
from archinspect.render.escape import csv_cell, markdown_text, printable
from archinspect.text import fmt_shape

HIDDEN_HINT = "--wide shows them"


def bar(share: float, width: int = 10) -> str:
    """An inline bar for a share in [0, 1], in eighths of a cell."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


def tree_label(rec: Any, records: list[Any]) -> str:
    """A row's label in a tree-indented table: two spaces per depth, the name relative to its parent's
    (``layer1.0.conv1`` under ``layer1.0`` -> ``conv1``), ``(call N)`` from a second call on. ``rec``: any
    record with ``name``, ``type``, ``depth``, ``parent`` (an index into ``records``) and ``call``."""
    name = rec.name or rec.type
    if rec.parent is not None and rec.name:
        parent = records[rec.parent].name
        name = rec.name[len(parent) + 1 :] if parent and rec.name.startswith(parent + ".") else rec.name
    return "  " * rec.depth + name + (f" (call {rec.call})" if rec.call > 1 else "")


def cut_end(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, ending in ``…`` when cut (types, prose)."""
    if cell_len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…" if width > 0 else ""


def cut_middle(text: str, width: int, head_share: float = 1 / 3) -> str:
    """A name in at most ``width`` characters, its middle replaced by ``…``: the tail, where names differ
    (``denseblock3``, ``denselayer12``, ``(call 2)``), keeps two thirds of the room and the head
    (``head_share``) one third. Leading indentation (a tree's depth) is kept while it leaves room for six
    characters of name. ``features.denseblock1.denselayer3`` at 20 -> ``featur…1.denselayer3``."""
    if cell_len(text) <= width:
        return text
    body = text.lstrip(" ")
    indent = min(len(text) - len(body), max(width - 6, 0))
    room = width - indent - 1
    if room <= 0:
        return "…"[:width]
    head = int(room * head_share)
    tail = room - head
    return " " * indent + body[:head] + "…" + body[len(body) - tail :]


def abbreviate_path(name: str) -> str:
    """A dotted path with every part but the last shortened to its first letter and trailing number:
    ``features.denseblock1.denselayer3.conv2`` -> ``f.d1.d3.conv2`` (the last resort of :func:`cut_names`)."""
    indent = len(name) - len(name.lstrip(" "))
    *parts, last = name[indent:].split(".")
    short = [re.sub(r"^(\D)\D*?(\d*)$", r"\1\2", p) if p else p for p in parts]
    return " " * indent + ".".join([*short, last])


def cut_names(cells: list[str], width: int) -> list[str]:
    """A column of names cut with :func:`cut_middle`, choosing how much head to keep so that rows whose
    names differ still differ once cut (all tail when one third of head would make two rows alike); when
    no cut keeps them apart, dotted paths are abbreviated first (:func:`abbreviate_path`)."""
    distinct = len(set(cells))
    for source in (cells, [abbreviate_path(c) if cell_len(c) > width else c for c in cells]):
        for share in (1 / 3, 1 / 6, 0.0):
            out = [cut_middle(c, width, share) for c in source]
            if len(set(out)) == distinct:
                return out
    return [cut_middle(c, width) for c in cells]


def cut_shapes(text: str, width: int) -> str:
    """A cell listing several tensors' shapes (``1×64×56×56, 1×128×28×28, …``) in at most ``width``
    characters: whole shapes kept from the first, the rest counted (``1×64×56×56 (+3 more)``). A shape is
    never cut; :func:`shapes_floor` is the narrowest this can make a cell."""
    if cell_len(text) <= width:
        return text
    parts = text.split(", ")
    for keep in range(len(parts) - 1, 0, -1):
        candidate = f"{', '.join(parts[:keep])} (+{len(parts) - keep} more)"
        if cell_len(candidate) <= width:
            return candidate
    return f"{parts[0]} (+{len(parts) - 1} more)" if len(parts) > 1 else text


def shapes_floor(text: str) -> int:
    """The narrowest :func:`cut_shapes` can make ``text``: the first shape and the count of the others."""
    parts = text.split(", ")
    return cell_len(text) if len(parts) == 1 else min(cell_len(text), cell_len(f"{parts[0]} (+{len(parts) - 1} more)"))


@dataclass
class Column:
    """One column: a header, the row key it reads, and how it behaves when the width is short.

    Every cell stays on one line. A ``shrink`` column (names, types, prose) may be narrowed down to
    ``min_width`` characters, its longer cells cut in the middle (:func:`cut_middle`: the tail, where rows
    differ, is kept). A column with ``cut=cut_shapes`` (shapes) is narrowed by listing fewer tensors, never
    by cutting a shape. Other columns (numbers, units, bars) always get their full width.
    """

    header: str
    key: str
    justify: str = "left"  # "left" | "right"
    fmt: Callable[[Any], str] = str
    style: str | None = None
    shrink: bool | None = None  # None: left-justified plain text (fmt is str) shrinks, the rest does not
    min_width: int = 10
    notes: bool = False  # a prose column: a cell too long for its width moves to a numbered note under the table
    cut: Callable[[str, int], str] | None = None  # how a cell is narrowed: cut_middle, cut_shapes; None: cut_end

    @property
    def shrinks(self) -> bool:
        if self.shrink is not None:
            return self.shrink
        return self.cut is not None or (self.justify == "left" and self.fmt is str)

    def floor(self, cells: list[str]) -> int:
        """The narrowest this column may be made, for these cells (header included in ``cells``' widths)."""
        natural = max(cell_len(c) for c in cells) if cells else 0
        if not self.shrinks:
            return natural
        if self.cut is cut_shapes:
            return max([cell_len(self.header), *(shapes_floor(c) for c in cells[1:])])
        return min(natural, max(self.min_width, 1))

    def fit(self, text: str, width: int) -> str:
        """A cell narrowed to ``width``."""
        return (self.cut or cut_end)(text, width) if cell_len(text) > width else text

    def names(self) -> set[str]:
        """What ``--columns`` accepts for this column: its key and its header, in lower case."""
        return {self.key.lower(), self.header.lower(), self.header.lower().replace(" ", "-")}


@dataclass
class TableData:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_styles: list[str | None] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)  # lines printed under the table
    caption: str | None = None
    # column keys, least important first, hidden in this order when too wide; a tuple of keys goes together
    drop_order: tuple[str | tuple[str, ...], ...] = ()

    def add(self, style: str | None = None, **values: Any) -> None:
        self.rows.append(values)
        self.row_styles.append(style)

    def cell(self, row: dict[str, Any], col: Column) -> str:
        value = row.get(col.key, "")
        return "" if value is None else printable(col.fmt(value))

    def to_rich(self) -> FittedTable:
        """A rich renderable that lays the table out for the width it is printed at."""
        return FittedTable(self)

    def layout(self, width: int, *, wide: bool = False, keep: set[str] | None = None) -> Layout:
        """Which columns to show at ``width`` characters, and how wide each is.

        ``wide``: every column at its full width, whatever ``width`` is. ``keep``: show only the columns
        named (key or header, lower case) — when none of them is in this table, it is laid out as usual.
        Otherwise columns are hidden in ``drop_order`` while even their minimum widths cannot fit; then the
        shrinkable ones are narrowed: ``notes`` columns first (their text moves under the table), then those
        named in ``drop_order`` (in that order), then the widest; a table still too wide hides columns from
        the right. A number, shape or unit is never cut.
        """
        texts = [[c.header, *(self.cell(row, c) for row in self.rows)] for c in self.columns]
        natural = [max(cell_len(t) for t in column) for column in texts]
        shown = list(range(len(self.columns)))
        if keep:
            chosen = [i for i in shown if self.columns[i].names() & keep]
            shown = chosen or shown
        if wide:
            return Layout(self, shown, [natural[i] for i in shown], [], width)
        floor = [c.floor(texts[i]) for i, c in enumerate(self.columns)]
        hidden: list[int] = []
        groups = [] if keep and len(shown) < len(self.columns) else [self._group(k) for k in self.drop_order]
        groups = [g for g in groups if g]
        droppable = [i for g in groups for i in g]
        while sum(floor[i] for i in shown) + _overhead(len(shown)) > width and groups:
            gone = [i for i in groups.pop(0) if i in shown]
            if gone and len(shown) > len(gone):
                shown = [i for i in shown if i not in gone]
                hidden.extend(gone)
        widths = {i: natural[i] for i in shown}
        excess = sum(widths.values()) + _overhead(len(shown)) - width
        prose = [i for i in shown if self.columns[i].notes]  # what they lose is still shown, as notes
        for i in prose + droppable:  # prose, then the least important columns give up their width first
            if i in widths and excess > 0:
                cut = min(excess, widths[i] - floor[i])
                widths[i] -= cut
                excess -= cut
        while excess > 0:  # then narrow the widest shrinkable column by one, until it fits or none can shrink
            can = [i for i in shown if widths[i] > floor[i]]
            if not can:
                break
            widest = max(can, key=lambda i: (widths[i], -i))
            widths[widest] -= 1
            excess -= 1
        while excess > 0 and len(shown) > 2:  # still too wide: hide from the right (named in the dim line)
            gone = shown.pop()
            hidden.append(gone)
            excess -= widths.pop(gone) + 3
        return Layout(self, shown, [widths[i] for i in shown], hidden, width)

    def _group(self, keys: str | tuple[str, ...]) -> list[int]:
        """Indices of the columns with these keys (one key, or a tuple hidden together)."""
        wanted = (keys,) if isinstance(keys, str) else keys
        return [i for i, c in enumerate(self.columns) if c.key in wanted]

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            writer.writerow([csv_cell(raw_value(row.get(c.key, ""))) for c in self.columns])
        return buf.getvalue()

    def to_markdown(self) -> str:
        esc = markdown_text
        lines = [f"**{esc(self.title)}**", ""] if self.title else []
        lines.append("| " + " | ".join(esc(c.header) for c in self.columns) + " |")
        lines.append("| " + " | ".join("---:" if c.justify == "right" else "---" for c in self.columns) + " |")
        for row in self.rows:
            lines.append("| " + " | ".join(esc(self.cell(row, c)) for c in self.columns) + " |")
        if self.footer:
            lines.append("")
            lines.extend(f"{esc(line)}  " for line in self.footer)
        return "\n".join(lines) + "\n"


def raw_value(value: Any) -> Any:
    """A cell's value as data (CSV, pandas): numbers as they are, shapes as ``1×3×32×32``, word lists joined."""
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return " ".join(value)
        return fmt_shape(value) if value and isinstance(value[0], (list, tuple, int)) else ""
    return value


def _overhead(n_columns: int) -> int:
    """Characters a rich table with ``n_columns`` adds around its cells: a border and 2 of padding each."""
    return 3 * n_columns + 1


@dataclass
class Layout:
    """The columns a table shows at one width (indices into ``data.columns``), their widths, the hidden ones."""

    data: TableData
    shown: list[int]
    widths: list[int]
    hidden: list[int]
    width: int = 10_000  # the width laid out for

    def table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        data = self.data
        title = Text(printable(data.title), no_wrap=True, overflow="ellipsis") if data.title else None
        # at least as wide as its title, so that a table of few columns does not cut its own title
        table = Table(title=title, caption=data.caption, header_style="bold", expand=False)
        if data.title:
            table.min_width = min(cell_len(data.title), self.width)
        for i, width in zip(self.shown, self.widths, strict=True):
            col = data.columns[i]
            table.add_column(
                col.header, justify=col.justify, style=col.style, width=width, no_wrap=True, overflow="ellipsis"
            )
        marks = {(r, c): f"see note {n}" for n, (r, c, _) in enumerate(self.notes(), 1)}
        columns = []
        for i, width in zip(self.shown, self.widths, strict=True):
            col = data.columns[i]
            cells = [data.cell(row, col) for row in data.rows]
            fitted = cut_names(cells, width) if col.cut is cut_middle else [col.fit(c, width) for c in cells]
            columns.append([marks.get((r, i)) or cell for r, cell in enumerate(fitted)])
        for r, style in enumerate(data.row_styles):
            table.add_row(*(Text(column[r]) for column in columns), style=style)
        return table

    def notes(self) -> list[tuple[int, int, str]]:
        """(row, column, text) of each cell of a ``notes`` column too long for the width it got."""
        out = []
        for i, width in zip(self.shown, self.widths, strict=True):
            col = self.data.columns[i]
            if col.notes:
                cells = ((r, self.data.cell(row, col)) for r, row in enumerate(self.data.rows))
                out.extend((r, i, text) for r, text in cells if cell_len(text) > width)
        return sorted(out)

    def note_lines(self) -> list[str]:
        """``[n] first column's value: the full text`` for each cell moved out of the table."""
        first = self.data.columns[self.shown[0]]
        return [
            f"note {n}: {self.data.cell(self.data.rows[r], first)}: {text}"
            for n, (r, _, text) in enumerate(self.notes(), 1)
        ]

    def hidden_line(self, width: int) -> str | None:
        if not self.hidden:
            return None
        names = ", ".join(self.data.columns[i].header for i in sorted(self.hidden))
        return f"hidden at {width} columns: {names} ({HIDDEN_HINT})"


class FittedTable:
    """A :class:`TableData` as a rich renderable: laid out for the width it is printed at (every row on
    one line), with one dim line naming the columns hidden to fit. ``wide`` and ``keep`` are set by the
    command line's ``--wide`` and ``--columns``."""

    def __init__(self, data: TableData, *, wide: bool = False, keep: set[str] | None = None) -> None:
        self.data = data
        self.wide = wide
        self.keep = keep

    def layout(self, width: int) -> Layout:
        return self.data.layout(width, wide=self.wide, keep=self.keep)

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        layout = self.layout(options.max_width)
        yield layout.table()
        notes = layout.note_lines()
        if notes:
            yield Text("\n".join(notes))
        line = layout.hidden_line(options.max_width)
        if line is not None:
            yield Text(line, style="dim")

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        layout = self.layout(options.max_width)
        width = sum(layout.widths) + _overhead(len(layout.shown))
        return Measurement(width, width)


def fit_options(items: list[Any], *, wide: bool = False, columns: str | None = None) -> None:
    """Apply ``--wide`` and ``--columns a,b,c`` to the tables among a view's rich items.

    ``columns`` names columns by key or header, case-insensitive (``output-shape``, ``Output shape``,
    ``output_shape``); a name no table has is a UsageError listing the accepted ones.
    """
    tables = [item for item in items if isinstance(item, FittedTable)]
    keep: set[str] | None = None
    if columns is not None:
        wanted = [c.strip().lower() for c in columns.split(",") if c.strip()]
        known = {name for t in tables for col in t.data.columns for name in col.names()}
        unknown = [c for c in wanted if c not in known]
        if unknown or not wanted:
            accepted = sorted({col.header.lower().replace(" ", "-") for t in tables for col in t.data.columns})
            raise UsageError(
                f"columns={columns!r}: unknown column {(unknown or [''])[0]!r}; accepted: " + ", ".join(accepted),
                param="columns",
            )
        keep = set(wanted)
    for table in tables:
        table.wide = wide
        table.keep = keep


def full_width(items: list[Any]) -> int:
    """The widest table among ``items`` at full width, in characters (what ``--wide`` needs)."""
    widths = [
        sum(lay.widths) + _overhead(len(lay.shown))
        for t in items
        if isinstance(t, FittedTable)
        for lay in [t.data.layout(0, wide=True, keep=t.keep)]
    ]
    return max(widths, default=0)
