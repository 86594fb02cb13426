"""``archinspect shapes``: one forward pass of a dummy tensor, a table of every layer."""

from __future__ import annotations

import typer

from archinspect.cli.common import (
    ArgOpt,
    DebugOpt,
    DepthOpt,
    DeviceOpt,
    DtypeOpt,
    FormatOpt,
    InputOpt,
    Mode,
    ModelArg,
    ModeOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    emit,
    handle_errors,
    load_target,
    say,
)


def shapes(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    device: DeviceOpt = "auto",
    depth: DepthOpt = 2,
    dtype: DtypeOpt = None,
    mode: ModeOpt = Mode.eval,
    arg: ArgOpt = None,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Push a dummy input through MODEL once and show every layer: input and output shapes, parameters,
    MACs and output size, with totals.

    Examples: archinspect shapes densenet-bc --input 1,3,32,32 ·
    archinspect shapes resnet50 --depth 1 · archinspect shapes my_net.py:Net --input 1,1,28,28
    """
    with handle_errors(debug):
        from archinspect.analyses.shapes import inspect
        from archinspect.render.shapes import ShapesView

        loaded, specs, resolved = load_target(model, arg, input, device)
        report = inspect(
            loaded.model,
            specs,
            device="auto" if device == "auto" else resolved,
            depth=depth,
            mode=mode.value,
            dtype=dtype,
            model_name=loaded.label,
            kwargs=loaded.keyword_inputs,
            cpu_model=loaded.cpu_model(),
        )
        report.notes[:0] = loaded.notes  # e.g. built on CPU: the builder computes with values
        for note in report.notes:
            say(f"note: {note}")
        emit(ShapesView(report), format, output, save)


def register(app: typer.Typer) -> None:
    app.command("shapes")(shapes)
