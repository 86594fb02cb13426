"""What every command shares: options, loading MODEL + inputs, turning errors into exit codes, output.

A command is its options, a docstring (its ``--help``) and a body run inside :func:`command_run`, which owns
what every command does around the library call: errors become one line on stderr and an exit code (here and
nowhere else: a :class:`~archinspect.errors.UsageError` exits 2, a :class:`~archinspect.errors.ModelRunError`
1, any other exception 1 with its text, the traceback only with ``--debug``), the library's messages are
put in the command line's words (:func:`cli_message`), notes go to stderr, the heap is settled once start-up
is over, and the result is shown in the chosen format (:meth:`CommandRun.show`).
"""

from __future__ import annotations

import contextlib
import gc
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from archinspect.cli.output import (  # noqa: F401 - re-exported: the commands and tests import them from here
    PIPED_WIDTH,
    OutputClosed,
    OutputFormat,
    View,
    _console,
    _isatty,
    _silence_stdout,
    check_columns,
    emit,
    model_prints_to_stderr,
    output_stream,
    say,
    stderr_console,
    terminal_width,
)
from archinspect.cli.params import Choice, Command, choice_option, whole_option
from archinspect.errors import ArchInspectError, UsageError, cli_text, debug_enabled, set_debug
from archinspect.render.escape import one_line


class Mode(Choice):
    eval = "eval"
    train = "train"


class Dtype(Choice):
    float32 = "float32"
    float16 = "float16"
    bfloat16 = "bfloat16"
    float64 = "float64"


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
DEVICE_METAVAR = "<auto|meta|cpu|cuda|cuda:N>"
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        "-d",
        metavar=DEVICE_METAVAR,
        help="auto = meta (nothing allocated), falling back to CPU when an operator has no meta kernel.",
    ),
]
DepthOpt = Annotated[int, whole_option("--depth", minimum=0, help="Fold modules deeper than this into their parent.")]
ModeOpt = Annotated[Mode, choice_option("--mode", kind=Mode, help="Run the model in eval or train mode.")]
DtypeOpt = Annotated[
    Dtype | None,
    choice_option("--dtype", kind=Dtype, help="Cast floating parameters and inputs for the pass.", show_default=False),
]
FormatOpt = Annotated[OutputFormat, choice_option("--format", "-f", kind=OutputFormat, help="Output format.")]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write the output to FILE instead of stdout.")
]
SaveOpt = Annotated[
    Path | None, typer.Option("--save", metavar="FILE", help="Also keep a picture of the table: FILE.svg or FILE.html.")
]
WideOpt = Annotated[
    bool, typer.Option("--wide", "-w", help="Show every column at full width, however wide the terminal.")
]
ColumnsOpt = Annotated[
    str | None,
    typer.Option(
        "--columns",
        "-c",
        metavar="NAMES",
        help="Show only these columns, e.g. layer,output-shape,params (names as in the table's header).",
    ),
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks.")]
ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Run on CPU/CUDA even when the pass is estimated to need more memory than the device has free.",
    ),
]


EXAMPLE_WIDTH = 78  # an Examples line longer than this continues on the next line, shell style


def example_lines(command: str, width: int = EXAMPLE_WIDTH) -> list[str]:
    """One example as help lines of at most ``width`` characters: split between words with a trailing
    `` \\`` (the shell joins them), an option kept with its value, so that an 80-column terminal never
    breaks a word and the lines still paste as one command."""
    units: list[str] = []  # an option and its value travel together
    for word in command.split(" "):
        if units and units[-1].startswith("-") and " " not in units[-1] and not word.startswith("-"):
            units[-1] += " " + word
        else:
            units.append(word)
    lines, line = [], "  " + units[0]
    for unit in units[1:]:
        if len(line) + 1 + len(unit) + 2 > width:
            lines.append(line + " \\")
            line = "      " + unit
        else:
            line += " " + unit
    return [*lines, line]


def examples(*commands: str) -> str:
    """A command's ``--help`` epilog: one copy-pastable command per line (``\\b`` stops click rewrapping)."""
    return "Examples:\n\n\b\n" + "\n".join(line for c in commands for line in example_lines(c))


def register_command(app: typer.Typer, name: str, function: Any, example_lines: tuple[str, ...]) -> None:
    """Add ``function`` to ``app`` as command ``name``, with its Examples block at the end of ``--help``."""
    app.command(name, cls=Command, epilog=examples(*example_lines))(function)


@contextlib.contextmanager
def search_progress(what: str) -> Iterator[Any]:
    """A one-line status on stderr while a search runs (``budget search: batch 232 → 15.91 GiB · 2 computed``),
    on a terminal only; yields the ``progress(batch, peak_bytes)`` callback to hand to the search."""
    if not _isatty(sys.stderr):
        yield None
        return
    from archinspect.text import fmt_bytes

    done = 0
    with stderr_console().status(f"{what}: batch 1…") as status:

        def progress(batch: int, peak: int) -> None:
            nonlocal done
            done += 1
            status.update(f"{what}: batch {batch:,} needs {fmt_bytes(peak)} · {done} computed")

        yield progress


def error_text(message: str) -> str:
    """``error: MESSAGE`` on one line, whatever the message holds (an exception text that starts with a
    newline, a layer name with an escape sequence)."""
    return f"error: {one_line(message) or 'no message'}"


# The Python API's argument names the command line spells differently (every other ``name`` is ``--name``,
# with ``-`` for ``_``).
FLAGS = {
    "inputs": "--input",
    "kwargs": "--input",  # keyword inputs: --input NAME=SHAPE
    "args": "--arg",
    "budget_bytes": "--budget",
    "batch_sizes": "--batch",
}


def flag_of(param: str) -> str:
    """The command line's flag for the Python API's argument ``param``: ``budget_bytes`` -> ``--budget``."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def cli_message(exc: ArchInspectError) -> str:
    """The library's message in the command line's words: each ``name=value`` of the error's ``param`` and
    ``mentions`` becomes ``--flag value`` (``name=True``: the bare flag), e.g. ``mode='test' is not a mode``
    -> ``--mode 'test' is not a mode``; each of the error's ``cli_words`` as the CLI says it (``pass
    weights=None`` -> ``pass --arg weights=None``). Other text (a constructor argument ``depth=40``) stays."""
    text = str(exc)
    for api, cli in exc.cli_words:
        text = text.replace(api, cli)
    for name in dict.fromkeys(n for n in (exc.param, *exc.mentions) if n):
        at = rf"(?<![\w.-]){re.escape(name)}="
        text = re.sub(at + r"True\b", lambda _, n=name: flag_of(n), text)
        text = re.sub(at, lambda _, n=name: flag_of(n) + " ", text)
    return text


def error_line(exc: BaseException) -> tuple[str, int] | None:
    """(the one line a person reads, the exit code) for an error of ours, else None."""
    if isinstance(exc, ArchInspectError):
        return error_text(cli_text(cli_message(exc))), exc.exit_code
    return None


@contextlib.contextmanager
def handle_errors(debug: bool) -> Iterator[None]:
    """Run a command body; map exceptions to one stderr line and an exit code.

    Ctrl-C exits 130 whatever it interrupted; a closed pipe on stdout exits 141 with no message (as
    ``yes | head -1`` does); every message is one line (:func:`~archinspect.errors.one_line`: torch's C++
    frames dropped). The checks before any work run as the command is invoked
    (:func:`archinspect.cli.safety.preflight`, from :class:`archinspect.cli.params.Command`). Whatever the
    body prints on stdout goes to stderr (:func:`model_prints_to_stderr`); :func:`emit` alone writes the output.
    ``--debug``: the traceback, with the library's internal chain kept (:func:`archinspect.errors.set_debug`).
    """
    from archinspect.cli.safety import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, interrupted

    previous = debug_enabled()
    set_debug(previous or debug)
    try:
        with model_prints_to_stderr():
            yield
    except (typer.Exit, typer.Abort):
        raise
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BaseException as exc:
        if interrupted():  # whatever Ctrl-C turned into on its way out (a model's failure, a swallowed pass)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if not isinstance(exc, Exception | SystemExit):
            raise
        if debug:  # the whole traceback, printed here: the command group would turn a re-raise into one line
            import traceback

            traceback.print_exception(exc, file=sys.stderr)
            raise typer.Exit(exc.exit_code if isinstance(exc, ArchInspectError) else 1) from None
        if isinstance(exc, SystemExit):  # only code we ran calls sys.exit inside a command: report it, never obey
            stderr_console().print(error_text(f"the model's code called sys.exit({exc.code!r})"), markup=False)
            raise typer.Exit(1) from None
        found = error_line(exc)
        if found is not None:
            stderr_console().print(found[0], markup=False)
            raise typer.Exit(found[1]) from None
        # anything else is a model that cannot run
        text = one_line(str(exc)) or "no message"
        hint = "(rerun with --debug for the traceback)"
        stderr_console().print(error_text(f"{type(exc).__name__}: {text} {hint}"), markup=False)
        raise typer.Exit(1) from None
    finally:
        set_debug(previous)


_gc_paused = False


def pause_gc() -> None:
    """Start-up of the command line (``main``): no cyclic garbage collection while torch and the library are
    imported. Importing torch leaves about 170,000 objects for the collector to track, and the collections
    that run while they are made (full ones walk all of them) cost 0.4-0.5 s of a 2.1 s ``shapes vgg16`` on
    this 2-core machine. Reference counting frees everything as usual; :func:`settle_heap` turns collection
    back on once start-up is over."""
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def settle_heap() -> None:
    """Start-up is over (torch and the library are imported): move every object alive now to the permanent
    generation, which collections never walk, and turn collection back on for the objects the command makes.
    Does nothing unless :func:`pause_gc` paused collection (the library and tests leave ``gc`` alone)."""
    global _gc_paused
    if _gc_paused:
        gc.freeze()
        gc.enable()
        _gc_paused = False


def load_target(
    model_ref: str,
    args: list[str] | None,
    inputs: list[str] | None,
    device: str,
    *,
    auto: str = "meta",
    force: bool = False,
    allow_no_forward: bool = False,
) -> tuple[Any, list[Any], str]:
    """(LoadedModel, input specs, resolved device) for a command; UsageError when no input is known or the
    input lacks its batch dimension. ``allow_no_forward``: a module without ``forward`` comes back with no
    specs (for a parameter summary) instead of an error later."""
    from archinspect.analyses.hints import missing_batch_hint, suggested_input
    from archinspect.core.devices import resolve_device
    from archinspect.core.inputs import parse_inputs, parse_kwargs, split_keyword_inputs
    from archinspect.models.loading import load_model

    settle_heap()
    kwargs = parse_kwargs(args)
    positional, keywords = split_keyword_inputs(inputs)
    specs = parse_inputs(positional)
    resolved = resolve_device(device, auto=auto)
    loaded = load_model(model_ref, kwargs, device=resolved, force=force)
    loaded.keyword_inputs = keywords
    if allow_no_forward:
        from archinspect.render.params import has_forward

        if not has_forward(loaded.model):  # nothing to run: the caller shows a parameter summary
            return loaded, [], resolved
    if not specs and not loaded.default_inputs and not keywords:
        found = suggested_input(loaded.model)
        example = f"--input {','.join(map(str, found[0]))} ({found[1]})" if found else "e.g. --input 1,3,32,32"
        raise UsageError(f"{loaded.label} has no default input; give one, batch first: {example}")
    specs = loaded.inputs(specs)
    hint = missing_batch_hint(loaded.model, specs)
    if hint is not None:  # checked before any pass: C,H,W instead of N,C,H,W fails deep in the model otherwise
        raise UsageError(hint, param="inputs")
    return loaded, specs, resolved


@dataclass(frozen=True)
class Shown:
    """How a command shows its result: ``--format``, ``--output``, ``--save``, ``--wide``, ``--columns``."""

    format: OutputFormat = OutputFormat.table
    output: Path | None = None
    save: Path | None = None
    wide: bool = False
    columns: str | None = None


class CommandRun:
    """One run of a command, from :func:`command_run`: what every command does around its library call."""

    def __init__(self, shown: Shown) -> None:
        self.shown = shown

    def started(self) -> None:
        """Start-up is over (torch and the library imported): for a command that loads no model
        (:meth:`load` does this itself)."""
        settle_heap()

    def load(
        self,
        model_ref: str,
        args: list[str] | None,
        inputs: list[str] | None,
        device: str,
        **options: Any,
    ) -> tuple[Any, list[Any], str]:
        """(LoadedModel, input specs, resolved device): :func:`load_target`."""
        return load_target(model_ref, args, inputs, device, **options)

    def say(self, text: str) -> None:
        """A line on stderr (progress, a warning), never mixed into the output proper."""
        say(text)

    def note(self, text: str) -> None:
        """``note: text`` on stderr."""
        say(f"note: {text}")

    def notes(self, texts: Iterable[str], *, receptive: bool = False) -> None:
        """Each of ``texts`` on stderr as ``note: ...``, once: not when a table goes to the terminal, whose
        footer shows them; the note that receptive fields are upper bounds only when ``receptive`` fields
        were asked for (:func:`archinspect.text.notes_shown`)."""
        from archinspect.text import notes_shown

        s = self.shown
        if s.format is OutputFormat.table and s.output is None:
            return
        for text in notes_shown(texts, receptive):
            self.note(text)

    def show(self, view: View, notes: Iterable[str] = (), *, receptive: bool = False) -> None:
        """Say ``notes`` on stderr (see :meth:`notes`), then show ``view`` as the command's options ask."""
        self.notes(notes, receptive=receptive)
        s = self.shown
        emit(view, s.format, s.output, s.save, wide=s.wide, columns=s.columns)

    def fail(self, code: int = 1) -> None:
        """End the command with exit status ``code`` after its output (e.g. ``fit`` found a mismatch)."""
        raise typer.Exit(code)


@contextlib.contextmanager
def command_run(
    debug: bool,
    format: OutputFormat = OutputFormat.table,  # noqa: A002 - the option is --format
    output: Path | None = None,
    save: Path | None = None,
    *,
    wide: bool = False,
    columns: str | None = None,
) -> Iterator[CommandRun]:
    """The body of every command::

        with command_run(debug, format, output, save, wide=wide, columns=columns) as run:
            loaded, specs, device = run.load(model, arg, input, device)
            report = analyse(loaded.model, specs, ...)
            run.show(View(report), notes=report.notes)

    Any error in the body becomes one line on stderr and an exit code (:func:`handle_errors`).
    """
    with handle_errors(debug):
        yield CommandRun(Shown(format, output, save, wide, columns))
