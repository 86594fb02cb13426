"""The ``archinspect`` command line: a Typer app; each command lives in ``archinspect.cli.<name>``.

Nothing here imports torch: ``archinspect --help`` stays instant. Commands import the library when run.
"""

from __future__ import annotations

import importlib

import typer

from archinspect import __version__

app = typer.Typer(
    name="archinspect",
    help="Inspect convolutional network architectures: per-layer shapes, parameters, exact FLOPs/MACs, "
    "the input sizes a model accepts, and trustworthy forward benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

COMMANDS = ("list", "shapes", "flops", "fit", "bench", "memory")


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
    app()
