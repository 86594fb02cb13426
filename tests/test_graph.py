"""``archinspect graph``: the dataflow against the architectures' own definitions, costs that sum, formats."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
import torch
from torch import nn

from archinspect.analyses.graph import architecture_graph
from archinspect.analyses.graph_types import ArchGraph
from archinspect.analyses.shapes import inspect
from archinspect.models.loading import load_model
from archinspect.render.graph import GraphView, graph


@cache
def zoo_graph(name: str, depth: int, fold: bool = True) -> ArchGraph:
    loaded = load_model(name)
    return architecture_graph(loaded.model, loaded.inputs(None), depth=depth, fold=fold, model_name=name,
                              cpu_model=loaded.cpu_model())


def group_named(g: ArchGraph, name: str) -> str:
    return next(gid for gid, grp in g.groups.items() if grp.name == name)


def incoming(g: ArchGraph, node: str) -> list[str]:
    return [e.src for e in g.edges if e.dst == node]


def outgoing(g: ArchGraph, node: str) -> list[str]:
    return [e.dst for e in g.edges if e.src == node]


def members(g: ArchGraph, group: str) -> list[str]:
    return [n.id for n in g.nodes.values() if n.group == group]


def test_inception_module_is_one_input_fanned_out_to_four_branches_joined_by_one_cat() -> None:
    g = zoo_graph("googlenet", 2, fold=False)
    inside = members(g, group_named(g, "inception3a"))
    branches = [n for n in inside if g.nodes[n].kind == "module"]
    cats = [n for n in inside if g.nodes[n].kind == "op"]
    assert [g.nodes[b].name for b in branches] == [f"inception3a.branch{i}" for i in range(1, 5)]
    assert [g.nodes[c].name for c in cats] == ["cat"]
    sources = {src for b in branches for src in incoming(g, b)}
    assert len(sources) == 1 and g.nodes[sources.pop()].name == "maxpool2"  # one input, fanned out
    assert sorted(incoming(g, cats[0])) == sorted(branches)  # four branches, one concatenation
    assert [tuple(e.shape) for e in g.edges if e.dst == cats[0]] == [(1, 64, 28, 28), (1, 128, 28, 28),
                                                                       (1, 32, 28, 28), (1, 32, 28, 28)]
    assert {g.nodes[d].name for d in outgoing(g, cats[0])} == {f"inception3b.branch{i}" for i in range(1, 5)}


def _block(g: ArchGraph, block: str) -> dict[str, str]:
    """Node name (relative to the block) -> id, for the nodes inside ``block``'s group and its subgroups."""
    out = {}
    for n in g.nodes.values():
        if n.name.startswith(block + ".") or (n.kind == "op" and n.group == group_named(g, block)):
            out[n.name.removeprefix(block + ".")] = n.id
    return out


def test_resnet_basic_block_shortcut_goes_into_the_addition() -> None:
    g = zoo_graph("resnet18", 4, fold=False)
    plain = _block(g, "layer1.1")
    add = plain["add"]
    block_input = incoming(g, plain["conv1"])
    assert [g.nodes[s].name for s in block_input] == ["layer1.0.relu (call 2)"]  # layer1.0's last ReLU
    assert g.nodes[block_input[0]].group == group_named(g, "layer1.0")
    assert sorted(incoming(g, add)) == sorted([plain["bn2"], block_input[0]])  # the shortcut, unchanged
    assert outgoing(g, block_input[0]).count(add) == 1


def test_resnet_stride_two_block_projects_the_shortcut_with_a_strided_1x1_conv() -> None:
    g = zoo_graph("resnet18", 4, fold=False)
    down = _block(g, "layer2.0")
    proj = g.nodes[down["downsample.0"]]
    assert proj.type == "Conv2d" and proj.settings["kernel_size"] == [1, 1] and proj.settings["stride"] == [2, 2]
    assert incoming(g, down["downsample.0"]) == incoming(g, down["conv1"])  # both read the block's input
    assert outgoing(g, down["downsample.0"]) == [down["downsample.1"]]
    assert sorted(incoming(g, down["add"])) == sorted([down["bn2"], down["downsample.1"]])
    assert [e.shape for e in g.edges if e.dst == down["add"]] == [(1, 128, 28, 28)] * 2


@pytest.mark.parametrize("block, layers", [(1, 6), (2, 12), (3, 24), (4, 16)])
def test_torchvision_dense_block_feeds_every_layer_all_earlier_maps(block: int, layers: int) -> None:
    g = zoo_graph("densenet121", 3, fold=False)
    group = group_named(g, f"features.denseblock{block}")
    dense = [n for n in members(g, group) if g.nodes[n].type == "DenseLayer"]
    assert len(dense) == layers
    reads = [len(incoming(g, n)) for n in dense]
    assert reads == list(range(1, layers + 1))
    assert sum(reads) == layers * (layers + 1) // 2  # the notes' L(L + 1)/2
    cat = [n for n in members(g, group) if g.nodes[n].kind == "op"]
    assert len(cat) == 1 and len(incoming(g, cat[0])) == layers + 1  # the block's output: input + every layer


def test_d2l_dense_block_is_a_running_concatenation() -> None:
    g = zoo_graph("d2l-densenet", 2, fold=False)
    group = group_named(g, "1")
    inside = members(g, group)
    convs = [n for n in inside if g.nodes[n].kind == "module"]
    cats = [n for n in inside if g.nodes[n].kind == "op"]
    assert len(convs) == 4 and [g.nodes[c].name for c in cats] == ["cat"] * 4
    x = incoming(g, convs[0])[0]  # the block's input
    for conv, cat in zip(convs, cats, strict=True):
        assert incoming(g, conv) == [x]
        assert incoming(g, cat) == [x, conv]  # torch.cat((X, blk(X)))
        x = cat
    channels = [g.nodes[c].output_shapes[0][1] for c in cats]
    assert channels == [96, 128, 160, 192]  # 64 + 32 per layer


def test_resnet50_folds_to_3_4_6_3_with_summed_cost() -> None:
    g = zoo_graph("resnet50", 2)
    folds = list(g.folds.values())
    assert [f.type for f in folds] == ["Bottleneck × 3", "Bottleneck × 4", "Bottleneck × 6", "Bottleneck × 3"]
    report = g.report
    stage = {r.name: r for r in report.inclusive()}
    for fold, name in zip(folds, ["layer1", "layer2", "layer3", "layer4"], strict=True):
        assert (fold.params, fold.macs) == (stage[name].params, stage[name].macs)
    nodes, edges, _ = g.visible()
    assert [n.type for n in nodes if n.kind == "fold"] == [f.type for f in folds]
    assert len(nodes) == 13 and len(edges) == 12


def test_expanding_a_fold_draws_its_blocks() -> None:
    g = architecture_graph(load_model("resnet50").model, (1, 3, 224, 224), expand=["layer3"])
    nodes, _, _ = g.visible()
    assert [n.type for n in nodes if n.kind == "fold"] == ["Bottleneck × 3", "Bottleneck × 4", "Bottleneck × 3"]
    assert [n.name for n in nodes if n.name.startswith("layer3.")] == [f"layer3.{i}" for i in range(6)]


def test_dense_layers_do_not_fold() -> None:
    assert zoo_graph("densenet121", 3).folds == {}


CASES = [("resnet18", 3), ("googlenet", 3), ("densenet-bc", 2), ("d2l-densenet", 3), ("inception-v3", 2),
         ("resnet20", 2), ("d2l-googlenet", 2)]


@pytest.mark.parametrize("name, depth", CASES)
def test_every_edge_carries_the_shape_the_shapes_report_gives(name: str, depth: int) -> None:
    g = zoo_graph(name, depth, fold=False)
    records = inspect(load_model(name).model, load_model(name).inputs(None), depth=depth).records
    assert len(g.edges) > 0
    for e in g.edges:
        src, dst = g.nodes[e.src], g.nodes[e.dst]
        if src.kind == "module":
            assert e.shape in records[src.record].output_shapes, (src.name, e.shape)
        if dst.kind == "module":
            assert e.shape in records[dst.record].input_shapes, (dst.name, e.shape)
        if src.kind == "op":
            assert e.shape in src.output_shapes


@pytest.mark.parametrize("name, depth", [*CASES, ("resnet50", 1), ("resnet50", 4), ("vgg11", 0)])
def test_json_nodes_and_groups_sum_to_the_totals(name: str, depth: int) -> None:
    doc = GraphView(zoo_graph(name, depth)).json()
    data = json.loads(doc)
    totals = data["totals"]
    assert sum(n["params"] for n in data["nodes"]) + sum(g["params"] for g in data["groups"]) == totals["params"]
    assert sum(n["macs"] for n in data["nodes"]) + sum(g["macs"] for g in data["groups"]) == totals["macs"]
    assert data["schema"] == "archinspect.graph/1"
    ids = {n["id"] for n in data["nodes"]}
    assert all(e["src"] in ids and e["dst"] in ids for e in data["edges"])


def test_every_node_is_connected_from_the_input_to_the_output() -> None:
    g = zoo_graph("googlenet", 3)
    nodes, edges, _ = g.visible()
    reach, frontier = {"in:0"}, ["in:0"]
    while frontier:
        here = frontier.pop()
        for e in edges:
            if e.src == here and e.dst not in reach:
                reach.add(e.dst)
                frontier.append(e.dst)
    assert "out:0" in reach
    assert {n.id for n in nodes} - reach == set()


def test_operators_outside_modules_are_nodes_and_free_views_are_not() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.a(x).contiguous()
            return (self.b(x.detach()) @ y.t()).mean()

    g = architecture_graph(Net(), (2, 8), depth=1)
    ops = sorted(n.name for n in g.nodes.values() if n.kind == "op")
    assert ops == ["mean", "mm", "t"]
    mm = next(n for n in g.nodes.values() if n.name == "mm")
    assert mm.macs == 2 * 8 * 2
    assert sorted(g.nodes[s].name for s in incoming(g, mm.id)) == ["b", "t"]
    assert [g.nodes[s].name for s in incoming(g, "m:2")] == ["input"]  # through detach: still the input


def test_the_model_is_left_as_it_was() -> None:
    model = load_model("resnet18").model
    before = {k: (v.shape, v.device) for k, v in model.state_dict().items()}
    graph(model, (1, 3, 64, 64))
    assert {k: (v.shape, v.device) for k, v in model.state_dict().items()} == before
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_formats_dot_mermaid_svg() -> None:
    view = GraphView(zoo_graph("resnet50", 2))
    dot = view.dot()
    assert dot.startswith('digraph "resnet50" {') and 'subgraph "cluster_g:5"' in dot
    assert '"m:4" -> "fold:6" [label="1×64×56×56"];' in dot
    mermaid = view.mermaid()
    assert mermaid.startswith("flowchart TD\n") and '[["Bottleneck × 3<br/>' in mermaid
    assert '-->|"1×2048"|' in mermaid
    svg = view._repr_svg_()
    assert svg.startswith("<svg") and svg.count('class="node ') == 13 and "Bottleneck × 6" in svg


def test_html_is_self_contained() -> None:
    html = GraphView(zoo_graph("resnet50", 2)).html()
    assert html.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in html  # the page may not fetch anything
    for needle in (" src=", " href=", "@import", "url(http", "<link"):
        assert needle not in html
    inline = GraphView(zoo_graph("resnet50", 2))._repr_html_()
    assert "<svg" in inline and "aig-data" in inline and "<html" not in inline


def test_bad_metric_is_a_usage_error() -> None:
    from archinspect.errors import UsageError

    with pytest.raises(UsageError, match="color='flops' is not a metric; accepted: macs, params, memory, time"):
        graph(nn.Linear(2, 2), (1, 2), color="flops")


def test_cli_writes_each_format(cli, tmp_path) -> None:  # noqa: ANN001
    for suffix, start in ((".svg", "<svg"), (".html", "<!DOCTYPE html>"), (".dot", "digraph"),
                          (".mmd", "flowchart TD"), (".json", "{")):
        out = tmp_path / f"r{suffix}"
        result = cli("graph", "resnet18", "--input", "1,3,64,64", "-o", str(out))
        assert result.exit_code == 0, result.output
        assert out.read_text().startswith(start)
        assert f"wrote {out}" in result.stderr
    result = cli("graph", "resnet18", "--format", "json", "--depth", "1")
    assert json.loads(result.stdout)["depth"] == 1


@pytest.mark.parametrize("args, message", [
    (["--expand", "layer9"], "error: --expand 'layer9' is not a module of the model; accepted: a module name or 'all'"),
    (["-o", "x.png"], "error: --output 'x.png': unknown file type; accepted: .svg, .html, .htm, .dot, .gv, .mmd, "
                      ".mermaid, .md, .json (or give --format)"),
    (["--color", "flops"], "error: --color 'flops': accepted: macs, params, memory, time"),
])
def test_cli_usage_errors(cli, args: list[str], message: str) -> None:  # noqa: ANN001
    result = cli("graph", "resnet18", *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_only_draws_one_module_with_named_stubs_for_the_rest() -> None:
    g = architecture_graph(load_model("googlenet").model, (1, 3, 224, 224), depth=3, only=["inception3a"])
    nodes, edges, groups = g.visible()
    stubs_in = [n.name for n in nodes if n.kind == "input"]
    stubs_out = sorted(n.name for n in nodes if n.kind == "output")
    assert stubs_in == ["maxpool2"]
    assert stubs_out == ["inception3b.branch1.conv", "inception3b.branch2.0", "inception3b.branch3.0",
                         "inception3b.branch4.0"]
    assert {gr.name for gr in groups} == {"inception3a", *(f"inception3a.branch{i}" for i in range(1, 5))}
    pool = next(n.id for n in g.nodes.values() if n.name == "maxpool2")
    assert len([e for e in edges if e.src == f"from:{pool}"]) == 4  # one input, fanned out to four branches


def test_cli_only_unknown_module(cli) -> None:  # noqa: ANN001
    result = cli("graph", "googlenet", "--only", "inception9")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --only 'inception9' is not a module of the model; accepted: a module's qualified name"
    )


def test_public_api_names() -> None:
    import archinspect
    from archinspect.analyses.graph_types import ArchGraph as Data

    assert archinspect.graph is graph and archinspect.GraphView is GraphView and archinspect.ArchGraph is Data


def _svg_size(svg: str) -> tuple[float, float]:
    root = re.match(r'<svg [^>]*width="([\d.]+)" height="([\d.]+)"', svg)
    assert root, svg[:200]
    return float(root.group(1)), float(root.group(2))


def test_resnet50_folded_fits_one_screen_at_its_natural_size() -> None:
    view = GraphView(zoo_graph("resnet50", 2))
    svg = view.svg()
    width, height = _svg_size(svg)
    assert (width, height) == view.size
    assert width <= 1900 and height <= 1000, (width, height)  # 1920 × 1080 at 100 %, header and legend included
    assert min(float(f) for f in re.findall(r'font-size="([\d.]+)"', svg)) >= 10  # readable at 1:1
    assert "layer1 " not in svg and "Sequential" not in svg  # a cluster holding one fold is not drawn around it
    assert svg.count('class="group') == 0 and svg.count('class="node fold"') == 4


def test_densenet121_at_depth_2_stays_legible() -> None:
    svg = GraphView(zoo_graph("densenet121", 2)).svg()
    width, height = _svg_size(svg)
    assert width <= 1900 and height <= 1400, (width, height)
    assert min(float(f) for f in re.findall(r'font-size="([\d.]+)"', svg)) >= 10
    assert all(f"denseblock{i}" in svg for i in range(1, 5))


def _overlapping(view: GraphView) -> list[tuple[str, str]]:
    """Pairs of drawn node boxes (a fold's stacked outline included) that share area."""
    boxes = []
    for nid, p in view.layout.nodes.items():
        stack = 4.0 if nid.startswith("fold:") else 0.0
        x0, y0 = p.x - p.width / 2, p.y - p.height / 2
        boxes.append((nid, x0, y0, x0 + p.width + stack, y0 + p.height + stack))
    return [(a[0], b[0]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
            if min(a[3], b[3]) - max(a[1], b[1]) > 0.5 and min(a[4], b[4]) - max(a[2], b[2]) > 0.5]


@pytest.mark.parametrize("name, depth", [("resnet50", 2), ("resnet50", 3), ("resnet20", 3), ("densenet-bc", 3)])
def test_every_state_the_html_page_carries_is_laid_out_without_overlaps(name: str, depth: int) -> None:
    from archinspect.render.graph_html import states

    view = GraphView(zoo_graph(name, depth))
    drawn = states(view)
    assert next(iter(drawn)) == frozenset() and len(drawn) >= 1 + len(view.graph.folds)
    assert all(frozenset({fid}) in drawn for fid in view.graph.folds)  # every fold opened alone
    for state, v in drawn.items():
        assert _overlapping(v) == [], (sorted(state), _overlapping(v))
        for fid in state:  # an open fold is framed, its title a click target
            assert f'class="fold-title" data-fold="{fid}"' in "".join(v.draw())


def test_html_page_carries_every_combination_of_resnet50s_folds() -> None:
    html = GraphView(zoo_graph("resnet50", 2)).html()
    assert html.count('<g class="state"') == 2 ** 4  # 4 folds: every combination fits the budget
    data = json.loads(re.search(r'class="aig-data">(.*?)</script>', html, re.S).group(1))
    assert data["moves"]["0"] == {"fold:6": 1, "fold:40": 2, "fold:84": 3, "fold:148": 4}
    assert data["moves"]["3"]["fold:84"] == 0  # closing the one open fold: back to the folded picture
