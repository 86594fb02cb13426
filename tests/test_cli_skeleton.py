"""The command skeleton (``command_run``) and the one place library errors get the command line's words.

A command is its options, a docstring and a body inside ``command_run``: errors, notes, output and heap
settling are the skeleton's. The library words its errors in its own parameters (``mode='test'``); the
command line says its flags (``--mode 'test'``), mapped in ``archinspect.cli.common.cli_message`` only.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from torch import nn
from typer.testing import CliRunner

import archinspect
from archinspect.cli.common import (
    DebugOpt,
    FormatOpt,
    OutputFormat,
    cli_message,
    command_run,
    flag_of,
    register_command,
)
from archinspect.core.guard import ResourceError
from archinspect.errors import ModelRunError, UsageError

CLI = Path(__file__).resolve().parent.parent / "archinspect" / "cli"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (UsageError("mode='test' is not a mode; accepted: eval, train", param="mode"),
         "--mode 'test' is not a mode; accepted: eval, train"),
        (UsageError("budget_bytes='lots' is not a size", param="budget_bytes"), "--budget 'lots' is not a size"),
        (UsageError("inputs='3,8,8' has no batch dimension; did you mean inputs='1,3,8,8'?", param="inputs"),
         "--input '3,8,8' has no batch dimension; did you mean --input '1,3,8,8'?"),
        (
            UsageError("cuda_graph=True needs a CUDA device (use device='cuda')", "cuda_graph", mentions=("device",)),
            "--cuda-graph needs a CUDA device (use --device 'cuda')",
        ),
        # a constructor argument's own key=value, and a name that only ends like a parameter, stay as written
        (UsageError("args='depth' is not key=value (e.g. depth=40, max_depth=2)", param="args"),
         "--arg 'depth' is not key=value (e.g. depth=40, max_depth=2)"),
        (UsageError("no default input; depth=3 is fine", param="inputs"), "no default input; depth=3 is fine"),
        (ResourceError("needs 3 GiB; use device='meta', or force=True to try anyway", mentions=("device", "force")),
         "needs 3 GiB; use --device 'meta', or --force to try anyway"),
        (ModelRunError("fc (Linear) expects 3 input features"), "fc (Linear) expects 3 input features"),
    ],
)
def test_library_words_become_flags_in_one_place(error: Exception, line: str) -> None:
    assert cli_message(error) == line


def test_flags_of_parameters() -> None:
    assert [flag_of(p) for p in ("mode", "max_time", "inputs", "kwargs", "args", "budget_bytes", "batch_sizes")] == [
        "--mode", "--max-time", "--input", "--input", "--arg", "--budget", "--batch"
    ]


def test_the_library_names_its_parameters_not_flags() -> None:
    with pytest.raises(UsageError) as info:
        archinspect.fit(nn.Linear(2, 2), (1, 2), device="tpu")
    assert str(info.value) == "device='tpu' is not a device; accepted: auto, meta, cpu, cuda, cuda:N"
    assert info.value.param == "device" and "--" not in str(info.value)
    with pytest.raises(UsageError) as info:
        archinspect.benchmark(nn.Linear(2, 2), (1, 2), device="cpu", threads=0, peak=False)
    assert str(info.value).startswith("threads=0: accepted: a whole number from 1 to ")
    assert info.value.param == "threads"


def test_inspect_names_mode_not_the_flag() -> None:
    with pytest.raises(UsageError) as info:
        archinspect.inspect(nn.Linear(2, 2), (1, 2), mode="test")
    assert str(info.value).startswith("mode='test' is not a mode") and "--" not in str(info.value)
    assert info.value.param == "mode"
    assert cli_message(info.value).startswith("--mode 'test' is not a mode")


def test_the_command_line_prints_the_flag(cli: Any) -> None:
    result = cli("shapes", "d2l-alexnet", "--device", "tpu")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "error: --device 'tpu' is not a device; accepted: auto, meta, cpu, cuda, cuda:N\n"


# --- a new command is one short file --------------------------------------------------------------------------


class _Rows:
    def __init__(self, n: int) -> None:
        self.n = n

    def rich(self) -> list[Any]:
        return [f"{self.n} rows"]

    def json(self) -> dict[str, Any]:
        return {"rows": self.n}

    def csv(self) -> str:
        return f"rows\n{self.n}\n"

    def markdown(self) -> str:
        return f"| rows |\n|---|\n| {self.n} |\n"


def _count(
    n: Annotated[int, typer.Argument(metavar="N", help="How many.")],
    format: FormatOpt = OutputFormat.table,  # noqa: A002
    debug: DebugOpt = False,
) -> None:
    """Count to N."""
    with command_run(debug, format) as run:
        if n < 0:
            raise UsageError(f"depth={n} must be 0 or more", param="depth")
        if n == 13:
            raise RuntimeError("unlucky\nnumber")
        run.show(_Rows(n), notes=[f"counted {n}"])
        if n == 0:
            run.fail(1)


def _app() -> typer.Typer:
    from archinspect.cli.app import _Group

    app = typer.Typer(cls=_Group, rich_markup_mode=None, add_completion=False)
    register_command(app, "count", _count, ("archinspect count 3",))

    @app.callback()
    def _root() -> None:
        """A test app."""

    return app


def test_a_new_command_gets_errors_notes_and_output_from_the_skeleton() -> None:
    runner = CliRunner()
    ok = runner.invoke(_app(), ["count", "3", "--format", "json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout) == {"rows": 3} and ok.stderr == "note: counted 3\n"
    bad = runner.invoke(_app(), ["count", "--", "-1"])
    assert (bad.exit_code, bad.stdout, bad.stderr) == (2, "", "error: --depth -1 must be 0 or more\n")
    crash = runner.invoke(_app(), ["count", "13"])
    assert crash.exit_code == 1
    assert crash.stderr == "error: RuntimeError: unlucky number (rerun with --debug for the traceback)\n"
    assert runner.invoke(_app(), ["count", "0"]).exit_code == 1  # run.fail after the output
    words = runner.invoke(_app(), ["count", "3", "--format", "yaml"])
    assert words.stderr == "error: --format 'yaml': accepted: table, json, csv, markdown\n"
    usage = runner.invoke(_app(), ["count", "--help"]).stdout
    assert usage.startswith("Usage: ") and "count [OPTIONS] N\n" in usage and "archinspect count 3" in usage


SKELETON_ONLY = {"handle_errors", "emit", "say", "settle_heap", "load_target", "stderr_console"}


@pytest.mark.parametrize("command", ["list", "shapes", "flops", "fit", "memory", "bench", "profile", "diff"])
def test_every_command_runs_inside_the_skeleton(command: str) -> None:
    """Each command's body is a ``with command_run(...)``; none reaches past it for errors, notes or output."""
    tree = ast.parse((CLI / f"{command}.py").read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not imported & SKELETON_ONLY - {"stderr_console"}, imported & SKELETON_ONLY
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "register"]
    runs = [
        n
        for f in functions
        for n in ast.walk(f)
        if isinstance(n, ast.With) and any(getattr(i.context_expr.func, "id", "") == "command_run" for i in n.items)
    ]
    assert len(runs) == 1


# --- the library never words an error in flags ----------------------------------------------------------------

PACKAGE = CLI.parent
_FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


def flags_in_raises(source: str) -> list[str]:
    """``line: --flag`` for every flag spelled in the text of a ``raise`` statement."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise):
            for part in ast.walk(node):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found += [f"{node.lineno}: {flag}" for flag in _FLAG.findall(part.value)]
    return found


def _library_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if CLI not in p.parents]


def test_library_errors_name_parameters_not_flags() -> None:
    spelled = [
        f"{path.relative_to(PACKAGE)}:{use}"
        for path in _library_files()
        for use in flags_in_raises(path.read_text(encoding="utf-8"))
    ]
    assert not spelled, "library errors that speak the command line's flags:\n" + "\n".join(spelled)


def test_the_flag_finder_sees_fstrings_and_ignores_parameters() -> None:
    source = 'def f(x):\n    raise ValueError(f"--mode {x!r} is bad; use --device cpu")\n    raise E("mode=x-y --")\n'
    assert flags_in_raises(source) == ["2: --mode", "2: --device"]
