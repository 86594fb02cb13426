"""From a MODEL reference to a module: zoo names, user files, package modules, and every way that fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from archinspect.core.inputs import InputSpec
from archinspect.errors import ModelRunError, UsageError
from archinspect.models.loading import create_model, load_model, split_reference

NET_PY = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self, width: int = 4, classes: int = 10):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3)
            self.fc = nn.Linear(width, classes)

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3)))

    instance = Net(width=2)

    def factory(width: int = 3):
        return Net(width=width)

    def broken():
        raise ValueError("no weights here")

    def not_a_model():
        return 42

    class Plain:
        pass

    number = 3
"""


@pytest.fixture
def net_py(user_file: Callable[[str, str], Path]) -> Path:
    return user_file(NET_PY, "net.py")


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("ResNet_50", ("zoo", "ResNet_50", {})),
        ("densenet-bc:depth=40,growth_rate=12", ("zoo", "densenet-bc", {"depth": 40, "growth_rate": 12})),
        ("torchvision:resnet18", ("torchvision", "resnet18", {})),
        ("timm:resnet50:drop_rate=0.1", ("timm", "resnet50", {"drop_rate": 0.1})),
        ("models/net.py:Net", ("file", "models/net.py:Net", {})),
        ("net.py", ("file", "net.py:", {})),
        ("pkg.mod:Net", ("module", "pkg.mod:Net", {})),
    ],
)
def test_split_reference(ref: str, expected: tuple) -> None:
    assert split_reference(ref) == expected


def test_zoo_names_are_case_and_separator_insensitive_and_built_on_meta() -> None:
    assert load_model("ResNeXt50_32x4d", device="meta").label == "resnext50-32x4d"
    loaded = load_model("ResNet18", device="meta")
    assert loaded.label == "resnet18"
    assert loaded.default_inputs == [InputSpec((1, 3, 224, 224))]
    assert _params(loaded.model) == 11_689_512
    assert all(p.device.type == "meta" for p in loaded.model.parameters())
    small = create_model("resnet18:num_classes=10,in_channels=1", device="meta")
    assert small.fc.out_features == 10 and small.conv1.in_channels == 1
    assert load_model("resnet18", {"in_channels": 1}).default_inputs == [InputSpec((1, 1, 224, 224))]


def test_file_class_factory_and_instance(net_py: Path) -> None:
    cls = load_model(f"{net_py}:Net", {"width": 8}, device="meta")
    assert cls.label == "net.py:Net" and cls.source_file == str(net_py)
    assert cls.model.conv.out_channels == 8 and cls.model.conv.weight.device.type == "meta"
    assert cls.default_inputs is None  # a user model has no default input
    made = load_model(f"{net_py}:factory", device="meta").model
    assert made.conv.out_channels == 3
    rebuilt = load_model(f"{net_py}:factory", {"width": 5}).rebuild("cpu")  # type: ignore[misc]
    assert rebuilt.conv.out_channels == 5 and rebuilt.conv.weight.device.type == "cpu"
    inst = load_model(f"{net_py}:instance", device="meta").model
    # an instance is handed over as it is: never moved, never rebuilt
    assert inst.conv.out_channels == 2 and inst.conv.weight.device.type == "cpu"


def test_package_module_symbol(
    user_file: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = user_file(NET_PY, "archinspect_test_pkg_net.py")
    monkeypatch.syspath_prepend(str(path.parent))
    loaded = load_model("archinspect_test_pkg_net:factory", {"width": 6}, device="meta")
    assert loaded.model.conv.out_channels == 6 and loaded.label == "archinspect_test_pkg_net:factory"


@pytest.mark.parametrize(
    ("symbol", "args", "error", "message"),
    [
        ("Nett", {}, UsageError, "{path} has no symbol 'Nett'; did you mean Net?"),
        (
            "zzz",
            {},
            UsageError,
            "{path} has no symbol 'zzz'; it defines Net, broken, factory, instance, not_a_model",
        ),
        (
            "number",
            {},
            UsageError,
            "net.py:number is of type int; expected an nn.Module subclass, a factory function returning a "
            "module, or a module instance",
        ),
        (
            "Plain",
            {},
            UsageError,
            "net.py:Plain is a class but not an nn.Module subclass; expected a subclass of torch.nn.Module",
        ),
        (
            "not_a_model",
            {},
            UsageError,
            "net.py:not_a_model returned an object of type int, not an nn.Module",
        ),
        ("broken", {}, ModelRunError, "net.py:broken(...) raised ValueError: no weights here"),
        (
            "Net",
            {"depth": 3},
            UsageError,
            "net.py:Net: Net.__init__() got an unexpected keyword argument 'depth'; accepted: width, classes",
        ),
        (
            "instance",
            {"width": 3},
            UsageError,
            "net.py:instance is a module instance; constructor arguments apply only to classes and factories",
        ),
        (
            "",
            {},
            UsageError,
            "'{path}': name the model as {path}:Symbol (a class, factory or module instance)",
        ),
    ],
)
def test_file_symbol_errors(
    net_py: Path, symbol: str, args: dict, error: type[Exception], message: str
) -> None:
    ref = f"{net_py}:{symbol}" if symbol else str(net_py)
    with pytest.raises(error) as info:
        load_model(ref, args, device="meta")
    assert str(info.value) == message.format(path=net_py)
    assert info.value.exit_code == (2 if error is UsageError else 1)  # type: ignore[attr-defined]


def test_missing_file_syntax_error_and_failing_file(
    user_file: Callable[[str, str], Path], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(UsageError) as info:
        load_model(f"{missing}:Net")
    assert (
        str(info.value)
        == f"model file '{missing}' does not exist; expected FILE.py:Symbol naming an existing file"
    )
    bad = user_file("from torch import nn\n\ndef f(:\n    pass\n", "bad.py")
    with pytest.raises(UsageError) as info:
        load_model(f"{bad}:f")
    assert str(info.value) == f"{bad}:3: syntax error: invalid syntax"
    boom = user_file("raise RuntimeError('boom at import')\n", "boom.py")
    with pytest.raises(ModelRunError) as run_info:
        load_model(f"{boom}:f")
    assert str(run_info.value) == f"{boom}: running the file failed: RuntimeError: boom at import"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("resnett50", "unknown model 'resnett50'; did you mean resnet50, resnet56, resnet20?"),
        ("resnet50:3", "'resnet50:3': arguments after ':' must be key=value (e.g. resnet50:depth=40)"),
        ("resnet50:depth=3", "resnet50 takes no argument 'depth'; accepted: num_classes, in_channels"),
        ("nosuchpkg.mod:Net", "module 'nosuchpkg.mod' cannot be imported (No module named 'nosuchpkg')"),
        # the API names the function where the CLI names the command (`archinspect list`)
        ("  ", "MODEL is empty; give a zoo name (see archinspect.list_models()), FILE.py:Symbol or pkg.mod:Symbol"),
    ],
)
def test_reference_errors(ref: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_model(ref, device="meta")
    assert str(info.value) == message


def test_library_prefix_without_the_library() -> None:
    pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401
    except ImportError:
        with pytest.raises(UsageError) as info:
            load_model("torchvision:resnet18", device="meta")
        assert (
            str(info.value) == "torchvision:resnet18: torchvision is not installed (pip install torchvision)"
        )
    else:  # pragma: no cover - only where torchvision is installed
        assert _params(load_model("torchvision:resnet18", device="meta").model) == 11_689_512


def test_instance_on_cpu_is_not_moved_by_loading(net_py: Path) -> None:
    model = load_model(f"{net_py}:instance", device="meta").model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(v.device == torch.device("cpu") for v in before.values())
    again = load_model(f"{net_py}:instance", device="meta").model
    assert again is not model  # each load runs the file afresh
