"""``archinspect bench``: forward latency and throughput of one or more models over a batch sweep."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from archinspect.bench.suite import DEFAULT_SUITE
from archinspect.cli.common import (
    ArgOpt,
    ColumnsOpt,
    DebugOpt,
    ForceOpt,
    FormatOpt,
    InputOpt,
    OutputFormat,
    OutputOpt,
    SaveOpt,
    WideOpt,
    command_run,
    register_command,
)
from archinspect.cli.params import Choice, choice_option, number_option, whole_option
from archinspect.errors import UsageError

EXAMPLES = (
    "archinspect bench --device cuda",
    "archinspect bench resnet50 --batch 1,8,32 --dtype float16 --cuda-graph",
    "archinspect bench densenet-bc --device cpu --threads 1 --format json",
    "archinspect bench resnet18 --device cpu --columns model,batch,median-ms,iqr/med,n",
)


class BenchDtype(Choice):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"


def parse_batches(text: str | None) -> list[int] | None:
    """``1,8,32`` -> [1, 8, 32]; ``None`` -> None (the command's default)."""
    if text is None:
        return None
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part.isdigit() or int(part) < 1:
            raise UsageError(f"--batch {text!r}: expected positive whole numbers separated by commas, e.g. 1,8,32")
        out.append(int(part))
    return out


def bench(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Models to time (zoo names, torchvision:NAME, timm:NAME, FILE.py:Symbol, pkg.mod:Symbol; "
            "loading a file RUNS ITS CODE). Default: " + ", ".join(DEFAULT_SUITE) + ".",
            show_default=False,
            metavar="MODEL",
        ),
    ] = None,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: Annotated[
        str,
        typer.Option("--device", "-d", metavar="<auto|cpu|cuda|cuda:N>", help="auto = CUDA when present, else CPU."),
    ] = "auto",
    dtype: Annotated[
        BenchDtype, choice_option("--dtype", kind=BenchDtype, help="Parameters and inputs really cast.")
    ] = BenchDtype.float32,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch",
            "-b",
            metavar="SIZES",
            help="Batch sizes to sweep, e.g. 1,8,32. Default: 1,32 on CUDA; the input's on CPU.",
        ),
    ] = None,
    amp: Annotated[
        bool, typer.Option("--amp", help="Keep float32 weights, run under torch.autocast (fp16 CUDA, bf16 CPU).")
    ] = False,
    channels_last: Annotated[bool, typer.Option("--channels-last", help="NHWC memory format.")] = False,
    compile: Annotated[  # noqa: A002 - the option is --compile
        bool, typer.Option("--compile", help="Also time torch.compile(model); compile time shown on its own.")
    ] = False,
    cuda_graph: Annotated[bool, typer.Option("--cuda-graph", help="Also time CUDA-graph replay (CUDA only).")] = False,
    warmup: Annotated[
        int, whole_option("--warmup", minimum=0, help="Warm-up calls (at least; see --warmup-time).")
    ] = 5,
    warmup_time: Annotated[
        float, number_option("--warmup-time", minimum=0.0, metavar="SECONDS", help="Warm-up seconds (at least).")
    ] = 0.5,
    iters: Annotated[int, whole_option("--iters", minimum=1, help="Timed calls, at least.")] = 10,
    min_time: Annotated[
        float, number_option("--min-time", minimum=0.0, metavar="SECONDS", help="Seconds of sampling, at least.")
    ] = 1.0,
    max_time: Annotated[
        float,
        number_option(
            "--max-time", minimum=0.0, metavar="SECONDS", help="Stop sampling after this many seconds per row."
        ),
    ] = 5.0,
    threads: Annotated[
        int | None,
        whole_option("--threads", minimum=1, help="CPU threads (torch.set_num_threads); default: torch's."),
    ] = None,
    peak: Annotated[bool, typer.Option("--peak/--no-peak", help="Measure the matmul peak for '% peak'.")] = True,
    format: FormatOpt = OutputFormat.table,  # noqa: A002 - the option is --format
    output: OutputOpt = None,
    save: SaveOpt = None,
    wide: WideOpt = False,
    columns: ColumnsOpt = None,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Time the forward pass: warm-up, device-side timing, median and spread, samples/s, achieved TFLOP/s
    against the device's matmul peak measured in the same run, peak memory.

    Without MODEL, a default suite of zoo models. An out-of-memory batch is reported in its row and the
    sweep goes on. On a CPU, a machine too busy for the threads asked is reported before timing starts.
    A row stopped by --max-time before --iters samples is marked unstable.
    """
    with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
        from archinspect.bench.runner import BenchOptions
        from archinspect.bench.suite import benchmark_models
        from archinspect.core.inputs import parse_inputs, parse_kwargs, split_keyword_inputs

        run.started()
        batches = parse_batches(batch)
        refs = models or list(DEFAULT_SUITE)
        positional, keywords = split_keyword_inputs(input)
        warned: list[None] = []
        result = benchmark_models(
            refs,
            parse_inputs(positional),
            parse_kwargs(arg),
            keyword_inputs=keywords,
            device=device,
            batches=batches,
            options=BenchOptions(
                dtype=dtype.value,
                amp=amp,
                channels_last=channels_last,
                compile=compile,
                cuda_graph=cuda_graph,
                warmup=warmup,
                warmup_time=warmup_time,
                iters=iters,
                min_time=min_time,
                max_time=max(max_time, min_time),
                threads=threads,
                force=force,
            ),
            peak=peak,
            progress=_progress,
            warn=lambda text: warned.append(run.say(f"warning: {text}")),
        )
        from archinspect.render.bench import BenchView

        same_screen = format is OutputFormat.table and output is None  # the table lands under the warning
        run.show(BenchView(result, busy_said=bool(warned) and same_screen))
        oom = [r for r in result.rows if r.error == "out of memory"]
        if oom:
            run.note("out of memory at " + ", ".join(f"{r.model} batch {r.batch}" for r in oom))
        if result.failed:
            for r in result.failed:
                run.say(f"error: {r.model} batch {r.batch} {r.variant}: {r.error}")
            run.fail(1)


class _progress:
    """A rich progress bar with an ETA on stderr whenever stderr is a terminal (also when stdout is
    redirected to a file); silent when stderr is piped."""

    def __init__(self, total: int) -> None:  # called by benchmark_models with the number of rows
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Any:
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            from archinspect.cli.common import stderr_console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("bench", total=self.total)
        return self.advance

    def advance(self, description: str, steps: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=description, advance=steps)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def register(app: typer.Typer) -> None:
    register_command(app, "bench", bench, EXAMPLES)
