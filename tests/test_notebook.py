"""examples/notes.ipynb runs in a real Jupyter kernel (nbclient + ipykernel), and what it displays is the
notes' answers: tables as HTML with plain-text twins, an error as one line, the arithmetic as text."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

import ipykernel  # noqa: F401 - the kernel the notebook runs in; all three are in the [test] extra (CI runs this)
import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notes.ipynb"


@pytest.fixture(scope="module")
def executed() -> Any:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env_path) if p)  # this checkout's package
    try:
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
        )
        client.execute()
    finally:
        os.environ["PYTHONPATH"] = env_path
    return nb


def _cell(nb: Any, needle: str) -> Any:
    return next(c for c in nb.cells if c.cell_type == "code" and needle in c.source)


def _result(cell: Any) -> dict[str, str]:
    outputs = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(outputs) == 1 and len(cell.outputs) == 1, cell.outputs  # the table, and nothing printed beside it
    return outputs[0].data


def _rows(page: str) -> list[list[str]]:
    """The cells of every HTML table row, unescaped."""
    rows = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", page, flags=re.S):
        rows.append([html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)])
    return rows


def test_alexnet_table_shows_the_flatten(executed: Any) -> None:
    data = _result(_cell(executed, 'archinspect.summary("d2l-alexnet", (1, 1, 224, 224))'))
    flatten = next(r for r in _rows(data["text/html"]) if "Flatten" in r)
    assert flatten[2:4] == ["1×256×5×5", "1×6400"]  # input and output shape: 256 × 5 × 5 = 6400
    fc = next(r for r in _rows(data["text/html"]) if r[0].strip() == "14")
    assert fc[1:5] == ["Linear", "1×6400", "1×4096", "26,218,496"]
    assert "Params: 46,764,746" in data["text/html"] and "Params: 46,764,746" in data["text/plain"]
    assert "│   13       │ Flatten" in data["text/plain"]  # the CLI's table as the plain-text twin


def test_alexnet_explained(executed: Any) -> None:
    data = _result(_cell(executed, 'archinspect.explain("d2l-alexnet"'))
    text = html.unescape(data["text/html"])
    assert "H, W: ⌊(224 + 2·1 − 11)/4⌋ + 1 = 54" in text and "11·11·1·96 + 96 bias = 11,712" in text
    assert "dims 1..3: 256·5·5 = 6400" in text and "Which layers dominate" in text


def test_the_error_is_one_line_naming_the_function(executed: Any) -> None:
    cell = _cell(executed, "archinspect.summary(alexnet, (1, 1, 96, 96))")
    (error,) = cell.outputs
    assert error.ename == "ModelRunError"
    assert error.evalue == (
        "14 (Linear) expects 6400 input features but got 256 (input 1×256); "
        "archinspect.fit(model, inputs) finds the in_features it needs and the input sizes that fit"
    )
    trace = "\n".join(error.traceback)
    # the cell's line, then the API boundary that raised it (IPython always shows the last frame), no more
    assert trace.count("archinspect/") == 1 and "archinspect/errors.py" in trace and "set_debug(True)" in trace
    assert "engine.py" not in trace and "During handling" not in trace and "direct cause" not in trace


def test_fit_and_densenet(executed: Any) -> None:
    fit = html.unescape(_result(_cell(executed, "archinspect.fit(alexnet, (1, 1, 96, 96))"))["text/html"])
    assert "✗ needs 256" in fit and "square inputs 193–224 give 256×5×5 = 6400" in fit
    dense = _rows(_result(_cell(executed, 'archinspect.summary("densenet-bc"'))["text/html"])
    assert [r[:2] for r in dense if r[0].strip().startswith("trans")] == [
        ["  trans1", "1×108×16×16"],
        ["  trans2", "1×150×8×8"],
    ]
    (printed,) = _cell(executed, "dense.layer(name)").outputs
    assert "concatenation on channels: 24 (input) + 16·12 = 216" in printed.text
    assert "trans1.pool (AvgPool2d)\n  H, W: ⌊(32 − 2)/2⌋ + 1 = 16" in printed.text
    wrong = html.unescape(_result(_cell(executed, "archinspect.fit(DenseNetWrongFC()"))["text/html"])
    assert "✗ needs 8800" in wrong


def test_five_by_five_against_two_three_by_three(executed: Any) -> None:
    data = _result(_cell(executed, "archinspect.diff(Conv5x5(), TwoConv3x3()"))
    total = next(r for r in _rows(data["text/html"]) if r[0] == "total")
    assert "102,400" in total and "73,728" in total and "1.389×" in total
