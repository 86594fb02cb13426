"""``archinspect profile``: where the forward's time goes, per module, against the device's measured roofs;
with ``--mode train``, the training step by phase with its peak memory measured beside the prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archinspect.cli.bench import BenchDtype
from archinspect.cli.common import (
    ArgOpt,
    ColumnsOpt,
    DebugOpt,
    DepthOpt,
    FormatOpt,
    InputOpt,
    Mode,
    ModelArg,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    command_run,
    register_command,
)
from archinspect.cli.memory import AmpOpt, BatchOpt, Optimizer
from archinspect.cli.params import number_option, whole_option
from archinspect.errors import UsageError

EXAMPLES = (
    "archinspect profile resnet50 --device cpu --threads 1",
    "archinspect profile resnet18 --device cuda --batch 32 --amp --channels-last --roofline r18.svg",
    "archinspect profile densenet121 --depth 1 --threads 1 --clock thread --format json",
    "archinspect profile resnet20 --mode train --batch 32 --optimizer adam",
)


def profile(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: Annotated[
        str,
        typer.Option("--device", "-d", metavar="<auto|cpu|cuda|cuda:N>", help="auto = CUDA when present, else CPU."),
    ] = "auto",
    batch: BatchOpt = None,
    dtype: Annotated[BenchDtype, typer.Option("--dtype", help="Parameters and inputs really cast.")] = (
        BenchDtype.float32
    ),
    amp: AmpOpt = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    depth: DepthOpt = 2,
    mode: Annotated[
        Mode, typer.Option("--mode", help="eval: the forward per module; train: the training step by phase.")
    ] = Mode.eval,
    optimizer: Annotated[
        Optimizer, typer.Option("--optimizer", help="With --mode train: the torch.optim optimizer that steps.")
    ] = Optimizer.sgd,
    checkpoint: Annotated[
        bool, typer.Option("--checkpoint", help="With --mode train: recompute each top-level module in backward.")
    ] = False,
    repeats: Annotated[
        int, whole_option("--repeats", minimum=1, help="Timed instrumented passes (median per module).")
    ] = 20,
    threads: Annotated[
        int | None,
        whole_option("--threads", minimum=1, help="CPU threads (torch.set_num_threads); default: torch's."),
    ] = None,
    max_time: Annotated[
        float,
        number_option(
            "--max-time", minimum=0.1, metavar="SECONDS", help="With --mode train: cap on sampling the step."
        ),
    ] = 5.0,
    clock: Annotated[
        str,
        typer.Option(
            "--clock",
            metavar="<wall|thread>",
            help="On CPU: wall time (perf_counter) or the thread's CPU time, which other processes taking the "
            "core do not inflate (with --threads 1).",
        ),
    ] = "wall",
    roofline: Annotated[
        Path | None, typer.Option("--roofline", metavar="FILE.svg", help="Write the roofline picture (SVG).")
    ] = None,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Per-module device time of the forward, its FLOP/s, bytes/s and arithmetic intensity, and a verdict
    against roofs measured in the same run (matmul peak, copy bandwidth, fixed cost per call):
    compute-bound, memory-bound, overhead-bound or below its roof, ranked by the time reaching the roof
    would save. The per-module sum is reconciled with the uninstrumented forward and the instrumentation's
    own cost is printed. On CUDA each module is timed by events on the stream (one synchronise per pass).

    With --mode train: zero_grad, forward, loss, backward and optimizer step timed apart and together,
    samples/s, and the peak memory measured beside `archinspect memory`'s prediction.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.bench.runner import resolve_bench_device

        if roofline is not None and roofline.suffix.lower() != ".svg":
            raise UsageError(f"--roofline {str(roofline)!r}: the picture is written as .svg")
        if mode is Mode.eval and (checkpoint or optimizer is not Optimizer.sgd):
            raise UsageError("--checkpoint and --optimizer apply to --mode train")
        if mode is Mode.train and roofline is not None:
            raise UsageError("--roofline applies to the forward profile (--mode eval)")
        dev = str(resolve_bench_device(device))
        loaded, specs, _ = run.load(model, arg, input, dev)
        options = {
            "dtype": dtype.value, "amp": amp, "channels_last": channels_last, "threads": threads,
            "max_time": max_time, "min_time": min(1.0, max_time),
        }  # fmt: skip
        if mode is Mode.train:
            from archinspect.bench.train import time_train_step
            from archinspect.render.profile import TrainStepView

            step = time_train_step(
                loaded.model, specs, device=dev, batch=batch, optimizer=optimizer.value, checkpoint=checkpoint,
                name=loaded.label, **options,
            )  # fmt: skip
            run.show(TrainStepView(step), notes=loaded.notes)
            return
        from archinspect.bench.profile import profile as run_profile
        from archinspect.render.profile import ProfileView

        report = run_profile(
            loaded.model, specs, device=dev, batch=batch, depth=depth, repeats=repeats, name=loaded.label,
            clock=clock, **options,
        )  # fmt: skip
        view = ProfileView(report)
        run.show(view, notes=loaded.notes)
        if roofline is not None:
            roofline.write_text(view.svg(), encoding="utf-8")
            run.note(f"roofline written to {roofline}")


def register(app: typer.Typer) -> None:
    register_command(app, "profile", profile, EXAMPLES)
