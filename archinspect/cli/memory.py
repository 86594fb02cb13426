"""``archinspect memory``: peak memory of inference or a training step, per module, and the largest batch
that fits a budget — computed on meta tensors, nothing allocated."""

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
    search_progress,
)
from archinspect.cli.params import Choice, choice_option, whole_option

EXAMPLES = (
    "archinspect memory resnet50 --mode train --batch 64",
    "archinspect memory densenet121 --arg memory_efficient=true --mode train --budget 16GiB",
    "archinspect memory densenet-bc --input 64,3,32,32 --mode train --optimizer adam --depth 1",
    "archinspect memory resnet50 --device cuda --mode train",
)


class Optimizer(Choice):
    none = "none"
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"
    adamw = "adamw"


OptimizerOpt = Annotated[
    Optimizer,
    choice_option(
        "--optimizer", kind=Optimizer, help="With --mode train: the optimizer whose state is counted (none: no state)."
    ),
]
BatchOpt = Annotated[
    int | None,
    whole_option("--batch", "-b", minimum=1, help="Batch size: sets the first dimension of every input."),
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
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.analyses.budget import largest_batch_target
        from archinspect.analyses.memory import check_optimizer, memory_target
        from archinspect.core.devices import cuda_free_bytes, resolve_device
        from archinspect.core.inputs import parse_size
        from archinspect.core.options import PassOptions
        from archinspect.render.memory import MemoryView

        check_optimizer(optimizer.value)
        budget_bytes = parse_size(budget) if budget is not None else None
        resolved = resolve_device(device, auto="meta")
        loaded, specs, _ = run.load(model, arg, input, "meta")  # built on meta whatever is modelled
        target = loaded.target(specs)
        if batch is not None:
            target = target.with_batch(batch)
        if budget_bytes is None and resolved.startswith("cuda"):
            budget_bytes = cuda_free_bytes(resolved)
            run.note(f"budget = free memory of {resolved}: {budget_bytes:,} bytes")
        options = PassOptions.check(device=resolved, mode=mode.value, dtype=dtype.value if dtype else None)
        step = {"optimizer": optimizer.value, "amp": amp}
        fit = None
        if budget_bytes is not None:
            with search_progress("budget search") as progress:
                fit = largest_batch_target(target, budget_bytes, options, progress=progress, **step)
            report = fit.report
        else:
            report = memory_target(target, options, progress=None, **step)  # a bar on a terminal
        run.show(MemoryView(report, depth, fit), notes=[*loaded.notes, *report.notes])


def register(app: typer.Typer) -> None:
    register_command(app, "memory", memory, EXAMPLES)
