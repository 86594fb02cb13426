"""The one exception family archinspect raises for things a user can fix or should be told.

The CLI turns these into one line on stderr and an exit code in one place (``archinspect.cli.common.handle_errors``):
:class:`UsageError` exits 2 (bad input, unknown model, impossible device), :class:`ModelRunError`
exits 1 (the model itself cannot run on the given input).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class ArchInspectError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with. ``param`` and ``mentions``: the API arguments
    the message names as ``name=value`` (see :class:`UsageError`). ``cli_words``: other phrases of the message
    the command line says differently, as (the API's phrase, the CLI's), e.g. a constructor argument
    ``("pass weights=None", "pass --arg weights=None")``. ``original``: the exception it was made from (a
    ``TypeError`` from a bad argument, the model's own error), kept as data once the chain is hidden."""

    exit_code = 1
    param: str | None = None
    mentions: tuple[str, ...] = ()
    cli_words: tuple[tuple[str, str], ...] = ()
    original: BaseException | None = None


class UsageError(ArchInspectError):
    """The user asked for something that cannot be: a bad value, a missing file or model.

    The message speaks the Python API's language. When it is about one argument, pass its name as
    ``param`` and start the message with ``name=value`` exactly as a caller would write it::

        raise UsageError(f"mode={mode!r} is not a mode; accepted: eval, train", param="mode")

    ``mentions``: other arguments the message names the same way (``name=value``), e.g. a remedy
    (``cuda_graph=True needs a CUDA device; use device='cuda'``, ``param="cuda_graph", mentions=("device",)``).
    The command line rewrites every ``name=`` of ``param`` and ``mentions`` into its own flag, in one place
    (``archinspect.cli.common.cli_message``): ``--mode 'test' is not a mode; accepted: eval, train``. Other
    ``key=value`` text in the message (a constructor argument such as ``depth=40``) is left as it is.
    """

    exit_code = 2

    def __init__(self, message: str, param: str | None = None, *, mentions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.param = param
        self.mentions = mentions


class ModelRunError(ArchInspectError):
    """The model was built but cannot run (or cannot be built) as asked.

    ``failure``: when a pass failed, the :class:`~archinspect.core.failure.PassFailure` describing it
    (which layer, what it received, why) as data, for analyses to enrich.
    """

    exit_code = 1

    def __init__(self, message: str, failure: object | None = None) -> None:
        super().__init__(message)
        self.failure = failure


class UserInterrupt(KeyboardInterrupt):
    """Ctrl-C typed by the person running the command (raised by the CLI's SIGINT handler).

    A ``KeyboardInterrupt`` that user code raises itself is the model's failure (exit 1); this one is an
    order to stop (exit 130): every ``except KeyboardInterrupt`` that reports a model's failure re-raises it.
    """


def one_line(text: str, limit: int = 600) -> str:
    """``text`` as one line for an error message: C++ frames torch appends (``Exception raised from …``)
    dropped, whitespace and newlines collapsed, cut to ``limit`` characters with …."""
    for marker in ("\nException raised from ", "\nFrame #", "\nframe #"):
        text = text.split(marker)[0]
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def escape_text(exc: BaseException) -> str:
    """What user code did when it raised ``SystemExit`` or ``KeyboardInterrupt``: ``called sys.exit(3)``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    return f"raised {type(exc).__name__}"


class ArgumentTypeError(UsageError, TypeError):
    """A ``TypeError`` from a bad argument to the API: a :class:`UsageError` that ``except TypeError`` still catches."""


class ArgumentValueError(UsageError, ValueError):
    """A ``ValueError`` from a bad argument to the API: a :class:`UsageError` ``except ValueError`` catches."""


# Where the CLI names a command, the API names the function to call (same message otherwise).
COMMAND_CALLS = (
    ("`archinspect fit`", "archinspect.fit(model, inputs)"),
    ("`archinspect list`", "archinspect.list_models()"),
)

_debug = [os.environ.get("ARCHINSPECT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")]


def debug_enabled() -> bool:
    return _debug[0]


def api_text(text: str) -> str:
    """A message as the API says it: ``archinspect.fit(model, inputs)`` where the CLI says `archinspect fit`."""
    for command, call in COMMAND_CALLS:
        text = text.replace(command, call)
    return text


def cli_text(text: str) -> str:
    """A message as the CLI says it: the inverse of :func:`api_text`."""
    for command, call in COMMAND_CALLS:
        text = text.replace(call, command)
    return text


def typed_errors(func: F) -> F:
    """Make ``func`` (a public API function) raise only archinspect's errors, each one line that reads well
    in a notebook.

    An :class:`ArchInspectError` passes through; a ``TypeError`` or ``ValueError`` escaping it (a bad
    argument the checks missed) becomes a :class:`UsageError` that is still that built-in type
    (:class:`ArgumentTypeError`, :class:`ArgumentValueError`); anything else a :class:`ModelRunError`.
    The message names Python calls where the CLI names commands (:func:`api_text`). Unless
    :func:`set_debug` is on, the error is raised from this function with no chained internal traceback;
    the exception it came from stays as ``original``. ``SystemExit`` and ``KeyboardInterrupt`` are left alone.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = not debug_enabled()  # IPython and pytest leave this frame out of tracebacks
        try:
            return func(*args, **kwargs)
        except ArchInspectError as exc:
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (api_text(exc.args[0]), *exc.args[1:])
            if debug_enabled():
                raise
            if exc.original is None:
                exc.original = exc.__cause__
            # The message says what went wrong and what to do. archinspect's internal traceback is left out:
            # archinspect.set_debug(True) (or ARCHINSPECT_DEBUG=1) keeps it.
            raise exc.with_traceback(None) from None
        except Exception as exc:
            text = " ".join(str(exc).split())[:300] or "no message"
            kind = (
                ArgumentTypeError
                if isinstance(exc, TypeError)
                else ArgumentValueError
                if isinstance(exc, ValueError)
                else ModelRunError
            )
            error = kind(f"{func.__name__}(): {type(exc).__name__}: {text}")
            error.original = exc
            if debug_enabled():
                raise error from exc
            raise error from None

    return wrapper  # type: ignore[return-value]


@typed_errors
def set_debug(on: bool = True) -> None:
    """Show the full chain of internal tracebacks behind an archinspect error (off by default; also
    ``ARCHINSPECT_DEBUG=1`` in the environment). Off, an error raised by a public function is its one line,
    raised from that function, with the exception it came from kept as ``original``."""
    _debug[0] = bool(on)
