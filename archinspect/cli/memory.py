"""``archinspect memory``: peak memory of inference or a training step, per module, and the largest batch
that fits a budget — computed on meta tensors, nothing allocated."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from archinspect.cli.common import (
    ArgOpt,
    ColumnsOpt,
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
    WideOpt,
    emit,
    handle_errors,
    load_target,
    register_command,
    say,
    search_progress,
)

EXAMPLES = (
    "archinspect memory resnet50 --mode train --batch 64",
    "archinspect memory densenet121 --arg memory_efficient=true --mode train --budget 16GiB",
    "archinspect memory densenet-bc --input 64,3,32,32 --mode train --optimizer adam --depth 1",
    "archinspect memory resnet50 --device cuda --mode train",
)


class Optimizer(str, enum.Enum):
    none = "none"
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


OptimizerOpt = Annotated[
    Optimizer,
    typer.Option("--optimizer", help="With --mode train: the optimizer whose state is counted (none: no state)."),
]
BatchOpt = Annotated[
    int | None,
    typer.Option("--batch", "-b", min=1, metavar="N", help="Batch size: sets the first dimension of every input."),
]
BudgetOpt = Annotated[
    str | None,
    typer.Option(
        "--budget",
        metavar="SIZE",
        help="Find the largest batch whose peak fits SIZE (24GiB, 16GB, 512MiB, bytes). With --device cuda "
        "and no --budget: the GPU's free memory.",
    ),
]
AmpOpt = Annotated[bool, typer.Option("--amp", help="Forward under torch.autocast (float16 on CUDA, bfloat16 else).")]


def memory(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    mode: ModeOpt = Mode.eval,
    depth: DepthOpt = 2,
    batch: BatchOpt = None,
    optimizer: OptimizerOpt = Optimizer.sgd,
    amp: AmpOpt = False,
    budget: BudgetOpt = None,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Peak memory of one inference (or, with --mode train, one training step: forward, backward,
    optimizer step), what each module allocates, saves for backward and holds at the peak — computed on
    meta tensors without allocating. With --budget: the largest batch that fits. A budget that even batch 1
    exceeds exits 1.

    When the terminal is too narrow for every column, the least important are hidden, in this order:
    Type, Output, Allocated (a dim line under the table names them; --wide shows all).
    """
    with handle_errors(debug):
        from archinspect.analyses.memory import check_optimizer, largest_batch
        from archinspect.analyses.memory import memory as compute
        from archinspect.core.devices import cuda_free_bytes, resolve_device
        from archinspect.core.inputs import parse_size
        from archinspect.render.memory import MemoryView

        check_optimizer(optimizer.value)
        budget_bytes = parse_size(budget) if budget is not None else None
        resolved = resolve_device(device, auto="meta")
        loaded, specs, _ = load_target(model, arg, input, "meta")  # built on meta whatever is modelled
        if batch is not None:
            specs = [s.with_batch(batch) for s in specs]
        if budget_bytes is None and resolved.startswith("cuda"):
            budget_bytes = cuda_free_bytes(resolved)
            say(f"note: budget = free memory of {resolved}: {budget_bytes:,} bytes")
        opts = {
            "mode": mode.value,
            "optimizer": optimizer.value,
            "dtype": dtype.value if dtype else None,
            "amp": amp,
            "device": resolved,
        }
        fit = None
        if budget_bytes is not None:
            with search_progress("budget search") as progress:
                fit = largest_batch(
                    loaded.model, specs, budget_bytes, model_name=loaded.label, progress=progress, **opts
                )
            report = fit.report
        else:
            report = compute(loaded.model, specs, model_name=loaded.label, **opts)
        emit(MemoryView(report, depth, fit), format, output, save, wide=wide, columns=columns)


def register(app: typer.Typer) -> None:
    register_command(app, "memory", memory, EXAMPLES)
