"""Never harm the user's model, the user's machine or the caller's process (issue 11).

The model: every pass works on substitutes, so shared modules, tied weights, forwards that write buffers
or attributes, and threads leave it bit for bit as it was. The machine: a memory guard before CPU/CUDA
passes and builds, bounds on sizes and constructor arguments. The process: the global RNG untouched,
``sys.exit`` in user code reported, the API raising only archinspect's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from model_state import assert_same, snapshot
from threads import run_in_threads
from torch import nn

import archinspect
from archinspect import create_model, inspect
from archinspect.core import guard
from archinspect.core.engine import estimate_pass
from archinspect.core.inputs import InputSpec, parse_input, parse_kwargs, parse_value
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.errors import ModelRunError, UsageError
from archinspect.models.zoo import get_entry


def _one_line_error(result: Any, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("error: ")


# --- (a) a module registered under two names -----------------------------------------------------------


def _shared() -> nn.Sequential:
    torch.manual_seed(1)
    lin = nn.Linear(4, 4)
    return nn.Sequential(lin, nn.ReLU(), lin)


@pytest.mark.parametrize("device", ["cpu", "meta", "auto"])
def test_a_module_shared_under_two_names_keeps_its_parameters(device: str) -> None:
    model = _shared()
    before = snapshot(model)
    report = inspect(model, (2, 4), device=device)
    assert_same(before, snapshot(model))
    assert model[0].weight.device.type == "cpu" and model[0] is model[2]
    assert (report.totals.params, report.totals.trainable_params) == (20, 20)
    assert model(torch.ones(1, 4)).shape == (1, 4)  # it still runs


def test_a_shared_module_from_a_file_instance_survives_the_cli(cli: Callable[..., Any], user_file: Any) -> None:
    path = user_file(
        """
        import torch
        from torch import nn

        lin = nn.Linear(4, 4)
        net = nn.Sequential(lin, nn.ReLU(), lin)
        """
    )
    from archinspect.models.loading import load_model

    loaded = load_model(f"{path}:net", device="cpu")
    before = snapshot(loaded.model)
    for device in ("cpu", "meta"):
        assert inspect(loaded.model, (1, 4), device=device).totals.trainable_params == 20
    assert_same(before, snapshot(loaded.model))
    result = cli("shapes", f"{path}:net", "--input", "1,4", "--device", "cpu", "--format", "json")
    assert result.exit_code == 0, result.stderr


# --- (b) a forward that writes its own buffer ----------------------------------------------------------


class _Accumulates(nn.Module):
    """Writes a buffer and attributes in eval mode; uses .item() (no meta kernel) when ``needs_cpu``."""

    def __init__(self, needs_cpu: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("acc", torch.zeros(()))
        self.needs_cpu = needs_cpu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.acc += x.sum()
        self.calls = getattr(self, "calls", 0) + 1
        self.last = x
        self.fc.weight.data.mul_(2)  # a write to a parameter, through .data
        scale = float(x.abs().sum().item() >= 0) if self.needs_cpu else 1.0
        return self.fc(x) * scale


@pytest.mark.parametrize(("device", "needs_cpu"), [("cpu", False), ("auto", True), ("meta", False)])
def test_a_forward_writing_its_buffer_changes_only_the_substitute(device: str, needs_cpu: bool) -> None:
    model = _Accumulates(needs_cpu)
    weight = model.fc.weight.detach().clone()
    before = snapshot(model)
    report = inspect(model, (2, 4), device=device)
    assert report.device == ("meta" if device == "meta" else "cpu")
    assert_same(before, snapshot(model))
    assert model.acc.item() == 0.0 and model.acc._version == 0
    assert not hasattr(model, "calls") and not hasattr(model, "last")
    assert torch.equal(model.fc.weight, weight)


# --- (c) threads -----------------------------------------------------------------------------------------


def test_four_threads_fifty_calls_each_on_one_model() -> None:
    model = create_model("d2l-lenet-bn", device="cpu")
    model.train()  # a non-default flag must survive too
    before = snapshot(model)
    expected = inspect(model, (2, 1, 28, 28), device="cpu")
    reports: list[Any] = []

    def work(i: int) -> None:
        for j in range(50):
            device = ("cpu", "meta")[(i + j) % 2]
            reports.append((device, inspect(model, (2, 1, 28, 28), device=device)))

    assert run_in_threads(work, range(4)) == []
    assert len(reports) == 200
    for device, report in reports:
        assert report.device == device
        assert [(r.name, r.output_shapes, r.macs, r.params) for r in report.records] == [
            (r.name, r.output_shapes, r.macs, r.params) for r in expected.records
        ]
        assert report.totals.trainable_params == expected.totals.trainable_params == 44_878
    assert_same(before, snapshot(model))
    assert model.training


# --- (d) the global random state --------------------------------------------------------------------


def test_cpu_passes_leave_the_global_random_state_alone() -> None:
    model = _Accumulates()
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    inspect(model, (2, 4), device="cpu")
    archinspect.fit(model, (2, 4), device="cpu")
    assert torch.equal(torch.get_rng_state(), state)
    # the dummy inputs are the same every time: a private generator with a fixed seed
    assert torch.equal(InputSpec((3, 4)).make("cpu"), InputSpec((3, 4)).make("cpu"))
    assert InputSpec((3, 4)).make("cpu").std() > 0


@pytest.mark.cuda
def test_cuda_passes_leave_the_cuda_random_state_alone() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    state = torch.cuda.get_rng_state()
    inspect(_Accumulates(), (2, 4), device="cuda")
    assert torch.equal(torch.cuda.get_rng_state(), state)


# --- the memory guard -------------------------------------------------------------------------------


@pytest.fixture
def free_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[int], None]:
    """Pretend the machine has ``n`` bytes available: a fake /proc/meminfo, no cgroup limit."""

    def set_free(n: int) -> None:
        meminfo = tmp_path / "meminfo"
        meminfo.write_text(f"MemTotal:       99999999 kB\nMemAvailable:   {n // 1024} kB\n")
        monkeypatch.setattr(guard, "MEMINFO", meminfo)
        monkeypatch.setattr(guard, "CGROUP", tmp_path / "no-cgroup")

    return set_free


def test_the_estimate_counts_weights_inputs_and_live_activations() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    est = estimate_pass(Target.of(model, (2, 3, 16, 16)))
    assert est.weights == (8 * 3 * 9 + 8 + 8 * 8 * 9 + 8) * 4 == 3232
    assert est.inputs == 2 * 3 * 16 * 16 * 4 == 6144
    # the largest leaf's input + output (the last conv: 8 channels in and out), no container held inside
    assert est.activations == 2 * (2 * 8 * 16 * 16 * 4) == 32768
    assert estimate_pass(Target.of(model, (2, 3, 16, 16)), PassOptions.check(dtype="bfloat16")).weights == 1616


def test_a_pass_that_would_not_fit_is_refused_with_one_line(
    cli: Callable[..., Any], free_memory: Callable[[int], None]
) -> None:
    free_memory(20 * 2**30)  # enough to build VGG-16, not to run it at 1024×1024
    result = cli("shapes", "vgg16", "--input", "64,3,1024,1024", "--device", "cpu")
    assert _one_line_error(result, 1) == (
        "not enough memory on cpu: this pass needs about 34.02 GiB (weights 527.79 MiB, inputs 768.00 MiB, "
        "activations 32.75 GiB) but 20.00 GiB is free; use --device 'meta' (shapes and FLOPs need no memory), "
        "a smaller batch, or --force to try anyway"
    )


def test_building_a_model_that_would_not_fit_is_refused(cli: Callable[..., Any], free_memory: Any) -> None:
    free_memory(100 * 2**20)
    for command in ("shapes", "flops", "fit"):
        result = cli(command, "vgg16", "--device", "cpu")
        assert _one_line_error(result, 1) == (
            "not enough memory on cpu: building vgg16 needs about 527.79 MiB (its parameters and buffers) but "
            "100.00 MiB is free; use --device 'meta' (shapes and FLOPs need no memory), or --force to try anyway"
        )


def test_force_runs_what_the_guard_would_refuse(cli: Callable[..., Any], free_memory: Any) -> None:
    free_memory(2**20)  # 1 MiB: resnet20 needs about 1.6 MiB
    with pytest.raises(guard.ResourceError, match="this pass needs about"):
        inspect(create_model("resnet20"), (1, 3, 32, 32), device="cpu")
    assert inspect(create_model("resnet20"), (1, 3, 32, 32), device="cpu", force=True).totals.params == 269_722
    result = cli("flops", "resnet20", "--device", "cpu", "--force", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert _one_line_error(cli("fit", "resnet20", "--device", "cpu"), 1).startswith("not enough memory on cpu")
    assert cli("fit", "resnet20", "--device", "cpu", "--force", "--format", "json").exit_code == 0


def test_bench_checks_the_largest_batch(free_memory: Any) -> None:
    from archinspect.bench import benchmark

    free_memory(2**20)
    with pytest.raises(guard.ResourceError, match="timing batch 64 needs about"):
        benchmark(create_model("resnet20"), (1, 3, 32, 32), device="cpu", batch_sizes=[1, 64], peak=False)


def test_the_free_memory_figure_comes_from_meminfo(free_memory: Any) -> None:
    free_memory(3 * 2**30)
    assert guard.free_bytes("cpu") == 3 * 2**30
    assert guard.free_bytes("meta") is None


# --- bounds on sizes and arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "99999999999999999999,3,32,32",
            "--input '99999999999999999999,3,32,32' is 3.07e+23 elements (1.23e+24 bytes as float32); no tensor "
            "can be that large (at most 2**63-1 bytes); give a smaller size",
        ),
        (
            "999999999999999999999999,3",
            "--input '999999999999999999999999,3': size 99999999999999999999… is past any tensor size; "
            "give a smaller one",
        ),
        (
            "1,3,999999999999,999999999999",
            "--input '1,3,999999999999,999999999999' is 3e+24 elements (1.2e+25 bytes as float32); no tensor can "
            "be that large (at most 2**63-1 bytes); give a smaller size",
        ),
        (
            "long:4611686018427387904,2",
            "--input 'long:4611686018427387904,2' is 9.22e+18 elements (7.38e+19 bytes as int64); no tensor can "
            "be that large (at most 2**63-1 bytes); give a smaller size",
        ),
    ],
)
def test_sizes_no_tensor_can_have_are_usage_errors(cli: Callable[..., Any], text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_input(text)
    assert str(err.value) == message.replace("--input ", "inputs=", 1)  # the library names its argument
    assert _one_line_error(cli("shapes", "resnet20", "--input", text), 2) == message
    with pytest.raises(UsageError, match="no tensor can be that large"):
        inspect(nn.Linear(2, 2), (2**62, 2))


def test_a_long_input_is_quoted_short() -> None:
    with pytest.raises(UsageError) as err:
        parse_input("1," * 50_000 + "z")
    assert len(str(err.value)) < 250 and "…" in str(err.value)


def test_unbounded_depths_are_refused_before_anything_is_built(cli: Callable[..., Any]) -> None:
    assert _one_line_error(cli("shapes", "resnet20", "--arg", "depth=2147483648"), 2) == (
        "resnet20: depth=2147483648 is not accepted; depth must be a whole number from 1 to 2,000"
    )
    assert _one_line_error(cli("shapes", "densenet-bc", "--arg", "depth=10000000000000000000"), 2) == (
        "densenet-bc-100: depth=10000000000000000000 is not accepted; depth must be a whole number from 1 to 2,000"
    )
    with pytest.raises(UsageError, match="depth must be a whole number from 1 to 2,000"):
        create_model("resnet20", depth=2**40)


@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("num_classes=-3", "num_classes=-3 is not accepted; num_classes must be a whole number from 1 to 1,048,576"),
        ("num_classes=0", "num_classes=0 is not accepted; num_classes must be a whole number from 1 to 1,048,576"),
        ("in_channels=-3", "in_channels=-3 is not accepted; in_channels must be a whole number from 1 to 4,096"),
        ("in_channels=0", "in_channels=0 is not accepted; in_channels must be a whole number from 1 to 4,096"),
        ("in_channels=2.5", "in_channels=2.5 is not accepted; in_channels must be a whole number from 1 to 4,096"),
        ("num_classes=true", "num_classes=True is not accepted; num_classes must be a whole number from 1 to 1,048,576"),  # noqa: E501
        ("dropout=1.5", "dropout=1.5 is not accepted; dropout must be a number from 0 to 1"),
        ("dropout=nan", "dropout='nan' is not accepted; dropout must be a number from 0 to 1"),
    ],
)
def test_constructor_arguments_out_of_range_exit_2(cli: Callable[..., Any], arg: str, message: str) -> None:
    assert _one_line_error(cli("shapes", "alexnet", "--arg", arg), 2) == f"alexnet: {message}"


def test_every_zoo_argument_has_a_bound() -> None:
    from archinspect.models.zoo._registry import ARG_RULES, all_entries

    for entry in all_entries().values():
        for key in entry.accepted_kwargs():
            assert key in entry.rules or key in ARG_RULES, (entry.name, key)
    assert get_entry("densenet-bc").check_args({"depth": "40"}) == {"depth": 40}
    assert get_entry("densenet-bc").check_args({"compression": 1}) == {"compression": 1}
    with pytest.raises(UsageError, match=r"compression must be in \(0, 1\]"):
        get_entry("densenet-bc").check_args({"compression": 0})


@pytest.mark.parametrize("dashes", [5_000, 100_000])
def test_a_deeply_nested_value_is_a_usage_error_not_a_recursion_error(cli: Callable[..., Any], dashes: int) -> None:
    value = "-" * dashes + "3"
    with pytest.raises(UsageError, match=rf"is {dashes + 1} characters long; at most 1000 are read"):
        parse_value(value)
    message = _one_line_error(cli("shapes", "resnet20", "--arg", f"num_classes={value}"), 2)
    assert message == f"--arg '--------------------'… is {dashes + 1} characters long; at most 1000 are read"


def test_nesting_within_the_length_limit_is_read_without_recursion_errors(cli: Callable[..., Any]) -> None:
    assert parse_value("-" * 999 + "3") == "-" * 999 + "3"  # too deep for Python's parser: kept as text
    assert parse_value("[" * 300 + "]" * 300) == "[" * 300 + "]" * 300
    assert parse_value("-3") == -3
    assert parse_kwargs(["blocks=(6,12)"]) == {"blocks": (6, 12)}


# --- one line, the right code ---------------------------------------------------------------------


def test_an_integer_input_is_the_convs_fault_on_meta_as_on_cpu(cli: Callable[..., Any]) -> None:
    meta = _one_line_error(cli("shapes", "resnet18", "--input", "long:1,3,32,32"), 1)
    cpu = _one_line_error(cli("shapes", "resnet18", "--input", "long:1,3,32,32", "--device", "cpu"), 1)
    assert meta == (
        "conv1 (Conv2d) failed on input 1×3×32×32: expected the input's dtype to match the weight's "
        "(float32) but got int64"
    )
    assert cpu.startswith("conv1 (Conv2d) failed on input 1×3×32×32: ")


def test_a_long_layer_path_is_shortened_in_the_message() -> None:
    model: nn.Module = nn.Conv2d(3, 8, 3)
    for _ in range(100):
        model = nn.Sequential(model)
    with pytest.raises(ModelRunError) as err:
        inspect(model, (1, 4, 8, 8))
    text = str(err.value)
    layer = text.split(" (Conv2d)")[0]
    assert len(layer) <= 80 and "…" in layer and layer.endswith(".0.0")
    assert text.endswith("expects 3 input channels but got 4 (input 1×4×8×8)")


@pytest.mark.parametrize(
    ("where", "source", "message"),
    [
        ("load", "import sys\nsys.exit(3)\n", "the file called sys.exit(3) while loading; a model file must not exit"),
        ("load", "raise KeyboardInterrupt\n", "the file raised KeyboardInterrupt while loading"),
        ("build", "import sys\n\ndef net():\n    sys.exit(4)\n", "net(...) called sys.exit(4) while building"),
        (
            "forward",
            "import sys\nfrom torch import nn\n\nclass Net(nn.Linear):\n    def __init__(self):\n"
            "        super().__init__(4, 4)\n\n    def forward(self, x):\n        sys.exit(5)\n",
            "Net.forward failed on input 1×4: called sys.exit(5)",
        ),
    ],
)
def test_user_code_that_exits_is_reported_not_obeyed(
    cli: Callable[..., Any], user_file: Any, where: str, source: str, message: str
) -> None:
    path = user_file(source)
    symbol = {"load": "Net", "build": "net", "forward": "Net"}[where]
    text = _one_line_error(cli("shapes", f"{path}:{symbol}", "--input", "1,4", "--device", "cpu"), 1)
    assert message in text


def test_fit_solve_on_a_1d_input_keeps_the_mismatch(cli: Callable[..., Any], user_file: Any) -> None:
    path = user_file(
        """
        from torch import nn

        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Linear(8, 4), nn.Linear(5, 2))
        """
    )
    result = cli("fit", f"{path}:Net", "--input", "1,8", "--solve", "--format", "json")
    assert result.exit_code == 1, result.stderr
    assert '"in_features"' in result.stdout and '"needed": 4' in result.stdout.replace("\n", "").replace("  ", " ")
    assert "input sizes not searched: input 1×8 has no 1, 2 or 3 spatial dimensions to search" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_api_raises_only_typed_errors() -> None:
    with pytest.raises(UsageError, match=r"^depth='deep' must be a whole number, 0 or more$"):
        inspect(nn.Linear(2, 2), (1, 2), depth="deep")
    with pytest.raises(UsageError, match=r"inspect\(\): TypeError"):
        inspect(nn.Linear(2, 2), (1, 2), kwargs=5)
    with pytest.raises(UsageError):
        inspect("resnet50", (1, 3, 32, 32))
    with pytest.raises(UsageError, match="^device='tpu' is not a device"):
        archinspect.fit(nn.Linear(2, 2), (1, 2), device="tpu")
    with pytest.raises(ModelRunError, match=r"^fc \(Linear\) expects 3 input features"):
        inspect(nn.Sequential(nn.Flatten()).add_module("fc", nn.Linear(3, 2)) or _flat_fc(), (1, 2))


def _flat_fc() -> nn.Module:
    model = nn.Sequential()
    model.add_module("fc", nn.Linear(3, 2))
    return model


def test_fit_defaults_to_auto_with_the_clis_fallback() -> None:
    import inspect as pyinspect

    from archinspect.core.options import PassOptions

    assert "device" not in pyinspect.signature(archinspect.fit).parameters  # one place: PassOptions
    assert pyinspect.signature(PassOptions.check).parameters["device"].default == "auto"
    result = archinspect.fit(_Accumulates(needs_cpu=True), (2, 4))
    assert result.device == "cpu"
    assert result.notes == [
        "an operator has no meta kernel (Tensor.item() cannot be called on meta tensors); ran on CPU instead"
    ]


def test_the_guards_estimate_is_invisible_to_a_callers_dispatch_mode() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    counts = []
    for force in (False, True):
        with FlopCounterMode(display=False) as counter:
            inspect(model, (2, 8), device="cpu", force=force)
        counts.append(counter.get_total_flops())
    assert counts == [2 * 2 * (8 * 16 + 16 * 4)] * 2


def test_every_public_function_raises_only_typed_errors() -> None:
    import inspect as pyinspect

    functions = [n for n in archinspect.__all__ if pyinspect.isfunction(getattr(archinspect, n, None))]
    assert {"inspect", "fit", "count_flops", "create_model", "benchmark", "diff"} <= set(functions)
    for name in functions:
        assert hasattr(getattr(archinspect, name), "__wrapped__"), f"{name} is not wrapped by typed_errors"
    assert issubclass(archinspect.ResourceError, archinspect.ModelRunError)


def test_a_huge_addressable_input_on_meta_fails_in_bounded_memory() -> None:
    """1×1×10⁹×10⁹ is addressable (4 EB as float32) but its first conv output is not: one line, exit 1.

    Run in a child limited to 6 GB of address space, so that a regression (receptive fields once kept two
    integers per unit of a 10⁹-unit axis) fails the test instead of the machine.
    """
    import resource
    import subprocess
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))

    code = "from archinspect.cli.app import main; main()"
    args = ["shapes", "d2l-lenet-bn", "--input", "1,1,1000000000,1000000000", "--format", "json"]
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, preexec_fn=limit
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "error: 0 (Conv2d) failed on input 1×1×1000000000×1000000000: Storage size calculation overflowed "
        "with sizes=[1, 6, 999999996, 999999996]"
    ]


def test_a_sys_exit_reaching_the_cli_is_reported(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import archinspect.analyses.shapes as shapes_module

    def exits(*args: Any, **kwargs: Any) -> None:
        raise SystemExit(7)

    monkeypatch.setattr(shapes_module, "inspect", exits)
    assert _one_line_error(cli("shapes", "resnet20"), 1) == "the model's code called sys.exit(7)"


@pytest.mark.parametrize(
    "args",
    [
        ("shapes", "resnet20", "--depth", "-1"),
        ("shapes", "resnet20", "--format", "xml"),
        ("shapes", "resnet20", "--bogus"),
        ("shapez", "resnet20"),
        ("fit", "resnet20", "--force=maybe"),
    ],
)
def test_clicks_own_usage_errors_are_one_line_exit_2(cli: Callable[..., Any], args: tuple[str, ...]) -> None:
    assert _one_line_error(cli(*args), 2)


def test_bench_refuses_from_the_cli_too(cli: Callable[..., Any], free_memory: Any) -> None:
    free_memory(2**20)  # resnet20's weights alone are 1.03 MiB
    result = cli("bench", "resnet20", "--device", "cpu", "--no-peak")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]  # after bench's own "machine busy" warning, when there is one
    assert last.startswith("error: not enough memory on cpu: building resnet20 needs about 1.03 MiB")
    assert "--force" in cli("bench", "--help").stdout


def test_a_wrapped_type_error_is_still_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"inspect\(\): TypeError") as err:
        inspect(nn.Linear(2, 2), (1, 2), kwargs=5)
    assert isinstance(err.value, UsageError) and isinstance(err.value.original, TypeError)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no internal chain in a notebook
