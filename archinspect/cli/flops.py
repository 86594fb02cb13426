"""``archinspect flops``: FLOP and MAC accounting per module or per operator, beside other counters."""

from __future__ import annotations

from typing import Annotated

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
from archinspect.cli.params import Choice, choice_option, whole_option

EXAMPLES = (
    "archinspect flops resnet50",
    "archinspect flops resnet50 --by op",
    "archinspect flops densenet121 --depth 1 --top 5 --compare",
    "archinspect flops examples/custom_attention.py:TinyAttention --input 8,16,32 --per-sample",
)


class By(Choice):
    module = "module"
    op = "op"


ByOpt = Annotated[By, choice_option("--by", kind=By, help="Group by module (a tree) or by ATen operator.")]
TopOpt = Annotated[
    int, whole_option("--top", minimum=0, metavar="K", help="Also list the K heaviest layers (0: none).")
]
PerSampleOpt = Annotated[bool, typer.Option("--per-sample", help="Divide every figure by the batch size.")]
CompareOpt = Annotated[
    bool,
    typer.Option(
        "--compare",
        help="Also run fvcore, torchinfo, torch's FlopCounterMode (and thop, ptflops when installed) on the "
        "same model and input, each with the reason its figure differs. Builds a CPU copy of the model.",
    ),
]


def flops(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    mode: ModeOpt = Mode.eval,
    depth: DepthOpt = 2,
    by: ByOpt = By.module,
    top: TopOpt = 10,
    per_sample: PerSampleOpt = False,
    compare: CompareOpt = False,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Count MODEL's FLOPs and MACs from the operators that actually run: per module (a tree with share
    bars) or per operator, the heaviest layers, and totals with FLOPs per parameter.

    MACs are multiply-accumulates of convolutions, linear/matmul and attention; FLOPs = 2 x MACs.
    Normalisation, pooling, activations and elementwise ops are "other ops", counted apart.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.flops import count_flops
        from archinspect.render.flops import FlopsView

        loaded, specs, resolved = run.load(model, arg, input, device, force=force)
        report = count_flops(
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
        )
        report.notes[:0] = loaded.notes  # e.g. built on CPU: the builder computes with values
        run.notes(report.notes)
        comparison = None
        if compare:
            from archinspect.analyses.compare import compare_tools

            run.say("comparing with other counters (runs them on a CPU copy of the model) ...")
            comparison = compare_tools(loaded.model, report, rebuild=loaded.rebuild, force=force)
        shown = report.per_sample_view() if per_sample else report
        run.show(FlopsView(shown, by=by.value, depth=depth, top=top, comparison=comparison))


def register(app: typer.Typer) -> None:
    register_command(app, "flops", flops, EXAMPLES)
