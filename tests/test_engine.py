"""The one-pass engine: what it records, that its figures agree with torchinfo and add up, and that the
model comes out of an inspection exactly as it went in — failing forward, train mode and meta included."""

from __future__ import annotations

from math import prod
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from archinspect import create_model, inspect
from archinspect.core.report import Report
from archinspect.errors import ModelRunError, UsageError
from archinspect.models.loading import load_model

# --- agreement with torchinfo --------------------------------------------------------------------------


def _torchinfo_leaf_macs(module: nn.Module, out: list[int], ours: int) -> int:
    """Our MACs in torchinfo's convention: it also counts biases and norm affine parameters as MACs."""
    if isinstance(module, nn.modules.conv._ConvNd) and module.bias is not None:
        return ours + module.bias.numel() * out[0] * prod(out[2:])
    if isinstance(module, nn.Linear) and module.bias is not None:
        return ours + out[0] * module.bias.numel()
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return ours + out[0] * sum(p.numel() for p in module.parameters())
    return ours


@pytest.mark.parametrize(
    ("name", "shape", "device"),
    [
        ("resnet18", (2, 3, 32, 32), "cpu"),
        ("vgg11", (1, 3, 32, 32), "meta"),
        ("densenet121", (1, 3, 64, 64), "meta"),
    ],
)
def test_per_layer_params_and_macs_agree_with_torchinfo(name: str, shape: tuple, device: str) -> None:
    import torchinfo

    model = create_model(name, device=device).eval()
    stats = torchinfo.summary(model, input_size=shape, verbose=0, device=device)
    report = inspect(model, shape, device="meta")
    ours = [r for r in report.records if r.ran]
    inclusive = report.inclusive()
    theirs = stats.summary_list
    assert len(ours) == len(theirs) > 30
    expected_total = 0
    for rec, info in zip(ours, theirs, strict=True):
        assert (rec.type, rec.depth) == (info.class_name, info.depth), rec.name
        assert rec.output_shapes[0] == tuple(info.output_size), rec.name
        if not info.is_recursive:
            assert inclusive[rec.index].params == info.num_params, rec.name
        if rec.is_leaf:
            module = model.get_submodule(rec.name)
            assert _torchinfo_leaf_macs(module, info.output_size, rec.macs) == info.macs, rec.name
            expected_total += info.macs
    assert stats.total_params == report.totals.params
    assert stats.total_mult_adds == expected_total
    assert report.totals.macs == sum(r.macs for r in ours if r.is_leaf)


# --- figures add up ------------------------------------------------------------------------------------


class _Shared(nn.Module):
    """A ReLU called twice, a Linear whose weight is tied to another's, a frozen conv, a matmul by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.conv.requires_grad_(False)
        self.act = nn.ReLU()
        self.enc = nn.Linear(8, 8, bias=False)
        self.dec = nn.Linear(8, 8, bias=False)
        self.dec.weight = self.enc.weight
        self.proj = nn.Parameter(torch.randn(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x)).mean((2, 3))
        x = self.act(self.dec(self.enc(x)))
        return x @ self.proj


def _sums(report: Report, depth: int) -> tuple[int, int, int, int]:
    rows = report.rows(depth)
    return (
        sum(r.params for r in rows),
        sum(r.trainable_params for r in rows),
        sum(r.macs for r in rows),
        sum(r.other_ops for r in rows),
    )


@pytest.mark.parametrize("name", ["resnet50", "densenet-bc-100", "inception-v3", "d2l-googlenet", "shared"])
def test_column_sums_equal_totals_at_every_depth(name: str) -> None:
    if name == "shared":
        report = inspect(_Shared(), (2, 3, 8, 8))
    else:
        loaded = load_model(name, device="meta")
        report = inspect(loaded.model, loaded.default_inputs)
    t = report.totals
    for depth in range(5):
        assert _sums(report, depth) == (t.params, t.trainable_params, t.macs, t.other_ops), depth
    assert report.rows(0)[0].folded == len(report.records) - 1


def test_modules_that_never_run_still_count_at_every_depth() -> None:
    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 4)
            self.aux = nn.Linear(8, 2)  # held, never called (like an auxiliary classifier in eval)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    model = nn.Sequential(nn.Flatten(), Head())
    report = inspect(model, (1, 8))
    assert report.totals.params == 36 + 18
    assert [(r.name, r.ran) for r in report.records if not r.ran] == [("1.aux", False)]
    for depth in range(4):
        assert _sums(report, depth)[0] == 54, depth


def test_calls_sharing_freezing_and_hand_written_matmul() -> None:
    report = inspect(_Shared(), (2, 3, 8, 8), depth=1)
    rows = {(r.name, r.call): r for r in report.records}
    assert [(r.name, r.call) for r in report.records] == [
        ("", 1),
        ("conv", 1),
        ("act", 1),
        ("enc", 1),
        ("dec", 1),
        ("act", 2),
    ]
    assert rows[("act", 1)].output_shapes == [(2, 8, 8, 8)] and rows[("act", 2)].output_shapes == [(2, 8)]
    assert rows[("enc", 1)].params == 64 and rows[("dec", 1)].params == 0  # the tied weight, once
    assert rows[("", 1)].params == 32 and rows[("", 1)].macs == 2 * 8 * 4  # proj, and x @ proj
    assert rows[("conv", 1)].macs == 2 * 8 * 3 * 9 * 64 and rows[("conv", 1)].trainable_params == 0
    t = report.totals
    assert (t.params, t.trainable_params, t.non_trainable_params) == (224 + 64 + 32, 96, 224)
    assert t.macs == 27_648 + 128 + 128 + 64
    assert t.param_bytes == 4 * 320


def test_nested_outputs_and_functional_ops_in_a_custom_forward() -> None:
    class Branches(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(16, 16))
            self.lin = nn.Linear(16, 16)

        def forward(self, x: torch.Tensor) -> dict[str, Any]:
            q = F.linear(x, self.w)  # 2·5·16·16
            attn = F.scaled_dot_product_attention(q[:, None], q[:, None], q[:, None])  # 2·(5·5·(16+16))
            return {"y": self.lin(x), "pair": (q, [attn])}

    model = nn.Sequential(Branches())
    report = inspect(model, (2, 5, 16))
    branch = report.records[1]
    assert branch.output_shapes == [(2, 5, 16), (2, 5, 16), (2, 1, 5, 16)]
    assert branch.output_bytes == 4 * (160 + 160 + 160)
    assert branch.macs == 2 * 5 * 16 * 16 + 2 * 5 * 5 * 32
    assert report.records[2].macs == 2 * 5 * 16 * 16  # lin, its own record
    assert report.output_shapes == branch.output_shapes


def test_meta_fallback_to_cpu_is_announced_and_explicit_meta_refuses() -> None:
    class Needs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x) * float(x.abs().sum().item() >= 0)

    report = inspect(Needs(), (2, 4))
    assert report.device == "cpu" and report.totals.macs == 32
    assert report.notes == [
        "an operator has no meta kernel (Tensor.item() cannot be called on meta tensors); ran on CPU instead"
    ]
    with pytest.raises(ModelRunError, match=r"no meta kernel .* \(use device='cpu'\)$"):
        inspect(Needs(), (2, 4), device="meta")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "test"}, "mode='test' is not a mode; accepted: eval, train"),
        ({"depth": -1}, "depth=-1 must be a whole number, 0 or more"),
        ({"dtype": "int8"}, "dtype='int8' is not a floating dtype; accepted: float32, float16, bfloat16, float64"),
        ({"device": "tpu"}, "device='tpu' is not a device; accepted: auto, meta, cpu, cuda, cuda:N"),
        ({"colour": "red"}, "colour= is not an option; accepted: device, dtype, mode, depth, fallback, force, "
         "per_module, receptive, count, op_costs"),
    ],
)
def test_bad_arguments_are_usage_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError) as info:
        inspect(nn.Linear(2, 2), (1, 2), **kwargs)
    assert str(info.value) == message


def test_dtype_and_batch_figures() -> None:
    report = inspect(nn.Conv2d(3, 4, 3), (4, 3, 8, 8), dtype="float16", device="cpu")
    assert report.inputs[0].dtype == "float16" and report.totals.param_bytes == 2 * 112
    assert report.totals.input_bytes == 2 * 4 * 3 * 64 and report.batch_size == 4
    assert report.totals.macs == 4 * 108 * 36


# --- the model is never modified ----------------------------------------------------------------------


def _snapshot(model: nn.Module) -> dict[str, Any]:
    state = {}
    for key, value in model.state_dict(keep_vars=True).items():
        data = None if value.device.type == "meta" else value.detach().clone()
        state[key] = (id(value), value.device, value.dtype, tuple(value.shape), value.requires_grad, data)
    return {
        "state": state,
        "training": {n: m.training for n, m in model.named_modules()},
        "attributes": {n: sorted(vars(m)) for n, m in model.named_modules()},
        "hooks": {
            (n, k): len(v) for n, m in model.named_modules() for k, v in vars(m).items() if "hook" in k and v
        },
        "global_hooks": [
            len(v)
            for k, v in vars(nn.modules.module).items()
            if k.startswith("_global") and isinstance(v, dict)
        ],
        "grad": torch.is_grad_enabled(),
    }


def _assert_same(before: dict[str, Any], model: nn.Module) -> None:
    after = _snapshot(model)
    assert after["state"].keys() == before["state"].keys()
    for key, (*meta, data) in before["state"].items():
        *meta_after, data_after = after["state"][key]
        assert meta == meta_after, key
        assert (data is None) == (data_after is None) and (data is None or torch.equal(data, data_after)), key
    for field in ("training", "attributes", "hooks", "global_hooks", "grad"):
        assert after[field] == before[field], field
    assert after["hooks"] == {} and set(after["global_hooks"]) <= {0}


class _BnNet(nn.Module):
    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.bn(self.conv(x))).mean((2, 3)))


def _bn_net(mixed: bool = True) -> nn.Module:
    model = _BnNet()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    model.eval()
    if mixed:
        model.drop.train()  # a mixed state must come back mixed
    return model


@pytest.mark.parametrize("device", ["auto", "meta", "cpu"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_cpu_instance_is_unchanged(device: str, mode: str) -> None:
    model = _bn_net()
    before = _snapshot(model)
    report = inspect(model, (2, 3, 8, 8), device=device, mode=mode)
    assert report.mode == mode and report.device == ("meta" if device == "auto" else device)
    _assert_same(before, model)
    assert int(model.bn.num_batches_tracked) == 0  # train mode ran BatchNorm on copies of its statistics


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_unchanged_after_a_failing_forward(device: str, mode: str) -> None:
    model = _bn_net()
    before = _snapshot(model)
    with pytest.raises(ModelRunError, match=r"^conv \(Conv2d\) expects 3 input channels but got 1 "):
        inspect(model, (2, 1, 8, 8), device=device, mode=mode)
    _assert_same(before, model)
    with pytest.raises(
        ModelRunError, match=r"^input 2×2 is too small: conv \(Conv2d\) would shrink 2×2 to 0×0"
    ):
        inspect(model, (2, 3, 2, 2), device=device, mode=mode)
    _assert_same(before, model)


def test_meta_model_is_unchanged_and_train_mode_on_meta() -> None:
    with torch.device("meta"):
        model = _bn_net(mixed=False)
    model.train()
    before = _snapshot(model)
    inspect(model, (2, 3, 8, 8), mode="eval")
    inspect(model, (2, 3, 8, 8), mode="train")
    _assert_same(before, model)
    assert all(v.device.type == "meta" for v in model.state_dict().values())


def test_interceptor_forwards_are_restored() -> None:
    from archinspect.core.engine import run_pass
    from archinspect.core.observe import NOT_HANDLED, ModuleCall, PassObserver
    from archinspect.core.target import Target

    model = _bn_net()
    before = _snapshot(model)
    seen: list[str] = []

    class Intercept(PassObserver):
        def replace(self, call: ModuleCall) -> Any:
            seen.append(call.name)
            return NOT_HANDLED

    run_pass(Target.of(model, (1, 3, 8, 8)), observers=[Intercept()])
    assert seen == ["", "conv", "bn", "drop", "fc"]
    _assert_same(before, model)
    assert all("forward" not in vars(m) for m in model.modules())
