"""``archinspect graph --color time``: each box coloured and labelled by the measured time of its module call.

One profile of resnet20 on CPU (two timed passes: a picture, not a benchmark) is handed to ``graph`` as
``profile=``, so that every figure can be checked against the report it came from.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
import torch
from torch import nn

import archinspect
from archinspect.bench.profile_report import ProfileReport
from archinspect.errors import UsageError
from archinspect.models.loading import load_model
from archinspect.render.graph import GraphView, graph


@cache
def resnet20() -> tuple[nn.Module, list, ProfileReport]:
    loaded = load_model("resnet20", device="cpu")
    inputs = loaded.inputs(None)
    report = archinspect.profile(loaded.model, inputs, device="cpu", repeats=2, warmup_passes=0, name="resnet20")
    return loaded.model, inputs, report


def timed(depth: int) -> GraphView:
    model, inputs, report = resnet20()
    return graph(model, inputs, depth=depth, color="time", profile=report, model_name="resnet20")


def subtree_seconds(report: ProfileReport, name: str, call: int) -> float:
    rec = next(r for r in report.records if (r.name, r.call) == (name, call))
    return sum(r.self_s for r in report.subtree(rec.index))


def test_every_module_box_has_its_calls_profiled_time_children_included() -> None:
    view = timed(1)
    _, _, report = resnet20()
    records = view.graph.report.records
    modules = [n for n in view.nodes if n.kind == "module"]
    assert [n.name for n in modules] == ["conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"]
    for n in modules:
        rec = records[n.record]
        assert n.time_s is not None and n.time_s > 0
        assert n.time_s == subtree_seconds(report, rec.name, rec.call)
    assert all(n.time_s is None for n in view.nodes if n.kind in ("op", "input", "output"))  # not timed apart
    assert view.graph.timing == {"device": "cpu", "repeats": 2, "statistic": "median", "dtype": "float32",
                                 "threads": None, "source": "archinspect.profile"}


def test_a_fold_takes_the_sum_of_its_members_times() -> None:
    g = timed(2).graph
    assert [f.type for f in g.folds.values()] == ["BasicBlock × 3"] * 3
    for fold in g.folds.values():
        parts = [g.nodes[m].time_s for m in fold.members]
        assert all(p is not None and p > 0 for p in parts)
        assert fold.time_s == sum(parts)  # type: ignore[arg-type]


def _fills(svg: str) -> dict[str, str]:
    """Node id -> the fill of its (front) box."""
    out = {}
    for m in re.finditer(r'<g class="node (\w+)" data-id="([^"]+)">(?:<rect [^>]*/>)?<rect [^>]*fill="(#\w+)"', svg):
        out[m.group(2)] = m.group(3)
    return out


def test_the_slowest_box_is_drawn_darker_than_the_fastest_and_boxes_show_their_time() -> None:
    view = timed(1)
    svg = view.svg()
    fills = _fills(svg)
    modules = sorted((n for n in view.nodes if n.kind == "module"), key=lambda n: n.time_s)  # type: ignore[arg-type,return-value]
    slow, fast = fills[modules[-1].id], fills[modules[0].id]
    assert slow != fast
    assert sum(int(slow[i:i + 2], 16) for i in (1, 3, 5)) < sum(int(fast[i:i + 2], 16) for i in (1, 3, 5))
    assert fills[next(n.id for n in view.nodes if n.kind == "op")] == "#ffffff"  # an operator: not coloured
    assert re.search(r"\d(\.\d+)? (ms|µs)</text>", svg)  # the time on the box
    assert "fill: time per box (log scale)" in svg and "time: cpu, median of 2 timed passes" in svg
    assert "operators (rounded): not timed apart" in svg


def test_json_nodes_and_folds_carry_time_s() -> None:
    doc = json.loads(timed(2).json())
    modules = [n for n in doc["nodes"] if n["kind"] == "module" and n["ran"]]
    assert modules and all(n["time_s"] > 0 for n in modules)
    assert all(n["time_s"] is None for n in doc["nodes"] if n["kind"] != "module")
    assert all(f["time_s"] > 0 for f in doc["folds"])
    assert doc["timing"]["repeats"] == 2
    assert json.loads(graph(nn.Linear(2, 2), (1, 2)).json())["timing"] is None


def test_a_profile_of_another_model_is_refused() -> None:
    _, _, report = resnet20()
    with pytest.raises(UsageError, match="profile= is of 'resnet20': none of this graph's module calls is in it"):
        graph(nn.Sequential(nn.Linear(2, 2)), (1, 2), color="time", profile=report)


def test_time_on_meta_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="color='time' times the model on a device that runs it"):
        graph(nn.Linear(2, 2), (1, 2), color="time", device="meta")


def test_cli_color_time_profiles_and_writes_the_times(cli) -> None:  # noqa: ANN001
    result = cli("graph", "resnet20", "--depth", "1", "--color", "time", "--repeats", "1", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["timing"]["device"] == "cpu" and doc["timing"]["repeats"] == 1
    assert all(n["time_s"] > 0 for n in doc["nodes"] if n["kind"] == "module")


@pytest.mark.parametrize("args, message", [
    (["--color", "bogus"], "error: --color 'bogus': accepted: macs, params, memory, time"),
    (["--repeats", "3"], "error: --repeats applies to --color time"),
    (["--color", "time", "--device", "meta"], "error: --device 'meta' cannot be timed; accepted: auto, cpu, cuda, "
                                              "cuda:N"),
])
def test_cli_time_usage_errors(cli, args: list[str], message: str) -> None:  # noqa: ANN001
    result = cli("graph", "resnet20", *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message


class Twice(nn.Module):
    """One layer called twice: two boxes, each with the time of its own call."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.fc(torch.relu(self.fc(x))))


def test_a_module_called_twice_is_two_boxes_with_their_own_times() -> None:
    model = Twice()
    report = archinspect.profile(model, (8, 64), device="cpu", repeats=1, warmup_passes=0)
    view = graph(model, (8, 64), depth=1, color="time", profile=report)
    records = view.graph.report.records
    calls = [n for n in view.nodes if n.kind == "module" and records[n.record].name == "fc"]
    assert [n.name for n in calls] == ["fc", "fc (call 2)"]
    assert [records[n.record].call for n in calls] == [1, 2]
    assert [n.time_s for n in calls] == [subtree_seconds(report, "fc", 1), subtree_seconds(report, "fc", 2)]


def test_the_terminal_summary_lists_the_folds_in_pass_order_with_their_times(capsys: pytest.CaptureFixture) -> None:
    from archinspect.cli.graph import _summary
    from archinspect.render.graph_text import fmt_seconds

    view = timed(2)
    _summary(view, "resnet20")
    lines = capsys.readouterr().out.splitlines()
    times = [fmt_seconds(f.time_s) for f in view.graph.folds.values()]  # type: ignore[arg-type]
    assert lines[:5] == [
        "resnet20 at depth 2: 11 boxes, 10 edges",
        f"  BasicBlock × 3       layer1.0 … 2 (folded, {times[0]})",
        f"  BasicBlock × 3       layer2.0 … 2 (folded, {times[1]})",
        f"  BasicBlock × 3       layer3.0 … 2 (folded, {times[2]})",
        "times: cpu, median of 2 timed passes, each module call with everything it calls",
    ]
