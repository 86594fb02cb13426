"""One table description, four renderings: rich (terminal), CSV, Markdown and plain text.

Commands describe a table once as :class:`TableData` — columns with a formatter, rows of raw values — and
every output format reads it, so the CSV carries the same rows as the table a person sees (CSV keeps raw
numbers; the table and Markdown show them formatted).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from archinspect.text import fmt_shape


def bar(share: float, width: int = 10) -> str:
    """An inline bar for a share in [0, 1], in eighths of a cell."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + ("" if part == 0 else " ▏▎▍▌▋▊▉"[part])


@dataclass
class Column:
    header: str
    key: str
    justify: str = "left"  # "left" | "right"
    fmt: Callable[[Any], str] = str
    style: str | None = None


@dataclass
class TableData:
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    row_styles: list[str | None] = field(default_factory=list)
    footer: list[str] = field(default_factory=list)  # lines printed under the table
    caption: str | None = None

    def add(self, style: str | None = None, **values: Any) -> None:
        self.rows.append(values)
        self.row_styles.append(style)

    def cell(self, row: dict[str, Any], col: Column) -> str:
        value = row.get(col.key, "")
        return "" if value is None else col.fmt(value)

    def to_rich(self) -> Any:
        from rich.table import Table

        table = Table(title=self.title, caption=self.caption, header_style="bold", expand=False)
        for col in self.columns:
            table.add_column(col.header, justify=col.justify, style=col.style, overflow="fold")
        for row, style in zip(self.rows, self.row_styles, strict=True):
            table.add_row(*(self.cell(row, c) for c in self.columns), style=style)
        return table

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.key for c in self.columns])
        for row in self.rows:
            writer.writerow([_raw(row.get(c.key, "")) for c in self.columns])
        return buf.getvalue()

    def to_markdown(self) -> str:
        def esc(text: str) -> str:
            return text.replace("|", "\\|")

        lines = [f"**{self.title}**", ""] if self.title else []
        lines.append("| " + " | ".join(esc(c.header) for c in self.columns) + " |")
        lines.append("| " + " | ".join("---:" if c.justify == "right" else "---" for c in self.columns) + " |")
        for row in self.rows:
            lines.append("| " + " | ".join(esc(self.cell(row, c)) for c in self.columns) + " |")
        if self.footer:
            lines.append("")
            lines.extend(f"{line}  " for line in self.footer)
        return "\n".join(lines) + "\n"


def _raw(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return " ".join(value)
        return fmt_shape(value) if value and isinstance(value[0], (list, tuple, int)) else ""
    return value
