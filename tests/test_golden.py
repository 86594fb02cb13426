"""Golden outputs: the rendered tables of shapes, flops, fit, bench and list at 80, 100, 120 and 160 columns,
compared whole with tests/golden/ (``ARCHINSPECT_REGEN_GOLDEN=1 python -m pytest tests/test_golden.py``
rewrites them), plus the invariants a reader relies on at every width: no line wider than the terminal, one
line per table row (no cell wraps), and a dim line naming any column hidden to fit.

Every view is built from a deterministic report: zoo models on the meta device, a fixed constructed
BenchResult, reference figures for the zoo list, and the fit search's wall time zeroed.
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from rich.console import Console

from archinspect.bench.result import BenchResult, BenchRow, Environment
from archinspect.render.table import FittedTable

GOLDEN = Path(__file__).resolve().parent / "golden"
WIDTHS = (80, 100, 120, 160)
REGENERATE = os.environ.get("ARCHINSPECT_REGEN_GOLDEN") == "1"


def _meta(name: str, **kwargs: Any) -> Any:
    from archinspect.models.loading import create_model

    return create_model(name, device="meta", **kwargs)


@cache
def _shapes_densenet() -> Any:
    from archinspect.analyses.shapes import inspect
    from archinspect.render.shapes import ShapesView

    return ShapesView(inspect(_meta("densenet-bc"), [(1, 3, 32, 32)], depth=1, model_name="densenet-bc-100"))


@cache
def _shapes_googlenet() -> Any:
    from archinspect.analyses.shapes import inspect
    from archinspect.render.shapes import ShapesView

    model = _meta("googlenet", aux_logits=True)  # its auxiliary heads hold parameters and never run in eval
    return ShapesView(inspect(model, [(1, 3, 224, 224)], depth=1, model_name="googlenet:aux_logits=True"))


@cache
def _flops_resnet50() -> Any:
    from archinspect.analyses.flops import count_flops
    from archinspect.render.flops import FlopsView

    return FlopsView(count_flops(_meta("resnet50"), [(1, 3, 224, 224)], depth=2, model_name="resnet50"), top=5)


@cache
def _flops_by_op() -> Any:
    from archinspect.analyses.flops import count_flops
    from archinspect.render.flops import FlopsView

    return FlopsView(count_flops(_meta("resnet50"), [(1, 3, 224, 224)], model_name="resnet50"), by="op", top=0)


@cache
def _fit_alexnet() -> Any:
    from archinspect.analyses.fitting import fit
    from archinspect.render.fit import FitView

    report = fit(_meta("d2l-alexnet"), [(1, 1, 96, 96)], model_name="d2l-alexnet", solve=True)
    assert report.solve is not None
    report.solve = dataclasses.replace(report.solve, seconds=0.0)  # the one figure that is a wall time
    return FitView(report)


CPU = Environment(
    device="cpu",
    device_name="AMD EPYC",
    torch_version="2.13.0+cpu",
    python_version="3.11.7",
    platform="Linux x86_64",
    threads=2,
    interop_threads=2,
    float32_matmul_precision="highest",
    cpu_count=2,
    load_average=3.5,
)


def bench_result() -> BenchResult:
    """Two steady rows, a noisy one and one stopped by the time budget after 3 of 10 samples."""
    common = dict(variant="eager", dtype="float32", amp=False, channels_last=False, min_samples=10)
    rows = [
        BenchRow(
            model="resnet18",
            batch=1,
            inputs=["1,3,224,224"],
            samples=[0.0612, 0.0615, 0.0610, 0.0613, 0.0611, 0.0614, 0.0612, 0.0613, 0.0611, 0.0612],
            flops=3_627_122_688,
            stopped_by="stable",
            **common,
        ),
        BenchRow(
            model="resnet18",
            batch=8,
            inputs=["8,3,224,224"],
            samples=[1.8912, 1.8801, 1.8930],
            flops=8 * 3_627_122_688,
            stopped_by="max_time",
            **common,
        ),
        BenchRow(
            model="densenet-bc-100",
            batch=1,
            inputs=["1,3,32,32"],
            samples=[0.020, 0.022, 0.031, 0.024, 0.019, 0.028, 0.021, 0.030, 0.023, 0.026],
            flops=575_859_384,
            stopped_by="max_time",
            **common,
        ),
    ]
    settings = {"dtype": "float32", "batch_sizes": [1, 8], "threads": None, "min_iters": 10, "warmup_iters": 5}
    settings |= {"warmup_time_s": 0.5, "min_time_s": 1.0, "max_time_s": 5.0, "max_iters": 10000}
    return BenchResult(CPU, None, settings | {"target_rel_iqr": 0.05}, rows)


@cache
def _bench() -> Any:
    from archinspect.render.bench import BenchView

    return BenchView(bench_result())


@cache
def _zoo() -> Any:
    from archinspect.analyses.zoo_summary import zoo_summaries
    from archinspect.render.zoo import ZooView

    return ZooView(zoo_summaries(figures=False), figures=False)


VIEWS: dict[str, Callable[[], Any]] = {
    "shapes_densenet-bc": _shapes_densenet,
    "shapes_googlenet": _shapes_googlenet,
    "flops_resnet50": _flops_resnet50,
    "flops_resnet50_by_op": _flops_by_op,
    "fit_d2l-alexnet": _fit_alexnet,
    "bench_cpu": _bench,
    "list": _zoo,
}


def render(view: Any, width: int) -> str:
    """What a terminal ``width`` columns wide shows (no colour codes)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=True, color_system=None, highlight=False)
    for item in view.rich():
        console.print(item)
    return buf.getvalue()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_golden(name: str, width: int) -> None:
    text = render(VIEWS[name](), width)
    path = GOLDEN / f"{name}_{width}.txt"
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with ARCHINSPECT_REGEN_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_every_row_on_one_line_within_the_width(name: str, width: int) -> None:
    view = VIEWS[name]()
    text = render(view, width)
    assert max(cell_len(line) for line in text.splitlines()) <= width
    for table in (item for item in view.rich() if isinstance(item, FittedTable)):
        lines = render_one(table, width).splitlines()
        assert sum(line.startswith("│") for line in lines) == len(table.data.rows)  # one line per row
        assert sum(line.startswith("┃") for line in lines) == 1  # the header on one line
        layout = table.layout(width)
        hidden = [table.data.columns[i].header for i in layout.hidden]
        dim = [line for line in lines if line.startswith("hidden at ")]
        if hidden:
            assert dim and all(h in " ".join(lines[-2:]) for h in hidden)
        else:
            assert not dim


def render_one(item: Any, width: int) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=True, color_system=None).print(item)
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_numbers_shapes_and_units_are_never_cut(name: str) -> None:
    """At 80 columns a number, shape or unit column is either whole or hidden; only names may end in "…"."""
    for table in (item for item in VIEWS[name]().rich() if isinstance(item, FittedTable)):
        data, layout = table.data, table.layout(80)
        for i, width in zip(layout.shown, layout.widths, strict=True):
            col = data.columns[i]
            if not col.shrinks:
                assert width >= max(cell_len(data.cell(row, col)) for row in data.rows), col.header


def test_shapes_at_80_keep_layer_output_shape_params_macs() -> None:
    data = _shapes_googlenet().table()
    assert {"layer", "output_shape", "params", "macs"} <= {data.columns[i].key for i in data.layout(80).shown}
    order = list(data.drop_order)
    for w in WIDTHS:  # what is hidden at a width is always a prefix of the stated order
        keys = [data.columns[i].key for i in data.layout(w).hidden]
        assert keys == order[: len(keys)]
    assert not data.layout(160).hidden


def test_wide_and_columns_restore_hidden_columns() -> None:
    table = _shapes_densenet().table().to_rich()
    assert table.layout(80).hidden
    table.wide = True
    assert not table.layout(80).hidden and sum(table.layout(80).widths) + 3 * 8 + 1 > 80
    table.wide, table.keep = False, {"layer", "share"}
    layout = table.layout(80)
    assert [table.data.columns[i].key for i in layout.shown] == ["layer", "share"] and not layout.hidden


def test_not_run_rows_sit_under_their_parent() -> None:
    text = render(_shapes_googlenet(), 160)
    rows = [line for line in text.splitlines() if "(not run)" in line]
    assert [r.split("│")[1].rstrip() for r in rows] == ["   aux1 (not run)", "   aux2 (not run)"]


def test_unstable_bench_row_in_table_and_json() -> None:
    view = _bench()
    text = render(view, 160)
    row = next(line for line in text.splitlines() if line.startswith("│ resnet18") and "│     8 │" in line)
    assert "unstable" in row and "3 of 10" in row
    rows = view.json()["rows"]
    assert [r["unstable"] for r in rows] == [False, True, False]
    assert rows[1]["warnings"] == [
        "unstable: the time budget stopped it after 3 of the 10 samples required; raise --max-time or lower --batch"
    ]
    assert "warning: machine busy (load average 3.50 on 2 CPUs, about 0 free) for 2 thread(s)" in text


def test_a_prose_cell_too_long_becomes_a_note() -> None:
    from archinspect.render.table import Column, TableData

    data = TableData(title="", columns=[Column("Tool", "tool"), Column("Why", "why", min_width=12, notes=True)])
    data.add(tool="fvcore", why="its 'flops' are MACs; +norm 4.967 M, +adaptive pool 25.088 K")
    data.add(tool="torch", why="same convention")
    lines = render_one(data.to_rich(), 40).splitlines()
    assert lines[3:5] == ["│ fvcore │ see note 1                  │", "│ torch  │ same convention             │"]
    assert " ".join(line.strip() for line in lines[-2:]) == (
        "note 1: fvcore: its 'flops' are MACs; +norm 4.967 M, +adaptive pool 25.088 K"
    )
    assert "note" not in render_one(data.to_rich(), 120)
