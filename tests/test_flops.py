"""count_flops and `archinspect flops`: exact totals, a tree whose figures add up, PyTorch's own total."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from zoo_sample import zoo_params

from archinspect.analyses.flops import FlopReport, count_flops
from archinspect.core.substitute import training_mode
from archinspect.models.loading import load_model
from archinspect.models.zoo import get_entry
from archinspect.render.flops import FlopsView

RESNET50_MACS = 4_089_184_256


@pytest.mark.parametrize("name", zoo_params())
def test_zoo_flops_equal_flop_counter_mode_and_zoo_macs(name: str) -> None:
    """Our production pass (fast meta answers on) against PyTorch's FlopCounterMode on a plain torch pass."""
    entry = get_entry(name)
    loaded = load_model(name, device="meta")
    report = count_flops(loaded.model, loaded.default_inputs, device="meta")
    inputs = [s.make(torch.device("meta")) for s in loaded.default_inputs]
    with training_mode(loaded.model, "eval"), torch.no_grad(), FlopCounterMode(display=False) as reference:
        loaded.model(*inputs)
    assert report.totals.flops == reference.get_total_flops() > 0
    if entry.macs is not None:
        assert report.totals.macs == entry.macs
    else:
        assert abs(report.totals.macs / 1e9 - entry.gmacs) < 5e-4  # docs/reference/zoo.md prints 3 decimals
    assert report.totals.params == entry.params


@pytest.fixture(scope="module")
def resnet50() -> FlopReport:
    return count_flops("resnet50", depth=3)


def test_resnet50_totals(resnet50: FlopReport) -> None:
    t = resnet50.totals
    assert (t.macs, t.flops, t.params) == (RESNET50_MACS, 2 * RESNET50_MACS, 25_557_032)
    assert round(t.flops_per_param, 2) == 320.0
    # other ops by name: eval BatchNorm 2 per element, ReLU and the residual add 1 per element
    assert resnet50.by_category() == {
        "norm": 22_227_968,
        "activation": 9_608_704,
        "elementwise": 5_519_360,
        "pool": 1_806_336 + 100_352,
    }
    assert t.other_ops == sum(resnet50.by_category().values())


def test_tree_figures_add_up(resnet50: FlopReport) -> None:
    root = resnet50.modules[0]
    assert root.depth == 0 and (root.macs, root.other_ops) == (resnet50.totals.macs, resnet50.totals.other_ops)
    children: dict[int, list] = {}
    report = resnet50.report
    for m in resnet50.modules:
        parent = report.records[m.index].parent
        if parent is not None:
            children.setdefault(parent, []).append(m)
    for m in resnet50.modules:  # inclusive = own + children's inclusive, at every node
        kids = children.get(m.index, [])
        assert m.macs == resnet50.own(m).macs + sum(k.macs for k in kids)
        assert m.other_ops == resnet50.own(m).other_ops + sum(k.other_ops for k in kids)
    layer1 = next(m for m in resnet50.modules if m.name == "layer1")
    assert layer1.macs == 667_942_912 and layer1.params == 215_808
    assert [m.name for m in resnet50.tree(1)][:3] == ["", "conv1", "bn1"]
    assert max(m.depth for m in resnet50.tree(1)) == 1


def test_top_layers_and_ops(resnet50: FlopReport) -> None:
    top = resnet50.top(3)
    assert [(m.name, m.macs) for m in top] == [
        ("conv1", 118_013_952),
        ("layer1.0.conv2", 115_605_504),
        ("layer1.1.conv2", 115_605_504),
    ]
    assert sum(m.macs for m in resnet50.top(10_000)) == RESNET50_MACS  # every op in exactly one layer
    ops = {o.op: o for o in resnet50.ops}
    assert (ops["convolution"].calls, ops["convolution"].macs) == (53, 4_087_136_256)
    assert (ops["addmm"].calls, ops["addmm"].macs) == (1, 2_048_000)
    assert ops["relu"].calls == 49 and ops["adaptive_avg_pool2d"].other_ops == 100_352
    assert [o.op for o in resnet50.ops[:2]] == ["convolution", "addmm"]


def test_per_sample_divides_by_batch() -> None:
    report = count_flops("resnet18", [(4, 3, 224, 224)])
    single = count_flops("resnet18", [(1, 3, 224, 224)])
    view = report.per_sample_view()
    assert report.totals.macs == 4 * single.totals.macs
    assert (view.totals.macs, view.totals.other_ops) == (single.totals.macs, single.totals.other_ops)
    assert [o.macs for o in view.ops] == [o.macs for o in single.ops]
    assert FlopsView(view).json()["per_sample"] is True and view.batch_size == 4


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.w = nn.Parameter(torch.randn(16, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.proj(x) @ self.w, dim=-1)


def test_functional_ops_charged_to_the_module_that_ran_them() -> None:
    report = count_flops(Functional(), [(2, 5, 16)])
    root, proj = report.modules
    assert (proj.macs, report.own(root).macs) == (2 * 5 * 16 * 16, 2 * 5 * 16 * 8)
    assert report.own(root).other_ops == 5 * 2 * 5 * 8  # softmax: 5 ops per element
    assert [m.name for m in report.top(2)] == ["proj", ""]


def test_model_is_not_modified() -> None:
    model = Functional().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_flops(model, [(2, 5, 16)], device="cpu")
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model._forward_hooks and not model.proj._forward_pre_hooks


def test_json_document_keys(resnet50: FlopReport) -> None:
    doc = json.loads(json.dumps(FlopsView(resnet50, depth=1, top=2).json()))
    assert set(doc) >= {"model", "inputs", "totals", "modules", "ops", "top", "convention", "other_ops_by_category"}
    assert doc["totals"]["flops"] == 2 * RESNET50_MACS and len(doc["top"]) == 2
    assert {m["depth"] for m in doc["modules"]} == {0, 1}


# ---- the command ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="module")
def app():
    from archinspect.cli.app import app

    return app


def test_cli_resnet50_prints_gmacs_and_gflops(runner, app) -> None:
    result = runner.invoke(app, ["flops", "resnet50"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "4.089 GMACs" in result.output and "8.178 GFLOPs" in result.output
    assert "layer3" in result.output and "heaviest" in result.output
    assert "FLOPs per parameter" in result.output and "Convention" in result.output


def test_cli_by_op_csv_and_json(runner, app, tmp_path) -> None:
    result = runner.invoke(app, ["flops", "resnet50", "--by", "op", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "op,category,calls,macs,flops,other_ops"
    assert lines[1] == "convolution,conv,53,4087136256,8174272512,0"
    out = tmp_path / "r.json"
    result = runner.invoke(
        app, ["flops", "resnet18", "--input", "2,3,64,64", "--per-sample", "-f", "json", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["per_sample"] is True and doc["batch_size"] == 2
    assert doc["totals"]["macs"] == count_flops("resnet18", [(1, 3, 64, 64)]).totals.macs


def test_cli_markdown_and_top(runner, app) -> None:
    result = runner.invoke(app, ["flops", "resnet20", "--depth", "1", "--top", "2", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert "| Module | Type | Params | MACs | FLOPs | Other ops | Share of FLOPs |" in result.stdout
    assert "The 2 heaviest layers" in result.stdout and "40.551 MMACs" in result.stdout


def test_cli_user_errors_exit_2(runner, app) -> None:
    result = runner.invoke(app, ["flops", "resnet50", "--input", "1,3,a"])
    assert result.exit_code == 2 and "not a whole number" in result.output
    result = runner.invoke(app, ["flops", "resnet5O"])
    assert result.exit_code == 2 and "resnet50" in result.output
    result = runner.invoke(app, ["flops", "resnet50", "--by", "layer"])
    assert result.exit_code == 2


def test_cli_model_that_cannot_run_exits_1(runner, app) -> None:
    result = runner.invoke(app, ["flops", "vgg16", "--input", "1,3,16,16"])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_cli_compare_json(runner, app) -> None:
    result = runner.invoke(app, ["flops", "resnet20", "--compare", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["tool"]: row for row in json.loads(result.stdout)["compare"]}
    assert rows["fvcore"]["matches"] is True and rows["torchinfo"]["matches"] is True
    assert rows["torch FlopCounterMode"]["value"] == 2 * 40_551_040
    assert rows["fvcore"]["value"] == rows["fvcore"]["expected_from_ours"] > 40_551_040
