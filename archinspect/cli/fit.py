"""``archinspect fit``: layers whose declared size disagrees with their input; the input sizes that fit."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer

from archinspect.cli.common import (
    ArgOpt,
    ColumnsOpt,
    DebugOpt,
    DeviceOpt,
    ForceOpt,
    FormatOpt,
    InputOpt,
    Mode,
    ModelArg,
    ModeOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    command_run,
    register_command,
)
from archinspect.cli.params import whole_option

SolveOpt = Annotated[
    bool | None,
    typer.Option(
        "--solve/--no-solve",
        help="Search the input sizes for which the model as written runs and every Linear matches "
        "(on the meta device). Default: only when a Linear mismatches.",
        show_default=False,
    ),
]
MaxSizeOpt = Annotated[int, whole_option("--max-size", minimum=1, help="The largest input size --solve tries.")]

EXAMPLES = (
    "archinspect fit examples/d2l_densenet_fc.py:DenseNetWrongFC --input 1,3,32,32",
    "archinspect fit d2l-alexnet --input 1,1,96,96 --solve",
    "archinspect fit examples/wrong_channels.py:TwoMistakes --input 1,3,32,32 --format json",
)


def _sites_for(model_ref: str) -> Any:
    """A construction_sites context for a model from a user file (file:line per layer), else a null one."""
    from archinspect.models.loading import split_reference

    kind, target, _ = split_reference(model_ref)
    if kind != "file":
        return contextlib.nullcontext(None)
    from archinspect.models.sites import construction_sites

    return construction_sites(target.rpartition(":")[0])


def fit(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: DeviceOpt = "auto",
    mode: ModeOpt = Mode.eval,
    solve: SolveOpt = None,
    max_size: MaxSizeOpt = 4096,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Find every layer whose declared size disagrees with what it receives — Linear in_features, Conv
    in_channels and groups, BatchNorm num_features, LayerNorm normalized_shape, GroupNorm num_channels —
    in one pass, with the value each needs (e.g. "fc: Linear(in_features=1000) receives 1×8800 =
    88×10×10 after flatten → nn.Linear(8800, 10)") and, for a model from a file, the line that built it.
    With --solve (and by default when a Linear mismatches): the input sizes that fit the model as written.

    Exit status: 0 when every layer fits; 1 when a mismatch was found, or when the model fails for a
    reason fit cannot step over (the failing layer is named); 2 for a usage error.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.fitting import fit as run_fit
        from archinspect.render.fit import FitView

        with _sites_for(model) as sites:
            loaded, specs, resolved = run.load(model, arg, input, device, force=force)
        report = run_fit(
            loaded.model,
            specs,
            device="auto" if device == "auto" else resolved,
            mode=mode.value,
            model_name=loaded.label,
            force=force,
            sites=sites.for_model(loaded.model) if sites is not None else None,
            solve=solve,
            max_size=max_size,
            kwargs=loaded.keyword_inputs,
        )
        run.show(FitView(report, label=loaded.label), notes=report.notes)
        if not report.consistent:
            run.fail(1)


def register(app: typer.Typer) -> None:
    register_command(app, "fit", fit, EXAMPLES)
