"""Every zoo entry against docs/reference/zoo.md: exact parameters, MACs at the default input, output [1, classes]."""

from __future__ import annotations

import pytest
import torch
from zoo_sample import zoo_params

from archinspect.analyses.shapes import inspect
from archinspect.errors import UsageError
from archinspect.models.loading import create_model, load_model
from archinspect.models.zoo import get_entry, list_models

ALL = list_models()


def test_the_zoo_holds_all_46_entries() -> None:
    assert len(ALL) == 46
    families = {get_entry(n).family for n in ALL}
    assert {"AlexNet", "VGG", "GoogLeNet", "Inception", "ResNet", "SENet", "Xception", "DenseNet"} <= families
    assert {"DenseNet-CIFAR", "ResNet-CIFAR", "D2L"} <= families


@pytest.mark.parametrize("name", zoo_params())
def test_entry_matches_reference_exactly(name: str) -> None:
    entry = get_entry(name)
    model = create_model(name, device="meta")
    report = inspect(model, [entry.default_input], device="meta", depth=0)
    assert report.totals.params == entry.params
    if entry.macs is not None:
        assert report.totals.macs == entry.macs
    else:
        assert round(report.totals.macs / 1e9, 3) == pytest.approx(entry.gmacs, abs=1e-9)
    assert report.output_shapes == [(1, entry.num_classes)]
    assert report.device == "meta"


def test_names_are_case_insensitive_with_underscores() -> None:
    assert get_entry("ResNeXt50_32x4d").name == "resnext50-32x4d"
    assert get_entry("DENSENET-BC").name == "densenet-bc-100"


def test_list_models_wildcards_and_natural_sort() -> None:
    assert list_models("resnet1*") == ["resnet18", "resnet101", "resnet110", "resnet152", "resnet1202"]
    assert list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert list_models(family="D2L")[:2] == ["d2l-alexnet", "d2l-densenet"]
    assert list_models("no-such-thing") == []


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match=r"unknown model 'resnet51'; did you mean resnet56, resnet50"):
        get_entry("resnet51")


def test_constructor_arguments_from_reference_and_args() -> None:
    a = load_model("densenet-bc:depth=40", device="meta").model
    b = load_model("densenet-bc", {"depth": 40}, device="meta").model
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters()) == 176_122
    ten = create_model("resnet18", device="meta", num_classes=10)
    assert ten.fc.out_features == 10


def test_unknown_argument_lists_the_accepted_ones() -> None:
    with pytest.raises(UsageError, match=r"resnet50 takes no argument 'depth'; accepted: num_classes, in_channels"):
        create_model("resnet50", device="meta", depth=3)


def test_meta_build_allocates_nothing() -> None:
    model = create_model("vgg16", device="meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert torch.device("meta") == next(model.parameters()).device


@pytest.mark.parametrize("name", ["resnet50", "densenet-bc", "inception-v3", "d2l-googlenet"])
def test_totals_only_pass_counts_the_same(name: str) -> None:
    entry = get_entry(name)
    model = create_model(name, device="meta")
    full = inspect(model, [entry.default_input], device="meta")
    quick = inspect(model, [entry.default_input], device="meta", per_module=False)
    for key in ("params", "trainable_params", "macs", "other_ops", "param_bytes", "input_bytes"):
        assert getattr(quick.totals, key) == getattr(full.totals, key), key
    assert [(r.params, r.macs, r.other_ops) for r in quick.rows(3)] == [
        (full.totals.params, full.totals.macs, full.totals.other_ops)
    ]
    assert {k: (t.calls, t.macs, t.other_ops) for k, t in quick.ops.items()} == {
        k: (t.calls, t.macs, t.other_ops) for k, t in full.ops.items()
    }
