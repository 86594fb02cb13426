"""Names from the user's code cannot change what the output is: every format, every command that shows names.

A layer name comes from ``add_module``, which accepts any string. Each case below is one name; the matrix runs
the commands that show layer names in every output format (table, JSON, CSV, Markdown, ``--save`` SVG and HTML)
and checks what the format promises (docs/safety.md, "Hostile names and what output promises").
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import xml.dom.minidom
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.render.escape import csv_cell, markdown_text, one_line, printable

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '<img src=x onerror="alert(1)">',
    "pipe_newline": "a|b\nc",
    "formula": '=HYPERLINK("http://x")',
    "plus": "+cmd",
    "at": "@SUM(A1)",
    "minus": "-2+3",
    "escape": "\x1b[31mred\x1b]0;title\x07",
    "nul_backspace": "a&b\x00\x08",
    "bidi": "abc\u202edef",
    "c1": "x\x9b2Jy",
    "tab_cr": "\tt\rr",
}

MODEL = """
import torch.nn as nn

NAMES = {names!r}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.add_module(NAMES[0], nn.Conv2d(3, 4, 3))
        for name in NAMES[1:]:
            self.add_module(name, nn.ReLU())

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x
"""

# every control character and bidi override: none may reach the output (a newline only ends a line)
UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
COMMANDS = {
    "shapes": ("shapes", "{ref}", "--input", "1,3,8,8"),
    "flops": ("flops", "{ref}", "--input", "1,3,8,8"),
    "memory": ("memory", "{ref}", "--input", "1,3,8,8"),
    "diff": ("diff", "{ref}", "{ref}", "--input", "1,3,8,8"),
}


@pytest.fixture
def hostile_ref(user_file: Callable[[str, str], Path]) -> str:
    return f"{user_file(MODEL.format(names=list(HOSTILE.values())), 'hostile.py')}:Net"


def _run(cli: Callable[..., Any], command: str, ref: str, *extra: str) -> str:
    args = [a.format(ref=ref) for a in COMMANDS[command]]
    result = cli(*args, *extra)
    assert result.exit_code == 0, result.stderr
    assert not UNSAFE.search(result.stdout), repr(UNSAFE.findall(result.stdout))
    assert not UNSAFE.search(result.stderr), repr(UNSAFE.findall(result.stderr))
    return result.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_table_shows_escapes_not_controls(cli: Callable[..., Any], hostile_ref: str, command: str) -> None:
    out = _run(cli, command, hostile_ref, "--wide")
    assert "\\x1b[31mred\\x1b]0;title\\x07" in out  # visible, not obeyed
    assert "a|b\\nc" in out  # one name, one row
    assert "abc\\u202edef" in out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_json_keeps_names_exact(cli: Callable[..., Any], hostile_ref: str, command: str) -> None:
    doc = json.loads(_run(cli, command, hostile_ref, "--format", "json"))
    text = json.dumps(doc)
    for name in HOSTILE.values():
        assert json.dumps(name) in text  # the exact name, escaped by JSON itself


@pytest.mark.parametrize("command", list(COMMANDS))
def test_csv_cells_cannot_start_a_formula(cli: Callable[..., Any], hostile_ref: str, command: str) -> None:
    rows = list(csv.reader(io.StringIO(_run(cli, command, hostile_ref, "--format", "csv"))))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or re.match(r"-[^\d.]", c)]
    for guarded in ('\'=HYPERLINK("http://x")', "'+cmd", "'@SUM(A1)", "'-2+3", "'\\tt\\rr"):
        assert guarded in cells
    assert "a|b\\nc" in cells and len({len(r) for r in rows[1:] if r and r[0] != "total"}) == 1


@pytest.mark.parametrize("command", list(COMMANDS))
def test_markdown_is_escaped(cli: Callable[..., Any], hostile_ref: str, command: str) -> None:
    out = _run(cli, command, hostile_ref, "--format", "markdown")
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out and "a\\|b\\nc" in out
    for table in re.findall(r"(?m)(?:^\|.*\n)+", out):  # each table: a | in a name cannot add a cell,
        cells = {len(re.split(r"(?<!\\)\|", line)) for line in table.splitlines()}  # a newline cannot split a row
        assert len(cells) == 1, table


@pytest.mark.parametrize("command", ["shapes", "flops", "memory"])
@pytest.mark.parametrize("suffix", ["svg", "html"])
def test_saved_pictures_stay_valid(
    cli: Callable[..., Any], hostile_ref: str, command: str, suffix: str, tmp_path: Path
) -> None:
    picture = tmp_path / f"out.{suffix}"
    _run(cli, command, hostile_ref, "--save", str(picture))
    text = picture.read_text(encoding="utf-8")
    assert not UNSAFE.search(text.replace("\n", "")), repr(UNSAFE.findall(text))
    assert "<script>" not in text
    if suffix == "svg":
        xml.dom.minidom.parseString(text)  # raises on invalid XML


def test_escape_rules() -> None:
    assert printable("a\x1b[0m\n\t\x7f\x9b\u202e") == "a\\x1b[0m\\n\\t\\x7f\\x9b\\u202e"
    assert printable(printable("x\x00")) == "x\\x00"  # idempotent: escaping twice changes nothing
    assert markdown_text("<b>&|") == "&lt;b&gt;&amp;\\|"
    assert [csv_cell(v) for v in ("=1", "-x", "+1", "@a", "\tx", "ok", -3, 2.5)] == [
        "'=1",
        "'-x",
        "'+1",
        "'@a",
        "'\\tx",
        "ok",
        -3,
        2.5,
    ]
    assert one_line("\nImportError:\n  scipy is needed\n") == "ImportError: scipy is needed"


def test_error_text_starting_with_a_newline_reads_as_one_line(
    cli: Callable[..., Any], user_file: Callable[[str, str], Path]
) -> None:
    path = user_file(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def forward(self, x):
                raise ImportError("\\nMask2Former needs scipy:\\n  pip install scipy\\x1b[2J")
        """
    )
    result = cli("shapes", f"{path}:Net", "--input", "1,4")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Mask2Former needs scipy: pip install scipy\\x1b[2J" in lines[0]


NOISY = """
import ctypes
import os
import torch.nn as nn

print("a banner at import")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)
        print("built")

    def forward(self, x):
        print("forward says hello")
        os.write(1, b"a C-level write\\n")
        ctypes.CDLL(None).puts(b"libc puts")
        return self.fc(x)
"""


@pytest.mark.parametrize("command", ["shapes", "flops", "fit", "memory"])
def test_json_stays_json_when_the_model_prints(user_file: Callable[[str, str], Path], command: str) -> None:
    """In a real process (file descriptor 1 included): the model's prints go to stderr, stdout is the JSON."""
    ref = f"{user_file(NOISY, 'noisy.py')}:Net"
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "archinspect", command, ref, "--input", "1,4", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**_env(root)},
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    for said in ("a banner at import", "built", "forward says hello", "a C-level write", "libc puts"):
        assert said in done.stderr and said not in done.stdout


def _env(root: Path) -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONPATH": str(root)}
