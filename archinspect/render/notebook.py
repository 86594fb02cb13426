"""A view's rich items as plain text (``print(result)``) and as HTML (a notebook's cell output).

The HTML is built here from the same :class:`~archinspect.render.table.TableData` the terminal table reads,
not exported from rich: rich's notebook output wraps or cuts at a width it guesses (rich #1814, #1870,
#3134). Every column is shown (nothing is hidden to fit); the table keeps each cell on one line and scrolls
sideways inside its own box when the output area is narrower. Every name, type and note is HTML-escaped.
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from typing import Any

from archinspect.render.table import FittedTable, TableData, raw_value

# row styles (rich style words) as inline CSS: notebook front ends restyle tables, inline styles win
_STYLE_CSS = {"dim": "opacity:0.55", "bold": "font-weight:bold", "red": "color:#c62828", "green": "color:#2e7d32"}
_BOX = "max-width:100%;overflow-x:auto;margin:0.3em 0"
_TABLE = "border-collapse:collapse;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;width:auto"
_CELL = "white-space:pre;padding:1px 8px;border-bottom:1px solid rgba(128,128,128,0.25);vertical-align:top"
_PRE = "white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;margin:0.3em 0"


def _css(style: str | None) -> str:
    return ";".join(_STYLE_CSS[w] for w in (style or "").split() if w in _STYLE_CSS)


def html_table(data: TableData) -> str:
    """``data`` as one HTML table: title as caption, every column, row styles inline, footer lines under it."""
    esc = html.escape
    head = "".join(
        f'<th style="{_CELL};text-align:{c.justify};font-weight:bold">{esc(c.header)}</th>' for c in data.columns
    )
    body = []
    for row, style in zip(data.rows, data.row_styles, strict=True):
        cells = "".join(
            f'<td style="{_CELL};text-align:{c.justify}">{esc(data.cell(row, c))}</td>' for c in data.columns
        )
        css = _css(style)
        body.append(f'<tr style="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    caption_css = "text-align:left;font-weight:bold;white-space:nowrap;padding:2px 0"
    caption = f'<caption style="{caption_css}">{esc(data.title)}</caption>' if data.title else ""
    table = f'<table style="{_TABLE}">{caption}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    if data.caption:
        table += f'<div style="{_PRE}">{esc(data.caption)}</div>'
    return f'<div class="archinspect-table" style="{_BOX}">{table}</div>'


def _plain(item: Any) -> str | None:
    """A rich ``Text``'s plain string (None for anything else)."""
    plain = getattr(item, "plain", None)
    return plain if isinstance(plain, str) else None


def items_html(items: list[Any]) -> str:
    """A view's rich items as HTML: tables as tables, text as preformatted lines."""
    parts = []
    for item in items:
        if isinstance(item, FittedTable):
            parts.append(html_table(item.data))
            continue
        text = _plain(item)
        if text is None:
            text = items_text([item], 120)
        style = getattr(item, "style", "")
        css = _css(style if isinstance(style, str) else "")
        parts.append(f'<div style="{_PRE};{css}">{html.escape(text)}</div>')
    return '<div class="archinspect">' + "".join(parts) + "</div>"


def items_text(items: list[Any], width: int) -> str:
    """A view's rich items as the terminal would show them at ``width`` columns, without colour."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, highlight=False, force_terminal=False, force_jupyter=False
    )
    for item in items:
        console.print(item)
    return "\n".join(line.rstrip() for line in buf.getvalue().rstrip("\n").splitlines())


class ViewDisplay:
    """A result's display (:class:`archinspect.display.Shown`) from its view's ``rich()`` items.

    ``summary``: the one line ``repr()`` shows. ``frame``: the TableData ``to_dataframe()`` reads (the
    first table by default)."""

    def __init__(self, view: Any, summary: str, frame: Callable[[], TableData] | None = None) -> None:
        self.view = view
        self._summary = summary
        self._frame = frame

    def rich(self) -> list[Any]:
        return self.view.rich()

    def text(self, width: int) -> str:
        return items_text(self.rich(), width)

    def html(self) -> str:
        return items_html(self.rich())

    def summary(self) -> str:
        return self._summary

    def frame_rows(self) -> list[dict[str, Any]]:
        if self._frame is not None:
            data = self._frame()
        else:
            data = next(item.data for item in self.rich() if isinstance(item, FittedTable))
        return [{c.key: raw_value(row.get(c.key)) for c in data.columns} for row in data.rows]
