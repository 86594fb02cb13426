"""``archinspect graph``: the architecture as a picture (SVG, HTML, DOT, Mermaid, JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archinspect.cli.common import (
    ArgOpt,
    DebugOpt,
    DeviceOpt,
    DtypeOpt,
    ForceOpt,
    InputOpt,
    Mode,
    ModelArg,
    ModeOpt,
    command_run,
    output_stream,
    register_command,
    say,
)
from archinspect.cli.params import Choice, choice_option, whole_option
from archinspect.cli.safety import write_atomic
from archinspect.errors import UsageError
from archinspect.render.escape import printable_lines

if TYPE_CHECKING:
    from archinspect.render.graph import GraphView

EXAMPLES = (
    "archinspect graph resnet50 -o resnet50.html",
    "archinspect graph googlenet --depth 3 -o googlenet.svg",
    "archinspect graph densenet-bc --depth 2 --format mermaid",
    "archinspect graph resnet50 --expand layer3 --color params -o r50.svg",
    "archinspect graph googlenet --depth 3 --only inception3a -o inception.svg",
    "archinspect graph resnet50 --color time --device cpu -o r50_time.svg",
)
SUFFIXES = {".svg": "svg", ".html": "html", ".htm": "html", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid",
            ".mermaid": "mermaid", ".md": "mermaid", ".json": "json"}
PAGE_LIMIT = 1500  # visible nodes past which a page is no longer readable


class GraphFormat(Choice):
    svg = "svg"
    html = "html"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


class Metric(Choice):
    macs = "macs"
    params = "params"
    memory = "memory"
    time = "time"


def graph(
    model: ModelArg,
    input: InputOpt = None,  # noqa: A002 - the option is --input
    arg: ArgOpt = None,
    device: DeviceOpt = "auto",
    dtype: DtypeOpt = None,
    mode: ModeOpt = Mode.eval,
    depth: Annotated[
        int, whole_option("--depth", minimum=0, help="Module calls at depth N (and leaves above) are boxes.")
    ] = 2,
    format: Annotated[  # noqa: A002 - the option is --format
        GraphFormat | None,
        choice_option(
            "--format",
            "-f",
            kind=GraphFormat,
            help="Output format (default: from --output's suffix; piped: svg; on a terminal: a summary).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE",
                     help="Write to FILE (.svg .html .dot .mmd .json) instead of stdout."),
    ] = None,
    color: Annotated[
        Metric,
        choice_option("--color", kind=Metric,
                      help="What colours the boxes; time profiles the model on --device (auto: CUDA, else CPU)."),
    ] = Metric.macs,
    repeats: Annotated[
        int | None,
        whole_option("--repeats", minimum=1, help="Timed passes for --color time; the median is drawn.  [default: 5]"),
    ] = None,
    expand: Annotated[
        list[str] | None,
        typer.Option("--expand", metavar="NAME",
                     help="Open the fold of repeated blocks inside module NAME (repeatable; 'all' opens every fold)."),
    ] = None,
    no_fold: Annotated[bool, typer.Option("--no-fold", help="Draw repeated blocks one by one.")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", metavar="NAME", help="Draw only what is inside module NAME (repeatable)."),
    ] = None,
    force: ForceOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Draw MODEL's dataflow from one pass: a box per module at --depth (deeper ones as nested clusters) and per
    operator that joins the flow (add, cat, view, ...), the tensor's shape on every edge, type, settings,
    params and MACs on every box; runs of identical blocks folded into one box 'Bottleneck × 3'.

    The layout is computed in-process (no Graphviz needed); HTML is one self-contained page with pan, zoom,
    details on hover and folds that open on click.
    """
    with command_run(debug) as run:
        from archinspect.render.graph import TIME_REPEATS
        from archinspect.render.graph import graph as draw

        fmt = _format(format, output)
        timed = color is Metric.time
        if repeats is not None and not timed:
            raise UsageError("--repeats applies to --color time")
        if timed:  # the model is built where it will be timed
            from archinspect.bench.runner import resolve_bench_device

            resolve_bench_device(device)
        loaded, specs, resolved = run.load(model, arg, input, device, force=force, auto="cpu" if timed else "meta")
        _check_names(loaded.model, expand or [], only or [])
        view = draw(
            loaded.model,
            specs,
            depth=depth,
            fold=not no_fold,
            expand=expand or (),
            only=only or (),
            color=color.value,
            repeats=repeats or TIME_REPEATS,
            device="auto" if device == "auto" else resolved,
            mode=mode.value,
            dtype=dtype.value if dtype else None,
            model_name=loaded.label,
            kwargs=loaded.keyword_inputs,
            cpu_model=loaded.cpu_model(),
            force=force,
        )
        run.notes([*loaded.notes, *view.graph.notes])
        if len(view.nodes) > PAGE_LIMIT:
            say(f"note: {len(view.nodes):,} boxes are more than a page shows (about {PAGE_LIMIT:,}); "
                f"narrow the view with --depth {max(depth - 1, 0)}")
        if fmt is None:  # a terminal and no file asked for: say what there is and how to get the picture
            _summary(view, loaded.label)
            return
        text = view.render(fmt)
        if output is None:
            output_stream().write(text)
            return
        try:
            write_atomic(output, text)
        except OSError as exc:
            raise UsageError(f"--output {str(output)[:200]!r}: cannot write ({exc.strerror or exc})") from None
        say(f"wrote {output} ({len(view.nodes)} boxes, {len(view.edges)} edges)")


def _format(fmt: GraphFormat | None, output: Path | None) -> str | None:
    if fmt is not None:
        return fmt.value
    if output is not None:
        suffix = output.suffix.lower()
        if suffix not in SUFFIXES:
            raise UsageError(f"--output {str(output)!r}: unknown file type; accepted: {', '.join(SUFFIXES)} "
                             "(or give --format)")
        return SUFFIXES[suffix]
    try:
        terminal = bool(output_stream().isatty())
    except (AttributeError, OSError, ValueError):
        terminal = False
    return None if terminal else "svg"


def _check_names(model: object, expand: list[str], only: list[str]) -> None:
    names = {name for name, _ in model.named_modules()}  # type: ignore[attr-defined]
    for flag, wanted in (("--expand", expand), ("--only", only)):
        for want in wanted:
            if want not in names and not (flag == "--expand" and want == "all"):
                accepted = "a module name or 'all'" if flag == "--expand" else "a module's qualified name"
                raise UsageError(f"{flag} {want!r} is not a module of the model; accepted: {accepted}")


def _summary(view: GraphView, label: str) -> None:
    from archinspect.render.graph_text import fmt_seconds

    g = view.graph
    lines = [f"{label} at depth {g.depth}: {len(view.nodes)} boxes, {len(view.edges)} edges"]
    for fid, fold in g.folds.items():
        timed = f", {fmt_seconds(fold.time_s)}" if fold.time_s is not None else ""
        lines.append(f"  {fold.type:<20} {fold.name} ({'open' if fid in g.expanded else 'folded'}{timed})")
    if g.timing:
        lines.append(f"times: {g.timing['device']}, median of {g.timing['repeats']} timed passes, each module call "
                     "with everything it calls")
    lines.append(f"write the picture with --output {label}.html (interactive), .svg, .dot, .mmd or .json")
    output_stream().write(printable_lines("\n".join(lines)) + "\n")


def register(app: typer.Typer) -> None:
    register_command(app, "graph", graph, EXAMPLES)
