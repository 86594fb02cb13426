"""Models as people write them: each pattern that broke the pass, hand-written, with exact figures.

Tensors created in forward without a device, builders that compute with values, plain tensor
attributes, TorchScript submodules, Lazy layers, DataParallel, RNNs on meta and CPU, operators without
a formula, outputs inside distributions, dataclasses and plain objects, keyword and real-tensor inputs.
No torchvision needed.
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import torch
from test_counter import SelfAttention
from torch import nn
from typer.testing import CliRunner

import archinspect
from archinspect.analyses.shapes import inspect
from archinspect.cli.app import app
from archinspect.core.inputs import InputSpec, split_keyword_inputs
from archinspect.errors import ModelRunError, UsageError
from archinspect.models.downloads import DownloadBlocked, no_downloads
from archinspect.models.loading import load_model

runner = CliRunner()
aten = torch.ops.aten


class MadeInForward(nn.Module):
    """``torch.arange(n)`` and ``torch.ones(k)`` without ``device=``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) + torch.arange(8) * torch.ones(8)


def test_tensor_created_in_forward_without_a_device_runs_on_meta() -> None:
    report = inspect(MadeInForward(), (2, 8))
    assert report.device == "meta" and report.notes == []
    assert report.totals.macs == 2 * 8 * 8
    assert report.totals.other_ops == 8 + 16  # arange * ones (8), + the (2, 8) sum (16)


class PlainAttributes(nn.Module):
    """Tensors held as plain attributes, not buffers (like AnchorGenerator.cell_anchors)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.anchors = [torch.randn(8), torch.randn(8)]
        self.scale = torch.ones(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.scale + self.anchors[0]


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_plain_tensor_attributes_follow_the_pass_and_are_restored(device: str) -> None:
    model = PlainAttributes()
    anchors, scale = model.anchors, model.scale
    report = inspect(model, (2, 8), device=device)
    assert report.device == ("meta" if device == "auto" else "cpu")
    assert report.totals.macs == 128 and report.totals.other_ops == 32
    assert model.anchors is anchors and model.scale is scale and scale.device.type == "cpu"


DETECTOR_FILE = """
import torch
from torch import nn

class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        w = torch.tensor([10.3, 21.7])
        widths = (torch.round(w / 8) * 8).int().tolist()  # computes with values: fails on meta
        self.fc1 = nn.Linear(8, widths[0])
        self.fc2 = nn.Linear(widths[0], widths[1])

    def forward(self, x):
        return self.fc2(self.fc1(x))

class Anchored(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.cell_anchors = [torch.arange(8.0)]  # a plain list of tensors, built on meta with the model

    def forward(self, x):
        y = self.fc(x) + self.cell_anchors[0]
        keep = torch.nonzero(y.flatten() > -1e9)  # data-dependent: no meta kernel
        return y.flatten()[keep.flatten()]
"""


def test_builder_computing_with_values_is_built_on_cpu(tmp_path: Path) -> None:
    path = tmp_path / "det.py"
    path.write_text(DETECTOR_FILE)
    loaded = load_model(f"{path}:Detector", device="meta")
    assert loaded.built_on == "cpu"
    assert loaded.notes == [
        "det.py:Detector was built on CPU: its builder computes with real values "
        "(det.py:Detector(...) raised NotImplementedError: Cannot copy out of meta tensor; no data!)"
    ]
    assert [m.out_features for m in (loaded.model.fc1, loaded.model.fc2)] == [8, 24]
    result = runner.invoke(app, ["shapes", f"{path}:Detector", "--input", "2,8", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["totals"]["params"] == 72 + 216 and doc["totals"]["macs"] == 2 * (64 + 192)
    assert doc["notes"][0].startswith("det.py:Detector was built on CPU")


def test_meta_built_model_falls_back_to_a_cpu_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "det.py"
    path.write_text(DETECTOR_FILE)
    result = runner.invoke(app, ["shapes", f"{path}:Anchored", "--input", "2,8", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["device"] == "cpu" and doc["totals"]["macs"] == 128
    assert doc["notes"] == [
        "an operator has no meta kernel (The register_meta function for torch.nonzero() raises unimplemented by "
        "default, as a correct data-independent implementation does not exist); ran on the model rebuilt on CPU "
        "instead"
    ]
    # through the Python API with no way to rebuild, the meta attribute becomes zeros (and says so)
    with torch.device("meta"):
        model = load_model(f"{path}:Anchored").model
    report = inspect(model, (2, 8))
    assert report.device == "cpu" and report.output_shapes == [(16,)]
    assert report.notes[-1] == "1 plain tensor attribute(s) on meta have no values: zeros on cpu for the pass"
    assert model.cell_anchors[0].device.type == "meta"


def test_data_dependent_forward_falls_back_and_a_failing_fallback_says_so() -> None:
    class Numpy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(x)
            return y * y.detach().numpy().shape[0]

    report = inspect(Numpy(), (2, 8))
    assert report.device == "cpu" and report.totals.macs == 128
    assert report.notes == [
        "an operator has no meta kernel (can't convert meta device type tensor to numpy); ran on CPU instead"
    ]

    class Broken(Numpy):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) @ torch.ones(3, 3)

    with pytest.raises(ModelRunError) as err:
        inspect(Broken(), (2, 8))
    assert str(err.value).startswith("Broken.forward failed on input 2×8: mat1 and mat2 shapes cannot be multiplied")
    assert str(err.value).endswith(
        "(after falling back to CPU: on meta, an operator has no meta kernel (can't convert meta device type tensor "
        "to numpy))"
    )


class WithScripted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 16)
        self.b = torch.jit.script(nn.Sequential(nn.Linear(16, 4), nn.ReLU()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_scripted_submodule_is_one_leaf_row_with_its_operators_counted() -> None:
    model = WithScripted()
    report = inspect(model, (2, 8))
    assert report.device == "cpu"
    assert report.notes == ["a TorchScript submodule keeps its own tensors (on cpu); ran on CPU instead"]
    rows = [(r.name, r.type, r.params, r.macs, r.output_shapes) for r in report.records]
    assert rows == [
        ("", "WithScripted", 0, 0, [(2, 4)]),
        ("a", "Linear", 144, 256, [(2, 16)]),
        ("b", "Sequential (TorchScript)", 68, 128, [(2, 4)]),
    ]
    assert report.totals.other_ops == 8  # the scripted ReLU, counted inside the leaf
    assert isinstance(model.b, torch.jit.ScriptModule)  # put back in its slot
    whole = inspect(torch.jit.script(nn.Linear(8, 3)), (2, 8), device="cpu")
    assert [(r.type, r.params, r.macs) for r in whole.records] == [("Linear (TorchScript)", 27, 48)]


def test_lazy_layers_are_materialised_on_a_copy() -> None:
    model = nn.Sequential(nn.LazyLinear(5), nn.ReLU())
    report = inspect(model, (2, 7))
    assert report.device == "meta"
    assert (report.totals.params, report.totals.macs, report.output_shapes) == (40, 70, [(2, 5)])
    assert report.notes == ["lazy modules materialised on a copy for the pass (the model itself is left uninitialised)"]
    assert isinstance(model[0].weight, nn.UninitializedParameter) and type(model[0]) is nn.LazyLinear


def test_data_parallel_is_unwrapped_and_a_container_is_a_clear_error() -> None:
    report = inspect(nn.DataParallel(nn.Linear(8, 3)), (2, 8))
    assert (report.totals.params, report.totals.macs) == (27, 48)
    assert report.notes == ["unwrapped DataParallel: inspected its .module (Linear)"]
    with pytest.raises(UsageError) as err:
        inspect(nn.ModuleList([nn.Linear(2, 2), nn.ReLU()]), (1, 2))
    assert str(err.value) == (
        "ModuleList (ModuleList) has no forward(): it is a container, not a model that runs; inspect one of its "
        "members (children: 0, 1) or a module whose forward calls them"
    )


@pytest.mark.parametrize(
    ("cls", "macs", "other"),
    [(nn.LSTM, 92_160, 8_320), (nn.GRU, 69_120, 6_400), (nn.RNN, 23_040, 1_280)],
)
def test_rnn_costs_the_same_on_meta_and_cpu(cls: type[nn.RNNBase], macs: int, other: int) -> None:
    model = cls(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    meta, cpu = inspect(model, (2, 5, 8), device="meta"), inspect(model, (2, 5, 8), device="cpu")
    # per step and direction: B x gates*H x (I + H) MACs; layer 2 reads both directions (I = 32)
    gates = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}[cls]
    assert macs == 2 * 5 * 2 * gates * 16 * (8 + 16) + 2 * 5 * 2 * gates * 16 * (32 + 16)
    assert (meta.totals.macs, meta.totals.other_ops) == (cpu.totals.macs, cpu.totals.other_ops) == (macs, other)
    assert {k: (t.calls, t.macs, t.other_ops) for k, t in meta.ops.items()} == {
        k: (t.calls, t.macs, t.other_ops) for k, t in cpu.ops.items()
    }
    assert cpu.uncounted_ops == {}


class Scans(nn.Module):
    def forward(self, x: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.addbmm(x, b1, b2).cumsum(0), torch.logaddexp(x, x)


def test_addbmm_cumsum_logaddexp_are_counted() -> None:
    report = inspect(Scans(), [(3, 5), (4, 3, 6), (4, 6, 5)])
    assert report.ops["addbmm"].macs == 4 * 3 * 6 * 5
    assert (report.ops["cumsum"].category, report.ops["cumsum"].other_ops) == ("scan", 15)
    assert report.ops["logaddexp"].other_ops == 4 * 15
    assert report.uncounted_ops == {}


class Gamma(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.lgamma(x).view(-1)


def test_an_operator_without_formula_is_named_and_a_formula_can_be_registered() -> None:
    report = inspect(Gamma(), (2, 8))
    assert report.uncounted_ops == {"lgamma": 1} and report.totals.other_ops == 0
    assert report.free_ops == {"view or metadata": {"view": 1}}
    result = runner.invoke(app, ["shapes", "tests/test_real_code.py:Gamma", "--input", "2,8"])
    assert result.exit_code == 0, result.output
    assert "Not counted: uncounted operators (ran, no formula, not in any figure): lgamma ×1" in result.stdout
    doc = json.loads(runner.invoke(app, ["flops", "tests/test_real_code.py:Gamma", "-i", "2,8", "-f", "json"]).stdout)
    assert doc["uncounted_ops"] == {"lgamma": 1} and doc["free_ops"] == {"view or metadata": {"view": 1}}
    archinspect.register_op_cost(aten.lgamma, lambda args, kwargs, out: (0, 10 * out.numel()), category="elementwise")
    try:
        counted = inspect(Gamma(), (2, 8))
        assert counted.uncounted_ops == {} and counted.totals.other_ops == 160
        assert (counted.ops["lgamma"].category, counted.ops["lgamma"].calls) == ("elementwise", 1)
    finally:
        archinspect.register_op_cost(aten.lgamma, None)
    assert inspect(Gamma(), (2, 8)).uncounted_ops == {"lgamma": 1}
    with pytest.raises(TypeError, match="is not an operator"):
        archinspect.register_op_cost("lgamma", lambda a, k, o: 0)


@dataclasses.dataclass(slots=True)
class Slotted:
    mean: torch.Tensor
    extra: list


class Holder:
    def __init__(self, boxes: torch.Tensor, scores: torch.Tensor) -> None:
        self.boxes, self.scores = boxes, scores


class Outputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor):  # noqa: ANN201 - several kinds of output
        y = self.fc(x)
        return (
            torch.distributions.Normal(y, torch.ones_like(y), validate_args=False),
            Slotted(y, [y[:, :2]]),
            Holder(y[:, :1], y[0]),
        )


def test_outputs_inside_distributions_slotted_dataclasses_and_objects_are_flattened() -> None:
    report = inspect(Outputs(), (2, 8))
    assert report.device == "meta"
    assert report.output_shapes == [(2, 4), (2, 4), (2, 4), (2, 2), (2, 1), (4,)]
    dist = inspect(nn.Sequential(), (3,))  # an empty Sequential returns its input
    assert dist.output_shapes == [(3,)]


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        y = self.fc(x)
        return y if mask is None else y.masked_fill(mask, 0.0)


def test_keyword_inputs_and_real_tensors() -> None:
    report = inspect(Masked(), (2, 8), kwargs={"mask": InputSpec((2, 8), "bool")})
    assert report.input_text() == "2,8, mask=bool:2,8"
    assert report.records[0].input_shapes == [(2, 8), (2, 8)]
    assert report.to_dict()["keyword_inputs"] == {"mask": {"shape": [2, 8], "dtype": "bool"}}
    by_dict = inspect(Masked(), {"x": (2, 8), "mask": InputSpec((2, 8), "bool")})
    assert by_dict.input_text() == "x=2,8, mask=bool:2,8" and by_dict.totals.macs == 128
    x = torch.randn(2, 8)
    real = inspect(Masked(), x, kwargs={"mask": x > 0})
    assert real.device == "cpu" and real.inputs[0].shape == (2, 8) and real.keyword_inputs["mask"].dtype == "bool"
    assert inspect(Masked(), x, device="meta").device == "meta"


def test_keyword_input_on_the_command_line() -> None:
    assert split_keyword_inputs(["2,8", "mask=bool:2,8"]) == (["2,8"], {"mask": InputSpec((2, 8), "bool")})
    with pytest.raises(UsageError, match=r"^inputs='mask=bool:2,x' \(keyword input mask\): inputs='bool:2,x'") as info:
        split_keyword_inputs(["mask=bool:2,x"])
    from archinspect.cli.common import cli_message

    assert cli_message(info.value).startswith("--input 'mask=bool:2,x' (keyword input mask): --input 'bool:2,x' has")
    result = runner.invoke(app, ["shapes", "tests/test_real_code.py:Masked", "-i", "2,8", "-i", "mask=bool:2,8"])
    assert result.exit_code == 0, result.output
    assert "Masked · input 2,8, mask=bool:2,8" in result.stdout


class MaskedConv(nn.Module):
    """A CNN whose forward needs a keyword input: fc fits 32×32 and 33×33 inputs only."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(8 * 15 * 15, 10)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.fc((self.pool(self.conv(x)) * mask).flatten(1))


def test_keyword_inputs_reach_fit_and_every_probe_of_the_size_search() -> None:
    mask = {"mask": (1, 1, 1, 1)}
    report = archinspect.fit(MaskedConv(), (1, 3, 40, 40), kwargs=mask, solve=True)
    [m] = report.mismatches
    assert (m.layer, m.declared, m.needed) == ("fc", 1800, 2888)
    [axis] = report.solve.axes
    assert (axis.low, axis.high, axis.smallest_runnable) == (32, 33, 4)
    with pytest.raises(ModelRunError, match="smallest input that runs is 4×4"):
        inspect(MaskedConv(), (1, 3, 2, 2), kwargs=mask)
    result = runner.invoke(app, ["fit", "tests/test_real_code.py:MaskedConv", "-i", "1,3,40,40", "-i", "mask=1,1,1,1"])
    assert result.exit_code == 1 and "fc: Linear(in_features=1800) receives 1×2888" in result.stdout


def test_downloads_are_refused_while_building(tmp_path: Path) -> None:
    with pytest.raises(DownloadBlocked) as err, no_downloads():
        torch.hub.load_state_dict_from_url("https://download.example.org/w.pth")
    assert "test_real_code.py:" in str(err.value)
    assert "tried to download https://download.example.org/w.pth while building" in str(err.value)
    path = tmp_path / "dl.py"
    path.write_text(
        textwrap.dedent(
            """
            import torch
            from torch import nn

            def net():
                model = nn.Linear(2, 2)
                model.load_state_dict(torch.hub.load_state_dict_from_url("https://download.example.org/w.pth"))
                return model
            """
        )
    )
    with pytest.raises(ModelRunError, match=r"tried to download https://download.example.org/w.pth"):
        load_model(f"{path}:net", device="meta")  # every build archinspect does refuses downloads


@pytest.mark.parametrize("batch", [1, 3])  # batch 1: the unfused path fuses the in-projection bias (vit_b_32)
@pytest.mark.parametrize("block", [SelfAttention, lambda: nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)])
def test_attention_costs_the_same_on_meta_and_cpu(block, batch: int) -> None:  # noqa: ANN001 - a class or factory
    model = block().eval()
    meta, cpu = inspect(model, (batch, 7, 64), device="meta"), inspect(model, (batch, 7, 64), device="cpu")
    assert "_native_multi_head_attention" in cpu.ops  # the CPU fast path: one fused kernel
    assert (meta.totals.macs, meta.totals.other_ops) == (cpu.totals.macs, cpu.totals.other_ops)
    # per sample: Q, K, V and out projections 4 x 7 x 64², scores and weighted sum 2 x 4 heads x 7² x 16
    attention = 4 * 7 * 64 * 64 + 2 * 4 * 7 * 7 * 16
    feed_forward = 0 if block is SelfAttention else 2 * 7 * 64 * 128
    assert meta.totals.macs == batch * (attention + feed_forward)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_rnn_on_cudnn_costs_what_meta_counts(cls: type[nn.RNNBase]) -> None:
    model = cls(8, 16, num_layers=2, bidirectional=True, batch_first=True)
    meta, cuda = inspect(model, (2, 5, 8), device="meta"), inspect(model, (2, 5, 8), device="cuda")
    assert (cuda.totals.macs, cuda.totals.other_ops) == (meta.totals.macs, meta.totals.other_ops)
    assert cuda.uncounted_ops == {}
