"""``archinspect list``: the zoo with its default inputs, parameter counts and GMACs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from archinspect.cli.common import (
    ColumnsOpt,
    DebugOpt,
    FormatOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    command_run,
    register_command,
)
from archinspect.errors import UsageError

EXAMPLES = (
    "archinspect list",
    "archinspect list 'densenet*'",
    "archinspect list --family D2L --format json",
    "archinspect list --no-figures",
)


def list_command(
    pattern: Annotated[
        str | None,
        typer.Argument(metavar="PATTERN", help="Wildcard filter: 'resnet*', '*cifar*'; plain text matches anywhere."),
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", metavar="NAME", help="Only this family (e.g. DenseNet, D2L).")
    ] = None,
    figures: Annotated[
        bool, typer.Option("--figures/--no-figures", help="Count params and MACs (meta device) or show references.")
    ] = True,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """List the zoo: name, family, default input, params, MACs at the default input, source."""
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.zoo_summary import zoo_summaries
        from archinspect.render.zoo import ZooView

        if figures:  # counting needs torch: imported before settle_heap, still with start-up's GC pause
            import torch  # noqa: F401
        run.started()
        if sys.stderr.isatty() and figures:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("counting", total=None)
                rows = zoo_summaries(pattern, family, progress=lambda n: bar.update(task, description=n, advance=1))
        else:
            rows = zoo_summaries(pattern, family, figures=figures)
        if not rows:
            raise UsageError(f"no zoo model matches {pattern or ''!r}{f' in family {family!r}' if family else ''}")
        run.show(ZooView(rows, figures))


def register(app: typer.Typer) -> None:
    register_command(app, "list", list_command, EXAMPLES)
