"""``archinspect list``: the zoo with its default inputs, parameter counts and GMACs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from archinspect.cli.common import (
    ColumnsOpt,
    DebugOpt,
    FormatOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    check_columns,
    command_run,
    register_command,
)
from archinspect.errors import UsageError

EXAMPLES = (
    "archinspect list",
    "archinspect list 'densenet*'",
    "archinspect list '*cifar*'",
    "archinspect list --family D2L --format json",
    "archinspect list 'resnet*' --count",
)


def list_command(
    pattern: Annotated[
        str | None,
        typer.Argument(
            metavar="PATTERN",
            help="Wildcard filter on the name, an alias or the dataset (ImageNet, CIFAR-10, Fashion-MNIST): "
            "'resnet*', '*cifar*'; plain text matches anywhere.",
        ),
    ] = None,
    family: Annotated[
        str | None, typer.Option("--family", metavar="NAME", help="Only this family (e.g. DenseNet, D2L).")
    ] = None,
    count: Annotated[
        bool,
        typer.Option(
            "--count",
            help="Build each listed model on the meta device and count it now (imports torch: seconds) instead of "
            "printing the figures counted ahead.",
        ),
    ] = False,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", hidden=True)] = True,  # before --count; ignored
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """List the zoo: name, family, default input, params, MACs at the default input, source.

    The figures are counted ahead (a test checks them against a real count of every model), so listing
    imports no torch; --count counts the listed models again now.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.zoo_summary import catalog_summaries
        from archinspect.render.zoo import ZooView

        if not count:
            run.started()  # start-up is over: no torch to import
        rows = catalog_summaries(pattern, family)  # the options are checked before any work
        if not rows:
            raise UsageError(f"no zoo model matches {pattern or ''!r}{f' in family {family!r}' if family else ''}")
        check_columns(ZooView(rows, counted=count), columns)
        if count:
            rows = _count(run, pattern, family)
        run.show(ZooView(rows, counted=count))


def _count(run: Any, pattern: str | None, family: str | None) -> list[Any]:
    """The rows counted now, on meta (a progress bar on a terminal, nothing when piped)."""
    import torch  # noqa: F401 - imported before run.started(), still with start-up's GC pause

    from archinspect.analyses.zoo_summary import zoo_summaries

    run.started()
    return zoo_summaries(pattern, family)


def register(app: typer.Typer) -> None:
    register_command(app, "list", list_command, EXAMPLES)
