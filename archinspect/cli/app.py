"""The ``archinspect`` command line: a Typer app; each command lives in ``archinspect.cli.<name>``.

Nothing here imports torch: ``archinspect --help`` stays instant. Commands import the library when run.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import Any

# typer 0.27-0.28 carries its own click. pyproject pins it below 0.29, which validates every parameter
# with pydantic: 0.14 s of imports on each run (benchmarks/bench_shapes.py).
import typer
from typer._click import exceptions as click_exceptions
from typer.core import TyperGroup

from archinspect import __version__

_BAD_VALUE = re.compile(r"^'?(?P<value>.*?)'? is (?P<what>not .*?)\.?$")


def _bad_value(reason: str) -> str:
    """Click's "'x' is not one of 'a', 'b'." / "-1 is not in the range x>=0." as "'x': accepted: a, b" /
    "'-1': not in the range x>=0": the bad value first, then what is accepted."""
    found = _BAD_VALUE.match(reason)
    if not found:
        return f": {reason[:1].lower()}{reason[1:]}"
    value, what = found.group("value"), found.group("what")
    if what.startswith("not one of "):
        return f"{value!r}: accepted: {what.removeprefix('not one of ').replace(chr(39), '')}"
    return f"{value!r}: {what.replace('valid int range', 'valid integer').replace('valid float range', 'valid number')}"


def usage_error_line(exc: Any) -> str:
    """Click's own usage errors (bad option value, unknown option or command, missing argument) as one line
    in the style of archinspect's other errors: the bad value, then what is accepted."""
    message = " ".join(exc.format_message().split())
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path} -h" if ctx is not None else "archinspect -h"
    param = getattr(exc, "param", None)
    if isinstance(exc, click_exceptions.NoSuchOption):
        guess = f"; did you mean {' or '.join(sorted(exc.possibilities))}?" if exc.possibilities else ""
        return f"unknown option {exc.option_name}{guess} ({where} lists the options)"
    if isinstance(exc, click_exceptions.MissingParameter) and param is not None:
        what = (param.metavar or param.name.upper()) if param.param_type_name == "argument" else param.opts[0]
        return f"missing {param.param_type_name} {what} ({where} shows examples)"
    if isinstance(exc, click_exceptions.BadParameter) and param is not None and param.opts:
        return f"{max(param.opts, key=len)} {_bad_value(message.partition(': ')[2] or message)}"
    command = re.match(r"No such command '(.*)'\.(.*)", message)
    if command:
        guess = command.group(2).strip().replace("Did you mean", "did you mean")
        names = ", ".join(COMMANDS)
        return f"unknown command {command.group(1)!r}{'; ' + guess if guess else ''} (commands: {names})"
    return f"{message[:1].lower()}{message[1:]} ({where} for help)"


class _Group(TyperGroup):
    """The command group: Click's usage errors become one ``error:`` line on stderr, exit 2, for every command
    (the same shape as archinspect's own errors) instead of a usage block."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click_exceptions.ClickException as exc:
            typer.echo(f"error: {usage_error_line(exc)}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="archinspect",
    help="Inspect convolutional network architectures: per-layer shapes, parameters, exact FLOPs/MACs, "
    "the input sizes a model accepts, and trustworthy forward benchmarks.",
    cls=_Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

COMMANDS = ("list", "shapes", "flops", "fit", "memory", "bench", "profile", "diff")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archinspect {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Inspect convolutional network architectures."""


for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"archinspect.cli.{_name}")
    except ModuleNotFoundError as _exc:  # a command still being built is simply absent
        if _exc.name != f"archinspect.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    from archinspect.cli.common import pause_gc

    pause_gc()  # until the command's imports are done: see pause_gc
    app()
