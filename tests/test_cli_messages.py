"""What a person reads around the tables: one-line usage errors from Click's own checks, --help with choices,
one option order and an Examples block, shell completion, the batch-first hint, labels with the real
arguments, the families, the input a model without a default accepts, and --wide / --columns."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.text import fmt_bytes

COMMANDS = ("list", "shapes", "flops", "fit", "memory", "bench", "profile", "diff", "graph")


def _error(result: Any, code: int) -> str:
    """The one stderr line of a failed run (exit ``code``, nothing on stdout, no traceback)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shapes", "resnet18", "--format", "yaml"], "error: --format 'yaml': accepted: table, json, csv, markdown"),
        (
            ["flops", "resnet18", "--dtype", "int8"],
            "error: --dtype 'int8': accepted: float32, float16, bfloat16, float64",
        ),
        (["fit", "resnet18", "--mode", "test"], "error: --mode 'test': accepted: eval, train"),
        (["flops", "resnet18", "--by", "layer"], "error: --by 'layer': accepted: module, op"),
        (["shapes", "resnet18", "--depth", "x"], "error: --depth 'x': not a valid integer"),
        (["shapes", "resnet18", "--depth", "-1"], "error: --depth '-1': not in the range x>=0"),
        (["bench", "--warmup-time", "soon"], "error: --warmup-time 'soon': not a valid number"),
        (
            ["shapes", "resnet18", "--colums", "layer"],
            "error: unknown option --colums; did you mean --columns? (archinspect shapes -h lists the options)",
        ),
        (
            ["shap", "resnet18"],
            "error: unknown command 'shap'; did you mean 'shapes'? "
            "(commands: list, shapes, flops, fit, memory, bench, profile, diff, graph)",
        ),
        (["shapes"], "error: missing argument MODEL (archinspect shapes -h shows examples)"),
    ],
)
def test_click_usage_errors_are_one_line(cli: Callable[..., Any], args: list[str], message: str) -> None:
    assert _error(cli(*args), 2) == message


def test_shell_completion_is_on(cli: Callable[..., Any]) -> None:
    import subprocess

    top = cli("--help")
    assert top.exit_code == 0
    assert "--install-completion" in top.stdout and "--show-completion" in top.stdout
    script = Path(sys.executable).with_name("archinspect")  # the installed command, run from bash: it detects
    line = f"{shlex.quote(str(script))} --show-completion; exit $?"  # its shell (a second command keeps bash
    # from exec-ing the first, so bash is the parent process)
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "_archinspect_completion()" in done.stdout and "_ARCHINSPECT_COMPLETE=complete_bash" in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_values_not_click_types(cli: Callable[..., Any], command: str) -> None:
    """Every option's value is named for what it means (N, SHAPE, SECONDS, the choices), never Click's type."""
    text = cli(command, "--help").stdout
    assert not re.search(r"<(int|float|text|path)( range)?>|\b(INTEGER|FLOAT|TEXT|PATH)\b", text), text


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_one_command_per_line(cli: Callable[..., Any], command: str) -> None:
    import importlib

    module = importlib.import_module(f"archinspect.cli.{command}")
    text = cli(command, "--help").stdout
    head, _, examples = text.partition("\n  Examples:\n")
    assert examples, text
    joined = examples.replace(" \\\n", " ")  # a long example continues on the next line, shell style
    lines = [" ".join(line.split()) for line in joined.strip().splitlines()]
    assert lines == list(module.EXAMPLES)  # whole commands, one a line (continued with \), nothing rewrapped
    assert all(line.startswith(f"archinspect {command}") for line in lines)
    assert "{MODEL}" not in head and "<str>" not in head and "<path>" not in head


SHARED = ["--input", "--arg", "--device", "--dtype", "--mode", "--format", "--output", "--save", "--wide", "--columns"]


@pytest.mark.parametrize("command", COMMANDS)
def test_shared_options_in_one_order_with_choices(cli: Callable[..., Any], command: str) -> None:
    text = cli(command, "--help").stdout.partition("\n  Examples:\n")[0]
    options = re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", text, re.M)
    shared = [o for o in options if o in SHARED]
    assert shared == [o for o in SHARED if o in shared]
    if command == "graph":  # a picture, not a table: its own formats, no --save, --wide, --columns
        assert shared[-2:] == ["--format", "--output"]
        assert "-f, --format <svg|html|dot|mermaid|json>" in text
    else:
        assert shared[-5:] == ["--format", "--output", "--save", "--wide", "--columns"]
        assert "-f, --format <table|json|csv|markdown>" in text
    if "--device" in shared:
        assert re.search(r"-d, --device <auto\|(meta\|)?cpu\|cuda\|cuda:N>", text)
    if "--dtype" in shared:
        assert re.search(r"--dtype <float32\|float16\|bfloat16(\|float64)?>", text)


@pytest.mark.parametrize("command", ["shapes", "flops", "fit"])
def test_missing_batch_dimension_hint(cli: Callable[..., Any], command: str) -> None:
    assert _error(cli(command, "resnet18", "--input", "3,224,224"), 2) == (
        "error: --input '3,224,224' has no batch dimension: the first layer conv1 (Conv2d, in_channels=3) takes "
        "4-d input, batch first; did you mean --input '1,3,224,224'?"
    )


def test_missing_batch_dimension_hint_in_bench(cli: Callable[..., Any]) -> None:
    result = cli("bench", "d2l-lenet-bn", "--device", "cpu", "--input", "1,28,28", "--no-peak")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (  # a busy-machine warning may come first
        "error: --input '1,28,28' has no batch dimension: the first layer 0 (Conv2d, in_channels=1) takes "
        "4-d input, batch first; did you mean --input '1,1,28,28'?"
    )


def test_label_shows_the_arguments_given(cli: Callable[..., Any]) -> None:
    result = cli("shapes", "densenet-bc", "--arg", "depth=40", "--depth", "0", "--columns", "layer,params")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0].strip() == "densenet-bc:depth=40 · input 1,3,32,32"
    assert "Params: 176,122 " in result.stdout


def test_unknown_family_lists_the_families(cli: Callable[..., Any]) -> None:
    assert _error(cli("list", "--family", "Nope", "--no-figures"), 2) == (
        "error: --family 'Nope': no such family; families: AlexNet, D2L, DenseNet, DenseNet-CIFAR, GoogLeNet, "
        "Inception, Inception-ResNet-v2, Inception-v4, ResNet, ResNet-CIFAR, SENet, VGG, Xception"
    )


FIXED_SIZE = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4 * 6 * 6, 10)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))
"""


def test_file_model_without_input_gets_one_it_accepts(cli: Callable[..., Any], user_file: Callable[..., Any]) -> None:
    path = user_file(FIXED_SIZE)
    assert _error(cli("fit", f"{path}:Net"), 2) == (
        "error: net.py:Net has no default input; give one, batch first: --input 1,3,8,8 (it runs and every Linear fits)"
    )
    assert cli("fit", f"{path}:Net", "--input", "1,3,8,8").exit_code == 0


def test_units_up_to_pib() -> None:
    assert fmt_bytes(2454.66 * 2**30) == "2.40 TiB"
    assert fmt_bytes(3 * 2**50) == "3.00 PiB"
    assert fmt_bytes(1023) == "1023 B"


def test_columns_and_wide(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    narrow = cli("shapes", "densenet-bc", "--depth", "1")
    assert narrow.exit_code == 0
    assert "hidden at 80 columns: Input shape, Share, Output size (--wide shows them)" in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    wide = cli("shapes", "densenet-bc", "--depth", "1", "--wide")
    assert "hidden at" not in wide.stdout and max(len(line) for line in wide.stdout.splitlines()) > 80
    picked = cli("shapes", "densenet-bc", "--depth", "1", "--columns", "layer,Output shape,share")
    header = next(line for line in picked.stdout.splitlines() if line.startswith("┃"))
    assert [h.strip() for h in header.strip("┃").split("┃")] == ["Layer", "Output shape", "Share"]
    assert _error(cli("shapes", "densenet-bc", "--columns", "layer,flops"), 2) == (
        "error: --columns 'layer,flops': unknown column 'flops'; accepted: input-shape, layer, macs, output-shape, "
        "output-size, params, share, type"
    )


def test_piped_output_has_a_fixed_width(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = cli("shapes", "resnet50").stdout
    assert 100 < max(len(line) for line in out.splitlines()) <= 120
    assert "hidden at" not in out  # resnet50's 8 columns fit in 120


def test_bench_progress_follows_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.progress import TimeRemainingColumn

    from archinspect.cli.bench import _progress

    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    progress = _progress(3)
    advance = progress.__enter__()
    try:
        assert progress.bar is not None
        assert any(isinstance(c, TimeRemainingColumn) for c in progress.bar.columns)
        advance("resnet18 batch 1", 1)
        assert progress.bar.tasks[0].completed == 1
    finally:
        progress.__exit__(None, None, None)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    quiet = _progress(3)
    quiet.__enter__()
    assert quiet.bar is None
