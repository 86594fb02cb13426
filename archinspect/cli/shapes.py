"""``archinspect shapes``: one forward pass of a dummy tensor, a table of every layer."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from archinspect.cli.common import (
    ArgOpt,
    ColumnsOpt,
    DebugOpt,
    DepthOpt,
    DeviceOpt,
    DtypeOpt,
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
from archinspect.errors import UsageError

EXAMPLES = (
    "archinspect shapes densenet-bc --input 1,3,32,32",
    "archinspect shapes resnet50 --depth 1",
    "archinspect shapes densenet-bc --arg depth=40 --columns layer,output-shape,params",
    "archinspect shapes d2l-alexnet --explain",
    "archinspect shapes d2l-alexnet --explain --time --device cpu",
    "archinspect shapes examples/d2l_alexnet.py:net --input 1,1,224,224 --depth 1",
)


def shapes(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    mode: ModeOpt = Mode.eval,
    depth: DepthOpt = 2,
    rf: Annotated[
        bool,
        typer.Option(
            "--rf",
            help="Add receptive-field columns: RF size, jump (effective stride) and the first pixel unit 0 "
            "sees, per spatial axis, in input pixels (JSON always carries them).",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show the arithmetic behind each layer's output shape, parameters and MACs, with the layer's own "
            "numbers, then which layers dominate parameters, MACs and activation memory.",
        ),
    ] = False,
    time: Annotated[
        bool,
        typer.Option(
            "--time",
            help="With --explain: also profile the forward (as `archinspect profile` does, on --device; auto = "
            "CUDA when present, else CPU) and name the layers that take the most time.",
        ),
    ] = False,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Push a dummy input through MODEL once and show every layer: input and output shapes, parameters,
    MACs and output size, with totals.

    When the terminal is too narrow for every column, the least important are hidden, in this order:
    Share, Output size, Input shape, Type (a dim line under the table names them; --wide shows all).
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.explain import OperatorLog
        from archinspect.analyses.shapes import inspect
        from archinspect.render.params import ParamsView, has_forward
        from archinspect.render.shapes import ShapesView

        if time and not explain:
            raise UsageError("--time applies to --explain")
        if time and mode is not Mode.eval:
            raise UsageError("--time times the forward in eval mode: leave out --mode train")
        loaded, specs, resolved = run.load(model, arg, input, device, force=force, allow_no_forward=True)
        if not has_forward(loaded.model):  # no forward(): what can be shown without running it
            run.show(ParamsView(loaded.model, loaded.label, depth))
            return
        log = OperatorLog()  # --explain: the concatenations, adds and flattening views each forward ran
        report = inspect(
            loaded.model,
            specs,
            device="auto" if device == "auto" else resolved,
            depth=depth,
            mode=mode.value,
            dtype=dtype.value if dtype else None,
            model_name=loaded.label,
            kwargs=loaded.keyword_inputs,
            cpu_model=loaded.cpu_model(),
            force=force,
            observers=[log] if explain else [],
        )
        report.notes[:0] = loaded.notes  # e.g. built on CPU: the builder computes with values
        if explain:
            from archinspect.analyses.explain import explain_report
            from archinspect.render.explain import ExplainView

            timed = _profile(loaded, specs, device, dtype.value if dtype else None) if time else None
            run.show(ExplainView(explain_report(report, log, profile=timed)), notes=report.notes)
            return
        run.show(ShapesView(report, rf=rf), notes=report.notes, receptive=rf)


def _profile(loaded: Any, specs: list[Any], device: str, dtype: str | None) -> Any:
    """``archinspect profile``'s per-module times of the model (rebuilt on CPU when it was built on meta)."""
    from archinspect.bench.profile import profile
    from archinspect.bench.runner import resolve_bench_device

    dev = str(resolve_bench_device(device))
    rebuild = loaded.cpu_model()
    model = rebuild() if rebuild is not None else loaded.model
    return profile(model, specs, device=dev, name=loaded.label, **({"dtype": dtype} if dtype else {}))


def register(app: typer.Typer) -> None:
    register_command(app, "shapes", shapes, EXAMPLES)
