"""What every command shares: options, loading MODEL + inputs, turning errors into exit codes, output.

Errors are turned into one line on stderr and an exit code here and nowhere else: a
:class:`~archinspect.errors.UsageError` exits 2, a :class:`~archinspect.errors.ModelRunError` 1, any other
exception 1 with its text (the traceback only with ``--debug``).
"""

from __future__ import annotations

import contextlib
import enum
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from archinspect.errors import ArchInspectError, UsageError


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Mode(str, enum.Enum):
    eval = "eval"
    train = "train"


ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="Zoo name (see `archinspect list`), torchvision:NAME, timm:NAME, FILE.py:Symbol or "
        "package.module:Symbol. Loading a file or module RUNS ITS CODE.",
        show_default=False,
    ),
]
InputOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--input",
        "-i",
        metavar="SHAPE",
        help="Input shape, batch first: 1,3,32,32 or 1x3x32x32; 'long:1,128' for integer inputs. "
        "Repeat for several inputs; NAME=SHAPE (mask=bool:1,128) passes a keyword input. Zoo, torchvision "
        "and timm models have a default.",
    ),
]
ArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--arg", "-a", metavar="KEY=VALUE", help="Constructor argument (repeatable): depth=40, bottleneck=true."
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        "-d",
        help="auto|meta|cpu|cuda|cuda:N. auto = meta (nothing allocated), falling back to CPU when an operator "
        "has no meta kernel.",
    ),
]
DepthOpt = Annotated[int, typer.Option("--depth", min=0, help="Fold modules deeper than this into their parent.")]
ModeOpt = Annotated[Mode, typer.Option("--mode", help="Run the model in eval or train mode.")]
DtypeOpt = Annotated[
    str | None, typer.Option("--dtype", help="Cast floating parameters and inputs: float16, bfloat16, float64.")
]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")]
OutputOpt = Annotated[Path | None, typer.Option("--output", "-o", help="Write the output to FILE instead of stdout.")]
SaveOpt = Annotated[
    Path | None, typer.Option("--save", help="Also keep a picture of the table: FILE.svg or FILE.html.")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")]


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(message: str) -> None:
    """A one-line note on stderr (progress notes, fallbacks): never mixed into the output proper."""
    stderr_console().print(message, markup=False)


@contextlib.contextmanager
def handle_errors(debug: bool) -> Iterator[None]:
    """Run a command body; map exceptions to one stderr line and an exit code."""
    try:
        yield
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except ArchInspectError as exc:
        if debug:
            raise
        stderr_console().print(f"error: {exc}", markup=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:  # anything else is a model that cannot run
        if debug:
            raise
        text = " ".join(str(exc).split()) or "no message"
        hint = "(rerun with --debug for the traceback)"
        stderr_console().print(f"error: {type(exc).__name__}: {text} {hint}", markup=False)
        raise typer.Exit(1) from None


def load_target(
    model_ref: str, args: list[str] | None, inputs: list[str] | None, device: str, *, auto: str = "meta"
) -> tuple[Any, list[Any], str]:
    """(LoadedModel, input specs, resolved device) for a command; UsageError when no input is known."""
    from archinspect.core.devices import resolve_device
    from archinspect.core.inputs import parse_inputs, parse_kwargs, split_keyword_inputs
    from archinspect.models.loading import load_model

    kwargs = parse_kwargs(args)
    positional, keywords = split_keyword_inputs(inputs)
    specs = parse_inputs(positional)
    resolved = resolve_device(device, auto=auto)
    loaded = load_model(model_ref, kwargs, device=resolved)
    loaded.keyword_inputs = keywords
    return loaded, loaded.inputs(specs), resolved


class View(Protocol):
    """What a command hands to :func:`emit`: the same result in every format."""

    def rich(self) -> list[Any]: ...
    def json(self) -> dict[str, Any]: ...
    def csv(self) -> str: ...
    def markdown(self) -> str: ...


def _console(file: Any = None, record: bool = False) -> Any:
    from rich.console import Console

    # A terminal (or $COLUMNS) sets the width; piped output gets room for a full table.
    on_terminal = file is None and sys.stdout.isatty()
    width = None if (on_terminal or "COLUMNS" in os.environ) else 160
    return Console(file=file, record=record, width=width, highlight=False)


def emit(view: View, fmt: OutputFormat, output: Path | None = None, save: Path | None = None) -> None:
    """Print ``view`` in ``fmt`` (or write it to ``output``) and keep a picture of the table in ``save``."""
    if save is not None and save.suffix.lower() not in (".svg", ".html", ".htm"):
        raise UsageError(f"--save {str(save)!r}: accepted file types are .svg and .html")
    if fmt is OutputFormat.table:
        if output is not None:
            buf = io.StringIO()
            console = _console(buf)
            for item in view.rich():
                console.print(item)
            _write(output, buf.getvalue())
        else:
            console = _console()
            for item in view.rich():
                console.print(item)
    else:
        text = {
            OutputFormat.json: lambda: json.dumps(view.json(), indent=2) + "\n",
            OutputFormat.csv: view.csv,
            OutputFormat.markdown: view.markdown,
        }[fmt]()
        if output is not None:
            _write(output, text)
        else:
            sys.stdout.write(text)
    if save is not None:
        recorder = _console(io.StringIO(), record=True)
        for item in view.rich():
            recorder.print(item)
        try:
            if save.suffix.lower() == ".svg":
                recorder.save_svg(str(save), title="archinspect")
            else:
                recorder.save_html(str(save))
        except OSError as exc:
            raise UsageError(f"--save {str(save)!r}: cannot write ({exc.strerror})") from None
        say(f"saved {save}")


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--output {str(path)!r}: cannot write ({exc.strerror})") from None
    say(f"wrote {path}")
