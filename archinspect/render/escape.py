"""Text from the user's code made safe for the format it lands in.

A layer name comes from the user's code (``add_module`` accepts any string), and so do model labels, file
names and exception texts. Whatever they hold, the output stays what it promises:

- **every format** (table, CSV, Markdown, SVG/HTML pictures, error lines): control characters never reach
  the output. C0/C1 controls and DEL are shown as Python-style escapes (``\\x1b``, ``\\n``, ``\\t``,
  ``\\r``, ``\\x9b``), and so are the invisible bidirectional overrides (``\\u202e``) that can make text
  read differently from what it is. A terminal escape sequence in a name is then visible, not obeyed,
  and the SVG/HTML pictures stay valid XML.
- **Markdown**: ``&``, ``<``, ``>`` are HTML-escaped (``<script>`` shows as text, never runs in a
  renderer) and ``|`` is escaped (``\\|``) so it cannot end a cell.
- **CSV**: a text cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
  ``'`` (OWASP's rule against spreadsheet formula injection). Numbers are written as numbers, negative ones
  too (``-3`` is a number to a spreadsheet, not a formula); only text cells are guarded.
- JSON escapes control characters itself (``\\u001b``), so names there are exact.
"""

from __future__ import annotations

import html
import re
from typing import Any

from archinspect import errors

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0 controls, DEL, C1 controls, and the Unicode bidirectional controls (marks, embeddings, overrides, isolates)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character shown as an escape: ``'a\\x1b[31m'`` -> ``'a\\\\x1b[31m'``;
    newlines become the two characters ``\\n``, so one name stays one line."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def printable_lines(text: str) -> str:
    """Like :func:`printable`, but newlines are kept: for whole documents (CSV, Markdown) made of lines."""
    return _UNSAFE_BUT_NEWLINE.sub(_escape, text) if _UNSAFE_BUT_NEWLINE.search(text) else text


def one_line(text: str) -> str:
    """An error or note on one line: torch's C++ frames dropped and runs of whitespace (newlines included)
    made one space (:func:`archinspect.errors.one_line`), then :func:`printable`."""
    return printable(errors.one_line(text))


def markdown_text(text: str) -> str:
    """Prose or a cell for Markdown: printable, ``&<>`` HTML-escaped, ``|`` escaped."""
    return html.escape(printable(text), quote=False).replace("|", "\\|")


def csv_cell(value: Any) -> Any:
    """A CSV cell: numbers as they are; text printable, with a leading ``'`` when it would start a formula."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if value.startswith(FORMULA_START) else text
