"""archinspect.fit: one tolerant pass finds every mismatched layer and says what it needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from zoo_sample import zoo_params

from archinspect.analyses.fitting import fit
from archinspect.errors import ModelRunError
from archinspect.models.loading import load_model
from archinspect.models.sites import construction_sites
from archinspect.models.zoo import get_entry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DENSENET_FILE = EXAMPLES / "d2l_densenet_fc.py"
TWO_MISTAKES_FILE = EXAMPLES / "wrong_channels.py"


def _line_of(path: Path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def _load_with_sites(path: Path, symbol: str) -> tuple[nn.Module, dict[str, str]]:
    with construction_sites(str(path)) as sites:
        loaded = load_model(f"{path}:{symbol}", device="meta")
    return loaded.model, sites.for_model(loaded.model)


def test_notes_densenet_wrong_fc_names_fc_and_needs_8800_from_the_file_line() -> None:
    model, sites = _load_with_sites(DENSENET_FILE, "DenseNetWrongFC")
    report = fit(model, [(1, 3, 32, 32)], sites=sites, solve=False)
    assert not report.consistent
    [m] = report.mismatches
    assert (m.layer, m.type, m.attribute, m.declared, m.needed) == ("fc", "Linear", "in_features", 1000, 8800)
    assert m.received == (1, 8800) and m.before_flatten == (1, 88, 10, 10)
    assert m.message == (
        "fc: Linear(in_features=1000) receives 1×8800 = 88×10×10 after flatten → nn.Linear(8800, 10)"
    )
    assert m.location == f"{DENSENET_FILE}:{_line_of(DENSENET_FILE, 'self.fc = nn.Linear(1000')}"
    assert report.output_shapes == [(1, 10)]


def test_notes_densenet_with_the_right_fc_is_consistent() -> None:
    model, _ = _load_with_sites(DENSENET_FILE, "DenseNet")
    report = fit(model, [(1, 3, 32, 32)])
    assert report.consistent and report.mismatches == [] and report.solve is None
    [use] = report.linears
    assert (use.layer, use.in_features, use.received, use.before_flatten) == (
        "fc",
        8800,
        (1, 8800),
        (1, 88, 10, 10),
    )
    assert use.origin == "88×10×10 after flatten"


def test_d2l_alexnet_at_96_needs_256_features_at_its_first_linear() -> None:
    # 96 -> conv 11/4 pad 1: 22 -> pool 10 -> pool 4 -> pool 1: 256×1×1. (The issue text says 256×2×2 = 1024,
    # which would need padding=2 in the first conv; the notes' AlexNet has padding=1.)
    model = load_model("d2l-alexnet", device="meta").model
    report = fit(model, [(1, 1, 96, 96)], solve=False)
    [m] = report.mismatches
    assert (m.layer, m.declared, m.needed, m.before_flatten) == ("14", 6400, 256, (1, 256, 1, 1))
    assert m.message.endswith("receives 1×256 = 256×1×1 after flatten → nn.Linear(256, 4096)")
    assert [(u.layer, u.matches) for u in report.linears] == [("14", False), ("17", True), ("20", True)]


def test_d2l_alexnet_at_112_needs_256x2x2() -> None:
    model = load_model("d2l-alexnet", device="meta").model
    [m] = fit(model, [(1, 1, 112, 112)], solve=False).mismatches
    assert (m.needed, m.before_flatten) == (1024, (1, 256, 2, 2))


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_two_mistakes_are_both_reported_from_one_run(device: str) -> None:
    model, sites = _load_with_sites(TWO_MISTAKES_FILE, "TwoMistakes")
    if device == "cpu":
        model = model.to_empty(device="cpu")
    report = fit(model, [(2, 3, 32, 32)], device=device, sites=sites, solve=False)
    conv, fc = report.mismatches
    assert (conv.layer, conv.attribute, conv.declared, conv.needed) == ("conv2", "in_channels", 8, 16)
    assert conv.suggestion == "nn.Conv2d(16, 32, kernel_size=3, padding=1)"
    assert conv.location == f"{TWO_MISTAKES_FILE}:{_line_of(TWO_MISTAKES_FILE, 'self.conv2 = nn.Conv2d(8')}"
    assert (fc.layer, fc.declared, fc.needed, fc.before_flatten) == ("fc", 1568, 2048, (2, 32, 8, 8))
    assert report.output_shapes == [(2, 10)]
    assert report.device == device


class _Norms(nn.Module):
    """Every checked layer type declared wrong once; the stand-ins keep the pass going to the end."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1d = nn.Conv1d(4, 6, 3)  # gets 5 channels
        self.bn1d = nn.BatchNorm1d(7)  # gets 6
        self.conv3d = nn.Conv3d(2, 4, 1)  # gets 1
        self.bn3d = nn.BatchNorm3d(4)  # right
        self.grouped = nn.Conv2d(8, 8, 3, groups=4, padding=1)  # gets 6 channels: groups=4 does not divide
        self.gn = nn.GroupNorm(4, 16)  # gets 8 channels
        self.ln = nn.LayerNorm(10)  # gets last dim 8
        self.fc = nn.Linear(9, 3, bias=False)  # gets 8

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        a = self.bn1d(self.conv1d(a))
        b = self.bn3d(self.conv3d(b))
        c = self.fc(self.ln(self.gn(self.grouped(c))))
        return a, b, c


def test_every_checked_layer_type_with_needed_values_and_stand_in_shapes() -> None:
    report = fit(_Norms(), [(2, 5, 12), (2, 1, 3, 4, 5), (2, 6, 8, 8)], solve=False)
    got = {m.layer: (m.attribute, m.declared, m.needed, m.suggestion) for m in report.mismatches}
    assert got == {
        "conv1d": ("in_channels", 4, 5, "nn.Conv1d(5, 6, kernel_size=3)"),
        "bn1d": ("num_features", 7, 6, "nn.BatchNorm1d(6)"),
        "conv3d": ("in_channels", 2, 1, "nn.Conv3d(1, 4, kernel_size=1)"),
        "grouped": ("in_channels", 8, 6, "nn.Conv2d(6, 8, kernel_size=3, padding=1)"),
        "gn": ("num_channels", 16, 8, "nn.GroupNorm(4, 8)"),
        "ln": ("normalized_shape", (10,), (8,), "nn.LayerNorm(8)"),
        "fc": ("in_features", 9, 8, "nn.Linear(8, 3, bias=False)"),
    }
    grouped = next(m for m in report.mismatches if m.layer == "grouped")
    assert grouped.note == "groups=4 does not divide 6 channels; groups that divide 6 and out_channels=8: 2"
    assert report.output_shapes == [(2, 6, 10), (2, 4, 3, 4, 5), (2, 8, 8, 3)]


class _HardCodedReshape(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), 16 * 5 * 5)


class _Unrepairable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.head = _HardCodedReshape()
        self.fc = nn.Linear(400, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.conv(x)))


def test_an_unrepairable_failure_names_the_layer_and_leaves_the_model_untouched() -> None:
    model = _Unrepairable()
    model.train()
    before = {id(m): m.training for m in model.modules()}
    with pytest.raises(ModelRunError) as info:
        fit(model, [(1, 3, 32, 32)])
    text = str(info.value)
    assert text.startswith("head (_HardCodedReshape) failed on input 1×16×30×30:")
    assert "invalid for input of size 14400" in text
    assert {id(m): m.training for m in model.modules()} == before
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_construction_sites_patch_nothing_and_restore_the_profiler_even_on_error() -> None:
    import sys

    original, outer = nn.Module.__init__, sys.getprofile()
    with pytest.raises(RuntimeError), construction_sites(str(DENSENET_FILE)):
        assert nn.Module.__init__ is original
        raise RuntimeError("boom")
    assert nn.Module.__init__ is original and sys.getprofile() is outer


def test_report_json_keys() -> None:
    model, _ = _load_with_sites(DENSENET_FILE, "DenseNetWrongFC")
    doc = fit(model, [(1, 3, 32, 32)], solve=True).to_dict()
    assert doc["consistent"] is False
    assert doc["mismatches"][0]["needed"] == 8800 and doc["mismatches"][0]["before_flatten"] == [
        1,
        88,
        10,
        10,
    ]
    assert doc["linears"] == [
        {
            "layer": "fc",
            "in_features": 1000,
            "out_features": 10,
            "received": [1, 8800],
            "before_flatten": [1, 88, 10, 10],
            "matches": False,
        }
    ]
    # AdaptiveAvgPool2d(10): no input size changes what fc receives.
    [axis] = doc["solve"]["axes"]
    assert axis["low"] is None and axis["linears"][0]["everywhere"] == 8800


@pytest.mark.parametrize("name", zoo_params())
def test_every_zoo_model_is_consistent_at_its_default_input(name: str) -> None:
    entry = get_entry(name)
    with torch.device("meta"):
        model = entry.build()
    report = fit(model, [entry.default_input], solve=False)
    assert report.consistent, [m.message for m in report.mismatches]
    assert all(u.matches for u in report.linears)
    assert bool(report.linears) == (name != "d2l-nin")  # NiN ends in a 1×1 conv and global pooling
    assert report.output_shapes[0] == (entry.default_input[0], entry.num_classes)


# --- the command -----------------------------------------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from archinspect.cli.app import app

    result = CliRunner().invoke(app, ["fit", *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_wrong_fc_exits_1_and_prints_the_line_and_the_file_line() -> None:
    code, out, _ = _cli(f"{DENSENET_FILE}:DenseNetWrongFC", "--input", "1,3,32,32")
    assert code == 1
    line = "fc: Linear(in_features=1000) receives 1×8800 = 88×10×10 after flatten → nn.Linear(8800, 10)"
    assert line in out
    assert f"constructed at {DENSENET_FILE}:{_line_of(DENSENET_FILE, 'self.fc = nn.Linear(1000')}" in out
    assert "layer fc receives 8800 features at every size that runs" in out  # AdaptiveAvgPool2d(10)


def test_cli_right_fc_exits_0_and_says_consistent() -> None:
    code, out, _ = _cli(f"{DENSENET_FILE}:DenseNet", "--input", "1,3,32,32")
    assert code == 0
    assert "✓ consistent" in out and "88×10×10 after flatten" in out


def test_cli_d2l_alexnet_solve_lines() -> None:
    code, out, _ = _cli("d2l-alexnet", "--input", "1,1,96,96", "--solve")
    assert code == 1
    assert "square inputs 193–224 give 256×5×5 = 6400 (layer 14)" in out
    assert "smallest input that runs at all: 65×65" in out
    assert "nearest valid input to 96×96: 193×193 (--input 1,1,193,193)" in out


def test_cli_json_of_two_mistakes() -> None:
    import json

    ref = f"{TWO_MISTAKES_FILE}:TwoMistakes"
    code, out, _ = _cli(ref, "--input", "1,3,32,32", "--format", "json", "--no-solve")
    doc = json.loads(out)
    assert code == 1 and doc["consistent"] is False and doc["solve"] is None
    assert [(m["layer"], m["needed"]) for m in doc["mismatches"]] == [("conv2", 16), ("fc", 2048)]


def test_cli_too_small_input_names_the_layer_and_the_smallest_size() -> None:
    code, out, err = _cli("d2l-alexnet", "--input", "1,1,32,32")
    assert code == 1 and out == ""
    assert "input 32×32 is too small" in err and "smallest input that runs is 65×65" in err
    assert "Traceback" not in err


def test_cli_unrepairable_failure_exits_1_naming_the_layer(tmp_path: Path) -> None:
    source = tmp_path / "hard_coded.py"
    source.write_text(
        "from torch import nn\n\n\n"
        "class Head(nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x.view(x.size(0), 400)\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 16, 3)\n"
        "        self.head = Head()\n"
        "        self.fc = nn.Linear(400, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.head(self.conv(x)))\n"
    )
    code, out, err = _cli(f"{source}:Net", "--input", "1,3,32,32")
    assert code == 1 and out == ""
    assert err.startswith("error: head (Head) failed on input 1×16×30×30:")
    assert "Traceback" not in err


def test_package_level_api() -> None:
    import archinspect

    model = archinspect.create_model("d2l-alexnet", device="meta")
    report = archinspect.fit(model, (1, 1, 96, 96))
    assert isinstance(report, archinspect.FitReport) and report.mismatches[0].needed == 256
    assert report.solve is not None and report.solve.nearest_shape == (1, 1, 193, 193)
    assert archinspect.valid_input_sizes(model, (1, 1, 96, 96)).axes[0].low == 193
