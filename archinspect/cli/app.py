"""The ``archinspect`` command line: a Typer app; each command lives in ``archinspect.cli.<name>``.

Nothing here imports torch: ``archinspect --help`` stays instant. Commands import the library when run.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

# Only Typer's public API is used (archinspect/cli/params.py says what and how): no upper bound on Typer.
import typer

from archinspect import __version__
from archinspect.cli.params import Group, click_error_line

COMMANDS = ("list", "shapes", "flops", "fit", "memory", "bench", "profile", "diff")


class _Group(Group):
    """The command group: every usage error, ours or Click's, is one ``error:`` line on stderr and exit 2 (the
    same shape as archinspect's other errors) instead of a usage block; no words at all show the help."""

    commands_in_order = COMMANDS

    def main(self, args: Sequence[str] | None = None, *rest: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(args, *rest, standalone_mode=False, **kwargs)
        words = list(sys.argv[1:] if args is None else args)
        if not words and not any(name.endswith("_COMPLETE") for name in os.environ):  # shell completion has none
            words = ["--help"]
        try:
            rv = super().main(words, *rest, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except Exception as exc:
            from archinspect.cli.common import error_line

            found = error_line(exc)
            if found is None:
                line = click_error_line(exc)
                if line is None:
                    raise
                found = (f"error: {line}", getattr(exc, "exit_code", 2))
            typer.echo(found[0], err=True)
            sys.exit(found[1])
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
