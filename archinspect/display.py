"""Results that display themselves: as the CLI's table when printed, as an HTML table in a notebook.

Results are made in ``core/``, ``analyses/`` and ``bench/``; how they look is ``render/``'s business, and
imports only point down a layer. So a result class only inherits :class:`Displayable` (this base-layer
mixin, which imports nothing of archinspect), and ``render/__init__.py`` registers, by class name, a
function that turns a result into a :class:`Shown` (text at a width, HTML, rich renderables, a table for
pandas). The first time a result is displayed, the registry is filled by importing the render package by
name (:data:`RENDER_PACKAGE`) — the one place a lower layer reaches a higher one, at run time and by
registration only.

What each display method gives:

- ``str(result)`` / ``print(result)``: the CLI's table as plain text, at ``$COLUMNS``, the terminal's width,
  or :data:`PLAIN_WIDTH` characters when there is no terminal (a notebook, a log);
- ``repr(result)``: one short line (type, model, headline figures) — not the dataclass dump;
- ``_repr_html_`` / ``_repr_mimebundle_`` (Jupyter, JupyterLab, VS Code, Colab): an HTML table that
  scrolls inside its own box rather than wrapping, plus the plain text;
- ``__rich_console__``: the same rich renderables the CLI prints (``rich.print(result)``);
- ``to_dataframe()``: the main table as a ``pandas.DataFrame`` (raw numbers) when pandas is installed.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol

RENDER_PACKAGE = "archinspect.render"  # importing it registers every result type's display
PLAIN_WIDTH = 120  # print() width when there is no terminal


class Shown(Protocol):
    """What a registered display function returns for one result."""

    def text(self, width: int) -> str: ...
    def html(self) -> str: ...
    def rich(self) -> list[Any]: ...
    def frame_rows(self) -> list[dict[str, Any]]: ...
    def summary(self) -> str: ...


_DISPLAYS: dict[str, Callable[[Any], Shown]] = {}


def register_display(type_name: str, make: Callable[[Any], Shown]) -> None:
    """Display results of the class named ``type_name`` with ``make(result)`` (called by ``render``)."""
    _DISPLAYS[type_name] = make


def shown(result: Any) -> Shown:
    """The registered display of ``result``, by its class name or a base class's."""
    names = [cls.__name__ for cls in type(result).__mro__]
    if not any(n in _DISPLAYS for n in names):
        importlib.import_module(RENDER_PACKAGE)
    for name in names:
        if name in _DISPLAYS:
            return _DISPLAYS[name](result)
    raise TypeError(f"no display is registered for {type(result).__name__}")


def plain_width() -> int:
    """``$COLUMNS``, else the width of the terminal stdout is (or stderr, stdin), else :data:`PLAIN_WIDTH`."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        try:
            if stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # replaced streams (notebooks, tests), closed descriptors
            continue
    return PLAIN_WIDTH


class Displayable:
    """Mixin for result classes (dataclasses declare ``repr=False`` so that this ``__repr__`` stands)."""

    __slots__ = ()

    def __str__(self) -> str:
        return shown(self).text(plain_width())

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {shown(self).summary()}; print() shows the table>"
        except Exception:  # a repr must never raise (debuggers call it on half-built objects)
            return f"<{type(self).__name__}>"

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from shown(self).rich()

    def _repr_html_(self) -> str:
        return shown(self).html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        show = shown(self)
        return {"text/plain": show.text(plain_width()), "text/html": show.html()}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython in a terminal echoes the table
        printer.text(repr(self) if cycle else str(self))

    def to_dataframe(self) -> Any:
        """The main table as a ``pandas.DataFrame`` of raw numbers (one row per table row); needs pandas."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from None
        return pandas.DataFrame(shown(self).frame_rows())


# ---- progress of long calls: a bar on a terminal, a line in a notebook, nothing when piped ----

Advance = Callable[..., None]  # advance(description, steps=1)
_PROGRESS: list[Callable[..., Any]] = []  # the factory render registers: (what, total, notebook) -> context manager
_SHOWING = threading.local()  # .on: a progress display is up in this thread (a call inside a call shows nothing)


def register_progress(factory: Callable[..., Any]) -> None:
    """Show progress with ``factory(what, total, notebook=bool)``, a context manager yielding ``advance``."""
    _PROGRESS[:] = [factory]


def in_notebook() -> bool:
    """Running in a Jupyter kernel (Jupyter, JupyterLab, VS Code, Colab): IPython's shell has a kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return getattr(shell, "kernel", None) is not None


def _interactive() -> bool:
    if in_notebook():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class progress:  # noqa: N801 - used like a function: ``with progress("fit", 10) as advance:``
    """Progress of one long call: ``with progress("bench", total=6, enabled=None) as advance: advance("x")``.

    ``enabled``: None shows it where someone watches (a terminal on stderr, a notebook) and stays silent when
    output is piped; False never; True always (on stderr when there is no terminal). ``total``: the number of
    steps, or None when unknown. Shown only once the call has taken about a second. A long call inside another
    (``memory`` inside the budget search) shows nothing of its own: the outer call's display stays the one."""

    def __init__(self, what: str, total: int | None = None, enabled: bool | None = None) -> None:
        self.what, self.total = what, total
        self.on = enabled if enabled is not None else _interactive()
        self.shown: Any = None

    def __enter__(self) -> Advance:
        if not self.on or getattr(_SHOWING, "on", False):
            return _silent
        if not _PROGRESS:
            importlib.import_module(RENDER_PACKAGE)
        self.shown = _PROGRESS[0](self.what, self.total, notebook=in_notebook())
        advance = self.shown.__enter__()
        _SHOWING.on = True
        return advance

    def __exit__(self, *exc: Any) -> None:
        if self.shown is not None:
            _SHOWING.on = False
            self.shown.__exit__(*exc)


def _silent(description: str = "", steps: int = 1) -> None:
    return None
