"""``archinspect diff``: two models or blocks side by side, stage by stage and in total."""

from __future__ import annotations

from typing import Annotated

import typer

from archinspect.cli.common import (
    ColumnsOpt,
    DebugOpt,
    DeviceOpt,
    FormatOpt,
    InputOpt,
    Mode,
    ModeOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    command_run,
    register_command,
)
from archinspect.cli.params import whole_option

EXAMPLES = (
    "archinspect diff examples/factorized_conv.py:Conv5x5 examples/factorized_conv.py:TwoConv3x3 --input 1,64,56,56",
    "archinspect diff resnet18 resnet34",
)


def diff(
    model_a: Annotated[str, typer.Argument(metavar="MODEL_A", help="First model (A), as for `shapes`.")],
    model_b: Annotated[str, typer.Argument(metavar="MODEL_B", help="Second model (B), as for `shapes`.")],
    input: InputOpt = None,  # noqa: A002 - the option is --input
    input_b: Annotated[
        list[str] | None,
        typer.Option("--input-b", metavar="SHAPE", help="Input for B when it differs from A's (repeatable)."),
    ] = None,
    device: DeviceOpt = "auto",
    mode: ModeOpt = Mode.eval,
    depth: Annotated[
        int,
        whole_option("--depth", minimum=1, help="Stages are the modules at this depth, matched in call order."),
    ] = 1,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compare MODEL_A with MODEL_B: output shapes, parameters, MACs and receptive fields per stage and in
    total, with the A/B ratios. Stages are the modules each model's forward calls (--depth 1), matched by
    position. MODEL references as for `shapes` (constructor arguments as name:key=value). Loading a file
    RUNS ITS CODE.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.diff import diff_targets
        from archinspect.core.options import PassOptions
        from archinspect.render.diff import DiffView

        loaded_a, specs_a, resolved = run.load(model_a, None, input, device)
        loaded_b, specs_b, _ = run.load(model_b, None, input_b or input, device)
        options = PassOptions.check(
            device="auto" if device == "auto" else resolved, mode=mode.value, depth=depth, receptive=True
        )
        result = diff_targets(loaded_a.target(specs_a), loaded_b.target(specs_b), options)
        run.show(DiffView(result))


def register(app: typer.Typer) -> None:
    register_command(app, "diff", diff, EXAMPLES)
