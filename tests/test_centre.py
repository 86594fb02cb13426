"""The one pass every analysis plugs into (issue #19): one Target, options checked once, observers, and
every analysis — memory included — on the same road."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archinspect
from archinspect.core.engine import run_pass
from archinspect.core.inputs import InputSpec
from archinspect.core.observe import ModuleCall, PassObserver, PassRun
from archinspect.core.options import PassOptions
from archinspect.core.report import Report
from archinspect.core.target import Target
from archinspect.errors import UsageError

# ---- a d2l-style ResNet-18 written with Lazy layers (how Dive into Deep Learning writes it today) ----------

D2L_LAZY_RESNET = """
import torch
from torch import nn
from torch.nn import functional as F


class Residual(nn.Module):
    def __init__(self, num_channels, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1, stride=strides)
        self.conv2 = nn.LazyConv2d(num_channels, kernel_size=3, padding=1)
        self.conv3 = nn.LazyConv2d(num_channels, kernel_size=1, stride=strides) if use_1x1conv else None
        self.bn1 = nn.LazyBatchNorm2d()
        self.bn2 = nn.LazyBatchNorm2d()

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        Y += X
        return F.relu(Y)


def block(num_residuals, num_channels, first_block=False):
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(num_channels, use_1x1conv=True, strides=2))
        else:
            blk.append(Residual(num_channels))
    return nn.Sequential(*blk)


def ResNet18(num_classes=10):
    return nn.Sequential(
        nn.Sequential(
            nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3), nn.LazyBatchNorm2d(), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ),
        block(2, 64, first_block=True), block(2, 128), block(2, 256), block(2, 512),
        nn.Sequential(nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.LazyLinear(num_classes)),
    )
"""
D2L_RESNET18_PARAMS = 11_178_378  # ZOO.md d2l-resnet18, and torchinfo's summary of the same model


def _lazy_resnet(tmp_path: Path) -> tuple[Path, Any]:
    path = tmp_path / "lazy_resnet.py"
    path.write_text(textwrap.dedent(D2L_LAZY_RESNET), encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return path, namespace["ResNet18"]


def test_a_lazy_d2l_resnet18_gives_the_same_params_everywhere_and_stays_lazy(tmp_path: Path, cli: Any) -> None:
    path, build = _lazy_resnet(tmp_path)
    model, by_hand = build(), build()
    shape = (1, 1, 224, 224)
    with torch.no_grad():
        by_hand(torch.zeros(shape))  # materialised by hand: a first call, as d2l does
    expected = sum(p.numel() for p in by_hand.parameters())
    assert expected == D2L_RESNET18_PARAMS

    assert archinspect.inspect(model, shape).totals.params == expected
    assert archinspect.count_flops(model, shape).totals.params == expected
    assert archinspect.count_flops(model, shape).totals.macs == archinspect.count_flops(by_hand, shape).totals.macs
    assert archinspect.fit(model, shape).report.totals.params == expected
    lazy_peak = archinspect.memory(model, shape, mode="train")
    hand_peak = archinspect.memory(by_hand, shape, mode="train")
    assert lazy_peak.breakdown["params"] == hand_peak.breakdown["params"] == expected * 4
    assert lazy_peak.peak_bytes == hand_peak.peak_bytes
    # the user's instance is still uninitialised
    assert any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())

    ref = f"{path}:ResNet18"
    for command in ("shapes", "flops"):
        result = cli(command, ref, "--input", "1,1,224,224", "--format", "json")
        assert result.exit_code == 0, (command, result.stderr)
        assert json.loads(result.stdout)["totals"]["params"] == expected, command
    result = cli("fit", ref, "--input", "1,1,224,224", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["consistent"] is True
    result = cli("memory", ref, "--input", "1,1,224,224", "--mode", "train", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["breakdown"]["params"] == expected * 4


# ---- memory on the same road ---------------------------------------------------------------------------


class _ScriptedInside(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.head = torch.jit.script(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()))
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.stem(x)).mean((2, 3)))


class _DataDependent(nn.Module):
    """Keeps the positive activations: how many is known only from the values (``nonzero``)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return y[y > 0].sum() + y.sum()


def test_memory_runs_a_torchscript_submodule_as_shapes_does() -> None:
    model = _ScriptedInside()
    shapes = archinspect.inspect(model, (2, 3, 16, 16))
    report = archinspect.memory(model, (2, 3, 16, 16), mode="train")
    params = sum(p.numel() for p in model.parameters())
    assert shapes.totals.params == params
    assert report.breakdown["params"] == params * 4
    assert report.peak_bytes > report.baseline_bytes > 0
    assert any("TorchScript" in n for n in shapes.notes) or shapes.device == "cpu"
    assert report.notes == shapes.notes  # the same fallback, said the same way
    assert all(p.grad is None for p in model.parameters())  # the step's gradients were taken off again


def test_memory_falls_back_on_a_data_dependent_model_by_the_same_rule_as_shapes() -> None:
    model = _DataDependent()
    shapes = archinspect.inspect(model, (4, 16))
    report = archinspect.memory(model, (4, 16), mode="train")
    assert shapes.device == "cpu" and "ran on CPU instead" in shapes.notes[-1]
    assert report.notes[-1] == shapes.notes[-1]
    assert report.breakdown["params"] == (16 * 16 + 16) * 4
    assert report.breakdown["grads"] == 0 or report.phase_peaks["backward"] >= report.baseline_bytes


class _Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
        y = self.conv(x)
        return y * scale if scale is not None else y


SCALED = """
import torch
from torch import nn

class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x, scale=None):
        y = self.conv(x)
        return y * scale if scale is not None else y
"""


def test_a_keyword_input_changes_memorys_peak_and_appears_in_diffs_json(cli: Any, user_file: Any) -> None:
    without = archinspect.memory(_Scaled(), (1, 3, 64, 64))
    with_scale = archinspect.memory(_Scaled(), (1, 3, 64, 64), kwargs={"scale": (1, 8, 64, 64)})
    assert with_scale.peak_bytes - without.peak_bytes == 8 * 64 * 64 * 4 * 2  # the input and the product
    assert with_scale.keyword_inputs == {"scale": InputSpec((1, 8, 64, 64))}

    ref = f"{user_file(SCALED)}:Scaled"
    args = ["--input", "1,3,64,64", "--format", "json"]
    plain = cli("memory", ref, *args)
    scaled = cli("memory", ref, *args, "--input", "scale=1,8,64,64")
    assert plain.exit_code == scaled.exit_code == 0, scaled.stderr
    gap = json.loads(scaled.stdout)["peak_bytes"] - json.loads(plain.stdout)["peak_bytes"]
    assert gap == 8 * 64 * 64 * 4 * 2
    result = cli("diff", ref, ref, *args, "--input", "scale=1,8,64,64")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["a"]["keyword_inputs"] == doc["b"]["keyword_inputs"] == {"scale": {"shape": [1, 8, 64, 64],
                                                                                   "dtype": "float32"}}


KEYWORD_ONLY = """
import torch
from torch import nn

class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, *, pixel_values):
        return self.fc(pixel_values)
"""


def test_a_keyword_only_model_runs_from_the_cli(cli: Any, user_file: Any) -> None:
    ref = f"{user_file(KEYWORD_ONLY)}:Head"
    for command in ("shapes", "flops", "fit", "memory"):
        result = cli(command, ref, "--input", "pixel_values=1,4", "--format", "json")
        assert result.exit_code == 0, (command, result.stderr)
    result = cli("shapes", "torch.nn:Linear", "--arg", "in_features=4", "--arg", "out_features=2",
                 "--input", "input=1,4", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["keyword_inputs"] == {"input": {"shape": [1, 4], "dtype": "float32"}}
    assert doc["totals"]["macs"] == 8


def test_a_keyword_input_replaces_the_default_it_names_and_adds_to_it_otherwise(cli: Any) -> None:
    # resnet20's forward(self, x): x=... takes the default input's place instead of colliding with it
    named = cli("shapes", "resnet20", "--input", "x=2,3,32,32", "--format", "json")
    assert named.exit_code == 0, named.stderr
    doc = json.loads(named.stdout)
    assert doc["inputs"] == [] and doc["keyword_inputs"]["x"]["shape"] == [2, 3, 32, 32]
    assert doc["totals"]["macs"] == 2 * 40_551_040  # ZOO.md resnet20, per sample


def test_a_keyword_input_beside_a_default_one(cli: Any, user_file: Any) -> None:
    from archinspect.models.loading import load_model

    path = user_file(SCALED)
    loaded = load_model(f"{path}:Scaled", device="meta")
    loaded.default_inputs = [InputSpec((1, 3, 8, 8))]
    loaded.keyword_inputs = {"scale": InputSpec((1, 8, 8, 8))}
    target = loaded.target()
    assert target.specs == [InputSpec((1, 3, 8, 8))] and target.keyword_specs == {"scale": InputSpec((1, 8, 8, 8))}
    report = archinspect.inspect(target)
    assert report.totals.other_ops == 8 * 8 * 8  # the product with scale ran


def test_bench_takes_keyword_inputs(cli: Any, user_file: Any) -> None:
    ref = f"{user_file(KEYWORD_ONLY)}:Head"
    result = cli("bench", ref, "--device", "cpu", "--input", "pixel_values=2,4", "--iters", "3", "--min-time", "0",
                 "--warmup", "1", "--warmup-time", "0", "--no-peak", "--format", "json")
    assert result.exit_code == 0, result.stderr
    [row] = json.loads(result.stdout)["rows"]
    assert row["inputs"] == ["pixel_values=2,4"] and row["batch"] == 2 and row["flops_per_batch"] == 2 * 2 * 4 * 2
    res = archinspect.benchmark(nn.Linear(4, 2), kwargs={"input": (3, 4)}, device="cpu", iters=3, min_time=0,
                                warmup=1, warmup_time=0, peak=False)
    assert res.rows[0].batch == 3 and res.rows[0].flops == 2 * 3 * 4 * 2


# ---- the API's inputs ---------------------------------------------------------------------------------


class _DictAndFlag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, batch: dict, need_weights: bool = True) -> torch.Tensor:
        out = self.a(batch["left"]) + self.b(batch["right"])
        return out if need_weights else out.detach()


def test_a_dict_positional_input_and_a_plain_keyword_value() -> None:
    report = archinspect.inspect(
        _DictAndFlag(), [{"left": (2, 4), "right": (2, 4)}], kwargs={"need_weights": False}
    )
    assert report.totals.macs == 2 * (2 * 4 * 4)
    assert report.inputs == [InputSpec((2, 4)), InputSpec((2, 4))]


def test_a_refused_input_never_prints_a_tensors_values() -> None:
    with pytest.raises(UsageError) as info:
        Target.of(nn.Linear(2, 2), 123456.0)
    assert str(info.value).startswith("inputs=123456.0 is not accepted")  # a plain value is named as given
    with pytest.raises(UsageError) as info:
        archinspect.inspect(nn.Linear(2, 2), frozenset({torch.full((2,), 987654.0)}))
    assert str(info.value).startswith("inputs=<frozenset> is not accepted") and "987654" not in str(info.value)


def test_library_errors_name_the_parameter_and_the_cli_its_flag(cli: Any) -> None:
    with pytest.raises(UsageError) as info:
        archinspect.inspect(nn.Linear(2, 2), (1, 2), mode="test")
    assert str(info.value) == "mode='test' is not a mode; accepted: eval, train"
    assert "--" not in str(info.value)
    with pytest.raises(UsageError, match=r"^colour= is not an option; accepted: device, "):
        archinspect.memory(nn.Linear(2, 2), (1, 2), colour="red")


# ---- observers ----------------------------------------------------------------------------------------


class _Log(PassObserver):
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log
        self.ops = 0

    def start(self, run: PassRun) -> None:
        self.log.append(f"{self.name} start {run.device}")

    def enter(self, call: ModuleCall) -> None:
        self.log.append(f"{self.name} enter {call.name or '<root>'} #{call.record.index}")

    def leave(self, call: ModuleCall, output: Any) -> None:
        self.log.append(f"{self.name} leave {call.name or '<root>'} {tuple(output.shape)}")

    def op(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        self.ops += 1

    def finish(self, report: Report) -> None:
        self.log.append(f"{self.name} finish {report.totals.macs}")


def test_observers_see_every_module_in_order_the_last_closest_to_the_call() -> None:
    log: list[str] = []
    first, last = _Log("A", log), _Log("B", log)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    run_pass(Target.of(model, (2, 4)), PassOptions.check(), [first, last])
    assert log == [
        "A start meta", "B start meta",
        "A enter <root> #0", "B enter <root> #0",
        "A enter 0 #1", "B enter 0 #1", "B leave 0 (2, 3)", "A leave 0 (2, 3)",
        "A enter 1 #2", "B enter 1 #2", "B leave 1 (2, 3)", "A leave 1 (2, 3)",
        "B leave <root> (2, 3)", "A leave <root> (2, 3)",
        "A finish 24", "B finish 24",
    ]
    assert first.ops == last.ops > 0


def test_without_counting_observers_get_no_operators_and_the_pass_no_flops() -> None:
    log: list[str] = []
    watcher = _Log("A", log)
    report = run_pass(Target.of(nn.Linear(4, 3), (2, 4)), PassOptions.check(count=False), [watcher])
    assert watcher.ops == 0 and report.totals.macs == 0 and "A leave <root> (2, 3)" in log


# ---- the size of what a reviewer must hold in mind -------------------------------------------------------

MAX_COMPLEXITY = 20


def cyclomatic(node: ast.AST) -> int:
    """McCabe's count as radon computes it: 1 + branches (if/elif, loops, except, with-less boolean operands,
    conditional expressions, comprehension loops and their conditions, match cases, assert)."""
    score = 1
    for child in ast.walk(node):
        if child is not node and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if isinstance(child, (ast.If, ast.IfExp, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler, ast.Assert)):
            score += 1
        elif isinstance(child, ast.BoolOp):
            score += len(child.values) - 1
        elif isinstance(child, ast.comprehension):
            score += 1 + len(child.ifs)
        elif isinstance(child, ast.match_case):
            score += 1
    return score


def function_complexities(root: Path) -> list[tuple[int, str]]:
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((cyclomatic(node), f"{path.relative_to(root.parent)}:{node.lineno} {node.name}"))
    return sorted(out, reverse=True)


def test_no_function_in_core_or_analyses_is_above_complexity_20() -> None:
    package = Path(archinspect.__file__).parent
    worst = [item for sub in ("core", "analyses") for item in function_complexities(package / sub)]
    over = [f"{name} ({score})" for score, name in sorted(worst, reverse=True) if score > MAX_COMPLEXITY]
    assert not over, over


def test_the_complexity_count_counts_branches() -> None:
    src = "def f(x):\n    if x and y or z:\n        return [i for i in x if i]\n    while x:\n        pass\n"
    assert cyclomatic(ast.parse(src).body[0]) == 1 + 1 + 2 + 2 + 1
