"""torchvision:NAME and timm:NAME references: real models where installed, a clear error where not."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from archinspect.cli.app import app
from archinspect.errors import UsageError
from archinspect.models.loading import load_model

runner = CliRunner()


@pytest.mark.parametrize("lib", ["torchvision", "timm"])
def test_missing_package_is_a_usage_error(lib: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, lib, None)  # makes `import lib` raise ImportError
    with pytest.raises(UsageError, match=rf"^{lib}:resnet18: {lib} is not installed \(pip install {lib}\)$"):
        load_model(f"{lib}:resnet18", device="meta")
    result = runner.invoke(app, ["shapes", f"{lib}:resnet18"])
    assert result.exit_code == 2
    assert f"error: {lib}:resnet18: {lib} is not installed" in result.output
    assert "Traceback" not in result.output


def test_torchvision_model_on_meta_matches_the_zoo() -> None:
    pytest.importorskip("torchvision")
    loaded = load_model("torchvision:resnet18", device="meta")
    assert sum(p.numel() for p in loaded.model.parameters()) == 11_689_512
    assert loaded.default_inputs[0].shape == (1, 3, 224, 224)
    result = runner.invoke(app, ["shapes", "torchvision:resnet18", "--depth", "0", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"macs": 1814073344' in result.output


def test_timm_model_uses_its_own_input_size() -> None:
    pytest.importorskip("timm")
    loaded = load_model("timm:inception_v4", device="meta")
    assert loaded.default_inputs[0].shape == (1, 3, 299, 299)
    assert sum(p.numel() for p in loaded.model.parameters()) == 42_679_816
    with pytest.raises(UsageError, match=r"unknown timm model 'resnet5'; did you mean resnet50"):
        load_model("timm:resnet5", device="meta")


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("regnet_x_400mf", [(1, 3, 224, 224)]),
        ("fcn_resnet50", [(1, 3, 520, 520)]),
        ("r3d_18", [(1, 3, 16, 112, 112)]),
        ("raft_small", [(1, 3, 512, 512), (1, 3, 512, 512)]),
        ("fasterrcnn_mobilenet_v3_large_320_fpn", [(1, 3, 800, 800)]),
        ("quantized_mobilenet_v2", [(1, 3, 224, 224)]),
    ],
)
def test_every_torchvision_task_has_its_reference_input(name: str, inputs: list[tuple[int, ...]]) -> None:
    pytest.importorskip("torchvision")
    loaded = load_model(f"torchvision:{name}", device="meta")
    assert [s.shape for s in loaded.default_inputs] == inputs
    assert (loaded.built_on == "cpu") == name.startswith("regnet")  # RegNet's builder computes with values


def test_torchvision_detection_runs_with_the_plain_command() -> None:
    pytest.importorskip("torchvision")
    result = runner.invoke(app, ["shapes", "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn", "--depth", "0"])
    assert result.exit_code == 0, result.output
    assert "ran on the model rebuilt on CPU instead" in result.output
    uncounted = "Not counted: uncounted operators (ran, no formula, not in any figure): roi_align ×2, nms ×1"
    assert uncounted in result.output
