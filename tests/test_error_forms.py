"""Every error message that names a command or a flag on the command line names the Python call or argument
when the API raises it: the same one line otherwise. Each case: what the CLI prints (and its exit code), and
what the API's exception says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_downloads import BY_NAME
from test_harmless import free_memory  # noqa: F401 - the fixture

import archinspect
from archinspect.models.loading import create_model, load_model


def _cli_error(result: Any, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    (line,) = result.stderr.splitlines()
    return line.removeprefix("error: ")


def _api_error(call: Callable[[], Any], kind: type[Exception] = archinspect.ArchInspectError) -> str:
    with pytest.raises(kind) as err:
        call()
    assert err.value.__cause__ is None  # one line, no chained internal traceback
    return str(err.value)


def test_fit_is_a_command_there_and_a_function_here(cli: Any) -> None:
    tail = "finds the in_features it needs and the input sizes that fit"
    cli_text = _cli_error(cli("shapes", "d2l-alexnet", "--input", "1,1,96,96"), 1)
    api_text = _api_error(lambda: archinspect.inspect(create_model("d2l-alexnet", device="meta"), (1, 1, 96, 96)))
    head = "14 (Linear) expects 6400 input features but got 256 (input 1×256); "
    assert cli_text == head + f"`archinspect fit` {tail}"
    assert api_text == head + f"archinspect.fit(model, inputs) {tail}"


def test_the_zoo_list_is_a_command_there_and_a_function_here(cli: Any) -> None:
    assert _cli_error(cli("shapes", "qqqqqq"), 2) == "unknown model 'qqqqqq'; see `archinspect list`"
    assert _api_error(lambda: create_model("qqqqqq")) == "unknown model 'qqqqqq'; see archinspect.list_models()"
    empty = "MODEL is empty; give a zoo name (see {}), FILE.py:Symbol or pkg.mod:Symbol"
    assert _cli_error(cli("shapes", " "), 2) == empty.format("`archinspect list`")
    assert _api_error(lambda: load_model(" ")) == empty.format("archinspect.list_models()")


def test_a_constructor_argument_is_arg_there_and_a_keyword_here(cli: Any, user_file: Any) -> None:
    path: Path = user_file(BY_NAME, "forms_dl.py")
    cli_text = _cli_error(cli("shapes", f"{path}:Net", "--input", "1,4"), 1)
    api_text = _api_error(lambda: archinspect.summary(f"{path}:Net", (1, 4)))
    why = "; its default encoder_weights='imagenet' asks for weights"
    assert cli_text.endswith(f"archinspect never downloads: pass --arg encoder_weights=None{why}")
    assert api_text.endswith(f"archinspect never downloads: pass encoder_weights=None{why}")
    assert archinspect.summary(f"{path}:Net", (1, 4), encoder_weights=None).totals.params == 4 * 2 + 2


def test_force_and_device_are_flags_there_and_arguments_here(
    cli: Any, free_memory: Callable[[int], None]  # noqa: F811 - the fixture
) -> None:
    free_memory(100 * 2**20)
    head = "not enough memory on cpu: building vgg16 needs about 527.79 MiB (its parameters and buffers) but "
    assert _cli_error(cli("shapes", "vgg16", "--device", "cpu"), 1) == head + (
        "100.00 MiB is free; use --device 'meta' (shapes and FLOPs need no memory), or --force to try anyway"
    )
    assert _api_error(lambda: create_model("vgg16", device="cpu")) == head + (
        "100.00 MiB is free; use device='meta' (shapes and FLOPs need no memory), or force=True to try anyway"
    )


def test_budget_and_clock_are_flags_there_and_arguments_here(cli: Any) -> None:
    assert _cli_error(cli("memory", "resnet20", "--budget", "0"), 2) == "--budget '0' must be more than 0 bytes"
    resnet20 = create_model("resnet20", device="meta")
    api = _api_error(lambda: archinspect.largest_batch(resnet20, (1, 3, 32, 32), 0), archinspect.UsageError)
    assert api == "budget_bytes=0 must be more than 0 bytes"
    thread = "times one thread's CPU time: use it with"
    assert _cli_error(cli("profile", "resnet20", "--clock", "thread", "--device", "cpu"), 2) == (
        f"--clock 'thread' {thread} --threads 1"
    )
    model = create_model("resnet20")
    api = _api_error(lambda: archinspect.profile(model, (1, 3, 32, 32), device="cpu", clock="thread"))
    assert api == f"clock='thread' {thread} threads=1"
