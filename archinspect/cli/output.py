"""How a command's result reaches the person: the output stream (stdout kept for the output alone while
the model's own prints go to stderr), the consoles (control characters from user code never written), widths,
and :func:`emit` in every format, written whole or not at all. Split from :mod:`archinspect.cli.common`,
which re-exports these names."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from archinspect.cli.params import Choice
from archinspect.errors import ArchInspectError, UsageError
from archinspect.render.escape import one_line, printable_lines


class OutputFormat(Choice):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


# A terminal sets the width of a table; piped output (a file, a pager, CI logs) gets this many columns.
PIPED_WIDTH = 120


def stderr_console() -> Any:
    """The console for notes and errors. On a terminal long lines wrap between words (never mid-word); piped
    (a log, ``2>file``) each message stays one line, whatever its length."""

    tty = _isatty(sys.stderr)
    return _safe_console_class()(file=sys.stderr, highlight=False, soft_wrap=not tty)


def say(message: str) -> None:
    """A one-line note on stderr (progress notes, fallbacks): never mixed into the output proper."""
    stderr_console().print(one_line(message), markup=False)


class OutputClosed(BrokenPipeError):
    """stdout's reader went away (``archinspect list | head -1``)."""


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit does not fail again on the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class View(Protocol):
    """What a command hands to :func:`emit`: the same result in every format."""

    def rich(self) -> list[Any]: ...
    def json(self) -> dict[str, Any]: ...
    def csv(self) -> str: ...
    def markdown(self) -> str: ...


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):  # replaced or closed streams
        return False


def _is_regular_file(stream: Any) -> bool:
    """stdout redirected to a file (``> report.txt``), as opposed to a terminal or a pipe (``| less``)."""
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


def terminal_width() -> int | None:
    """The width of the terminal this process runs in, even when stdout is piped (``| less``), else None.
    Output redirected to a file has no width to follow: None (it is laid out at ``PIPED_WIDTH``)."""
    out = output_stream()
    if _is_regular_file(out):
        return None
    for stream in (out, sys.stderr, sys.stdin):
        try:
            if stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # replaced streams (tests), closed descriptors
            continue
    return None


_SAFE_CONSOLE: Any = None


def _safe_console_class() -> Any:
    """A rich Console that never writes a control character it did not make itself: the text of every
    segment is passed through :func:`~archinspect.render.escape.printable_lines` (rich's own colours and
    cursor moves are added after, or are control segments). Views escape their cells already, so that
    widths are right; this is the net under everything else (a note, a title, a message)."""
    global _SAFE_CONSOLE
    if _SAFE_CONSOLE is None:
        from rich.console import Console
        from rich.segment import Segment

        class SafeConsole(Console):
            def render(self, renderable: Any, options: Any = None) -> Any:
                for segment in super().render(renderable, options):
                    if segment.control or segment.text == "\n":
                        yield segment
                    else:
                        yield Segment(printable_lines(segment.text), segment.style, segment.control)

            def on_broken_pipe(self) -> None:  # rich's own exits 1 through SystemExit, read as the model's exit
                raise OutputClosed

        _SAFE_CONSOLE = SafeConsole
    return _SAFE_CONSOLE


def _console(file: Any = None, record: bool = False, min_width: int = 0) -> Any:
    # $COLUMNS, else the terminal's width (also for `| less`), else a fixed PIPED_WIDTH: no terminal at all, or
    # a file (> file, --output, --save). --wide widens to the table.
    columns = os.environ.get("COLUMNS", "")
    width = int(columns) if columns.isdigit() else (terminal_width() if file is None else None) or PIPED_WIDTH
    console = _safe_console_class()(file=file or output_stream(), record=record, width=width, highlight=False)
    if console.width < min_width:
        console.width = min_width
    return console


_OUTPUT: list[Any] = []  # the real stdout while the model's prints are sent to stderr (see output_to_stderr)


def output_stream() -> Any:
    """Where a command's output goes: stdout as it was when the command started."""
    return _OUTPUT[-1] if _OUTPUT else sys.stdout


@contextlib.contextmanager
def model_prints_to_stderr() -> Iterator[None]:
    """Run a command body with everything printed on stdout sent to stderr — the model's own ``print``, a
    library's banner, a C extension's ``printf`` — so that stdout carries the command's output alone and
    ``--format json`` stays valid JSON. :func:`emit` writes to the stdout saved here (:func:`output_stream`).

    Python-level writes are redirected with ``contextlib.redirect_stdout``; when stdout is file descriptor 1
    (a real run, not a test's captured stream) the descriptor itself is pointed at stderr too (``os.dup2``),
    and the output is written through a duplicate of the original.
    """
    real = sys.stdout
    saved_fd: int | None = None
    out = real
    try:
        if real is not None and real.fileno() == 1 and sys.stderr is not None and sys.stderr.fileno() == 2:
            real.flush()
            saved_fd = os.dup(1)
            os.dup2(2, 1)
            raw = open(saved_fd, "wb", closefd=False, buffering=0)  # noqa: SIM115 - closed in finally
            out = io.TextIOWrapper(
                raw, encoding=real.encoding, errors=real.errors, line_buffering=_isatty(real), write_through=True
            )
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        saved_fd, out = None, real
    _OUTPUT.append(out)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _OUTPUT.pop()
        if saved_fd is not None:
            with contextlib.suppress(OSError, ValueError):
                out.flush()
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved_fd, 1)
            os.close(saved_fd)


def check_columns(view: View, columns: str | None) -> None:
    """``--columns`` checked against ``view``'s tables before the work that fills them (UsageError, exit 2)."""
    if columns is not None:
        from archinspect.render.table import fit_options

        fit_options(view.rich(), columns=columns)


def emit(
    view: View,
    fmt: OutputFormat,
    output: Path | None = None,
    save: Path | None = None,
    *,
    wide: bool = False,
    columns: str | None = None,
) -> None:
    """Print ``view`` in ``fmt`` (or write it to ``output``) and keep a picture of the table in ``save``.

    ``wide`` and ``columns`` (``--wide``, ``--columns``) choose the table's columns; see
    :func:`archinspect.render.table.fit_options`. A file is written whole or not at all
    (:func:`~archinspect.cli.safety.write_atomic`); output that cannot be written (stdout closed, a full
    disk) is an error, never a silent exit 0.
    """
    from archinspect.render.table import fit_options, full_width

    if save is not None and save.suffix.lower() not in (".svg", ".html", ".htm"):
        raise UsageError(f"--save {str(save)!r}: accepted file types are .svg and .html")

    shown = view.rich()
    fit_options(shown, wide=wide, columns=columns)
    need = full_width(shown) if wide else 0

    if fmt is OutputFormat.table:
        if output is not None:
            buf = io.StringIO()
            console = _console(buf, min_width=need)
            for item in shown:
                console.print(item)
            _write(output, buf.getvalue())
        else:
            _stdout_writable()
            console = _console(min_width=need)
            with _stdout_errors():
                for item in shown:
                    console.print(item)
    else:
        text = {
            OutputFormat.json: lambda: json.dumps(view.json(), indent=2) + "\n",
            OutputFormat.csv: view.csv,
            OutputFormat.markdown: view.markdown,
        }[fmt]()
        text = printable_lines(text)  # views escape their cells; this is the net under the rest
        if output is not None:
            _write(output, text)
        else:
            _stdout_writable()
            with _stdout_errors():
                output_stream().write(text)
    if save is not None:
        recorder = _console(io.StringIO(), record=True, min_width=need)
        for item in shown:
            recorder.print(item)
        svg = save.suffix.lower() == ".svg"
        picture = recorder.export_svg(title="archinspect") if svg else recorder.export_html()
        _write(save, picture, "--save", "saved")


def _stdout_writable() -> None:
    out = output_stream()
    if out is None or getattr(out, "closed", False):
        raise ArchInspectError("cannot write the output: stdout is closed; give --output FILE")


@contextlib.contextmanager
def _stdout_errors() -> Iterator[None]:
    """Writing to stdout, flushed: a closed pipe is :class:`OutputClosed`, any other failure (a full disk,
    ``>&-``) one line, exit 1."""
    try:
        yield
        output_stream().flush()
    except BrokenPipeError:
        raise OutputClosed from None
    except (OSError, ValueError) as exc:  # nothing of ours is left buffered in sys.stdout: the output was
        # written through output_stream(), so Python's flush at exit has nothing to fail on
        why = getattr(exc, "strerror", None) or str(exc)
        raise ArchInspectError(f"cannot write the output to stdout ({why}); give --output FILE") from None


def _write(path: Path, text: str, flag: str = "--output", done: str = "wrote") -> None:
    from archinspect.cli.safety import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise UsageError(f"{flag} {str(path)[:200]!r}: cannot write ({exc.strerror or exc})") from None
    say(f"{done} {path}")
