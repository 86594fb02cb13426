"""Every way `archinspect shapes` can be asked the impossible: one line on stderr, the right exit code, no
traceback (2 for a usage error, 1 for a model that cannot run) — and a traceback only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.core.inputs import INPUT_FORMS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ALEXNET = EXAMPLES / "d2l_alexnet.py"

USER_PY = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self, width: int = 4):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3)

        def forward(self, x):
            return self.conv(x)

    def broken():
        raise ValueError("no weights here")

    number = 3
"""


def _error(result: Any, code: int) -> str:
    """The single stderr line of a failed run, checked for exit code, clean stdout and no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", f"--input 'abc': 'abc' is not a whole number; expected {INPUT_FORMS}"),
        ("1,3,0,32", f"--input '1,3,0,32': size 0 must be positive; expected {INPUT_FORMS}"),
        ("-1,3", f"--input '-1,3': size -1 must be positive; expected {INPUT_FORMS}"),
        ("1,,3", f"--input '1,,3' has an empty size; expected {INPUT_FORMS}"),
        ("", f"--input '' is empty; expected {INPUT_FORMS}"),
        ("1,1,1,1,1,1,1,1,1", "--input '1,1,1,1,1,1,1,1,1' has 9 dimensions; at most 8 are accepted"),
    ],
)
def test_bad_input_forms_exit_2(cli: Callable[..., Any], value: str, message: str) -> None:
    assert _error(cli("shapes", "d2l-alexnet", "--input", value), 2) == message


def test_unknown_model_suggests_the_closest_names(cli: Callable[..., Any]) -> None:
    message = _error(cli("shapes", "resnett50"), 2)
    assert message == "unknown model 'resnett50'; did you mean resnet50, resnet56, resnet20?"


def test_missing_file(cli: Callable[..., Any], tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    assert _error(cli("shapes", f"{missing}:Net", "--input", "1,3,8,8"), 2) == (
        f"model file '{missing}' does not exist; expected FILE.py:Symbol naming an existing file"
    )


def test_syntax_error_in_the_file(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file("from torch import nn\n\nnet = nn.Sequential(\n    nn.ReLU(),,\n)\n", "bad.py")
    assert (
        _error(cli("shapes", f"{path}:net", "--input", "1,3,8,8"), 2)
        == f"{path}:4: syntax error: invalid syntax"
    )


def test_missing_symbol_lists_what_the_file_offers(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", f"{ALEXNET}:Net", "--input", "1,1,224,224"), 2) == (
        f"{ALEXNET} has no symbol 'Net'; did you mean net?"
    )
    assert _error(cli("shapes", f"{ALEXNET}:vgg", "--input", "1,1,224,224"), 2) == (
        f"{ALEXNET} has no symbol 'vgg'; it defines alexnet, net"
    )


def test_symbol_that_is_no_model(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(USER_PY)
    assert _error(cli("shapes", f"{path}:number", "--input", "1,3,8,8"), 2) == (
        "net.py:number is of type int; expected an nn.Module subclass, a factory function returning a "
        "module, or a module instance"
    )


def test_factory_that_raises_exits_1(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(USER_PY)
    message = _error(cli("shapes", f"{path}:broken", "--input", "1,3,8,8"), 1)
    assert message == "net.py:broken(...) raised ValueError: no weights here"


def test_constructor_argument_it_does_not_take(
    cli: Callable[..., Any], user_file: Callable[..., Path]
) -> None:
    path = user_file(USER_PY)
    assert _error(cli("shapes", f"{path}:Net", "--arg", "depth=3", "--input", "1,3,8,8"), 2) == (
        "net.py:Net: Net.__init__() got an unexpected keyword argument 'depth'; accepted: width"
    )


def test_user_model_without_input(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(USER_PY)
    assert _error(cli("shapes", f"{path}:Net"), 2) == (
        "net.py:Net has no default input; give one, batch first: --input 1,3,32,32 (it runs and every Linear fits)"
    )


def test_cuda_without_cuda(cli: Callable[..., Any]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
    assert _error(cli("shapes", "d2l-alexnet", "--device", "cuda"), 2) == (
        f"--device 'cuda': CUDA is not available ({why}); use --device 'cpu' or --device 'meta'"
    )


def test_unknown_device(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", "d2l-alexnet", "--device", "gpu"), 2) == (
        "--device 'gpu' is not a device; accepted: auto, meta, cpu, cuda, cuda:N"
    )


@pytest.mark.parametrize("device", ["auto", "cpu"])
def test_input_too_small_names_the_layer_and_the_smallest_input(cli: Callable[..., Any], device: str) -> None:
    result = cli("shapes", f"{ALEXNET}:alexnet", "--input", "1,1,32,32", "--device", device)
    assert _error(result, 1) == (
        "input 32×32 is too small: 5 (MaxPool2d) would shrink 2×2 to 0×0; smallest input that runs is 65×65"
    )


def test_input_too_small_for_a_zoo_model(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", "vgg11", "--input", "1,3,16,16"), 1) == (
        "input 16×16 is too small: features.20 (MaxPool2d) would shrink 1×1 to 0×0; "
        "smallest input that runs is 32×32"
    )


def test_wrong_channel_count(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", f"{ALEXNET}:net", "--input", "1,3,224,224"), 1) == (
        "0 (Conv2d) expects 1 input channel but got 3 (input 1×3×224×224)"
    )
    assert _error(
        cli("shapes", f"{EXAMPLES / 'wrong_channels.py'}:TwoMistakes", "--input", "1,3,32,32"), 1
    ) == ("conv2 (Conv2d) expects 8 input channels but got 16 (input 1×16×16×16)")


def test_linear_mismatch_suggests_fit(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", f"{ALEXNET}:alexnet", "--input", "1,1,100,100"), 1) == (
        "14 (Linear) expects 6400 input features but got 1024 (input 1×1024); `archinspect fit` finds the "
        "in_features it needs and the input sizes that fit"
    )


def test_bad_save_suffix_and_unwritable_output(cli: Callable[..., Any], tmp_path: Path) -> None:
    args = ("shapes", "d2l-lenet-bn")
    assert _error(cli(*args, "--save", str(tmp_path / "r.png")), 2) == (
        f"--save '{tmp_path / 'r.png'}': accepted file types are .svg and .html"
    )
    blocked = tmp_path / "missing-dir" / "r.json"
    assert _error(cli(*args, "-f", "json", "-o", str(blocked)), 2) == (
        f"--output '{blocked}': cannot write (No such file or directory)"
    )


@pytest.mark.slow
def test_debug_shows_the_traceback() -> None:
    env = {**os.environ, "COLUMNS": "200"}
    model = f"{EXAMPLES / 'wrong_channels.py'}:TwoMistakes"
    cmd = [sys.executable, "-m", "archinspect", "shapes", model, "--input", "1,3,32,32"]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    debug = subprocess.run([*cmd, "--debug"], capture_output=True, text=True, env=env, timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert (
        "archinspect.errors.ModelRunError: conv2 (Conv2d) expects 8 input channels but got 16" in debug.stderr
    )
    assert "RuntimeError" in debug.stderr  # the chained original error is shown too
