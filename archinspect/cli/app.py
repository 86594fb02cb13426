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
from archinspect.text import CONVENTION

COMMANDS = ("list", "shapes", "flops", "fit", "memory", "bench", "profile", "diff", "graph")


def wrap_for_terminal(text: str) -> str:
    """``text`` wrapped between words for the terminal stderr is (never mid-word); unchanged when stderr is
    piped, so that a log keeps one line per message."""
    import textwrap

    try:
        if not sys.stderr.isatty():
            return text
        width = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return text
    return textwrap.fill(text, width=max(width - 1, 20), break_long_words=False, break_on_hyphens=False)


class _Group(Group):
    """The command group: every usage error, ours or Click's, is one ``error:`` line on stderr and exit 2 (the
    same shape as archinspect's other errors) instead of a usage block; no words at all show the help."""

    commands_in_order = COMMANDS

    def main(self, args: Sequence[str] | None = None, *rest: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(args, *rest, standalone_mode=False, **kwargs)
        words = list(sys.argv[1:] if args is None else args)
        if not words and not any(name.endswith("_COMPLETE") for name in os.environ):  # shell completion has none
            typer.echo(short_usage(), err=True)  # bare `archinspect`: what it does and where to start
            sys.exit(2)
        try:
            rv = super().main(words, *rest, standalone_mode=False, **kwargs)
        except typer.Abort:  # Click's answer to a KeyboardInterrupt outside a command's body
            from archinspect.cli.safety import EXIT_INTERRUPTED, interrupted

            if interrupted():
                sys.exit(EXIT_INTERRUPTED)
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
            typer.echo(wrap_for_terminal(found[0]), err=True)
            sys.exit(found[1])
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="archinspect",
    help="Inspect convolutional network architectures: per-layer shapes, parameters, exact FLOPs/MACs, "
    "the input sizes a model accepts, and trustworthy forward benchmarks.\n\nConvention: " + CONVENTION + ".",
    cls=_Group,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

SUMMARIES = {
    "list": "the zoo: names, default inputs, params and MACs",
    "shapes": "every layer's input and output shapes, params and MACs",
    "flops": "FLOPs and MACs per module and per operator",
    "fit": "which layer's declared size disagrees with what it receives",
    "memory": "peak memory of inference or a training step; the batch that fits",
    "bench": "forward latency and throughput",
    "diff": "two models side by side",
    "graph": "the architecture as a picture: dataflow, shapes, costs",
    "profile": "per-layer device time against the measured roofs",
}


def short_usage() -> str:
    """What bare ``archinspect`` prints: the usage line, one line per command, where to read more."""
    width = max(map(len, COMMANDS))
    lines = ["usage: archinspect COMMAND [ARGS]...", "", "commands:"]
    lines += [f"  {name:<{width}}  {SUMMARIES.get(name, '')}".rstrip() for name in COMMANDS]
    lines += ["", "Start with: archinspect shapes resnet18"]
    lines += ["archinspect COMMAND -h shows a command's options and examples."]
    return "\n".join(lines)


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
    from archinspect.cli.safety import ascii_fallback, finish, install_interrupt

    pause_gc()  # until the command's imports are done: see pause_gc
    install_interrupt()  # Ctrl-C: exit 130 within a second or two, whatever runs
    ascii_fallback()  # a stream that cannot encode Unicode gets ASCII
    try:
        app()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finish(code)  # without waiting for threads the model's code left running
