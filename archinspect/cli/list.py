"""``archinspect list``: the zoo with its default inputs, parameter counts and GMACs."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from archinspect.cli.common import DebugOpt, FormatOpt, OutputFormat, OutputOpt, SaveOpt, emit, handle_errors
from archinspect.errors import UsageError


class ZooView:
    def __init__(self, rows: list[Any], figures: bool) -> None:
        self.rows = rows
        self.figures = figures

    def table(self) -> Any:
        from archinspect.render.table import Column, TableData, fmt_count, fmt_int

        how = "counted on the meta device" if self.figures else "reference figures (--no-figures)"
        data = TableData(
            title=f"archinspect zoo · {len(self.rows)} models",
            columns=[
                Column("Name", "name", style="bold"),
                Column("Family", "family"),
                Column("Default input", "default_input", fmt=lambda v: ",".join(map(str, v))),
                Column("Params", "params", "right", fmt=fmt_int),
                Column("MACs", "macs", "right", fmt=fmt_count),
                Column("Source", "source"),
            ],
            footer=[f"Params and MACs for one sample at the default input, {how}. FLOPs = 2 x MACs."],
        )
        if any(row.aliases for row in self.rows):
            data.columns.insert(1, Column("Also", "aliases", fmt=", ".join))
        for row in self.rows:
            data.add(**row.to_dict())
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return {"models": [r.to_dict() for r in self.rows]}

    def csv(self) -> str:
        return self.table().to_csv()

    def markdown(self) -> str:
        return self.table().to_markdown()


def list_command(
    pattern: Annotated[
        str | None,
        typer.Argument(metavar="PATTERN", help="Wildcard filter: 'resnet*', '*cifar*'; plain text matches anywhere."),
    ] = None,
    family: Annotated[str | None, typer.Option("--family", help="Only this family (e.g. DenseNet, D2L).")] = None,
    figures: Annotated[
        bool, typer.Option("--figures/--no-figures", help="Count params and MACs (meta device) or show references.")
    ] = True,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    debug: DebugOpt = False,
) -> None:
    """List the zoo: name, family, default input, params, MACs at the default input, source.

    Examples: archinspect list · archinspect list 'densenet*' · archinspect list --family D2L --format json
    """
    with handle_errors(debug):
        from archinspect.analyses.zoo_summary import summarize

        if sys.stderr.isatty() and figures:
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("counting", total=None)
                rows = summarize(pattern, family, progress=lambda n: bar.update(task, description=n, advance=1))
        else:
            rows = summarize(pattern, family, figures=figures)
        if not rows:
            raise UsageError(f"no zoo model matches {pattern or ''!r}{f' in family {family!r}' if family else ''}")
        emit(ZooView(rows, figures), format, output, save)


def register(app: typer.Typer) -> None:
    app.command("list")(list_command)
