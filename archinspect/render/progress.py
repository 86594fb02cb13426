"""Progress of long calls, as the person watching sees it: a rich bar on a terminal (stderr), a line that
updates in place in a notebook (no widgets needed), each shown once the call has run for about a second
and gone when it ends. :func:`archinspect.display.progress` decides whether anyone is watching."""

from __future__ import annotations

import threading
import time
from typing import Any

DELAY_S = 1.0  # shorter calls show nothing


class TerminalProgress:
    """A transient rich bar on stderr, started by a timer after :data:`DELAY_S`."""

    def __init__(self, what: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), MofNCompleteColumn()]
        columns.append(TimeElapsedColumn())
        self.bar = Progress(*columns, console=Console(stderr=True, highlight=False), transient=True)
        self.what = what
        self.task = self.bar.add_task(what, total=total)
        self.timer = threading.Timer(DELAY_S, self.bar.start)
        self.timer.daemon = True

    def __enter__(self) -> Any:
        self.timer.start()
        return self.advance

    def advance(self, description: str = "", steps: int = 1) -> None:
        text = f"{self.what}: {description}" if description else self.what
        self.bar.update(self.task, description=text, advance=steps)

    def __exit__(self, *exc: Any) -> None:
        self.timer.cancel()
        self.bar.stop()


class NotebookProgress:
    """One output line updated in place (``IPython.display`` with a display id), cleared at the end."""

    def __init__(self, what: str, total: int | None) -> None:
        self.what, self.total = what, total
        self.done = 0
        self.start = time.perf_counter()
        self.handle: Any = None

    def __enter__(self) -> Any:
        return self.advance

    def _line(self, description: str) -> str:
        count = f"{self.done}/{self.total}" if self.total else (f"{self.done}" if self.done else "")
        filled = round(20 * self.done / self.total) if self.total else 0
        bar = f"[{'█' * filled}{'·' * (20 - filled)}] " if self.total else ""
        elapsed = time.perf_counter() - self.start
        return f"{self.what}: {bar}{count} {description} · {elapsed:.1f} s".replace("  ", " ")

    def advance(self, description: str = "", steps: int = 1) -> None:
        from IPython.display import display

        self.done += steps
        if time.perf_counter() - self.start < DELAY_S:
            return
        text = self._line(description)
        if self.handle is None:
            self.handle = display(_Plain(text), display_id=True)
        else:
            self.handle.update(_Plain(text))

    def __exit__(self, *exc: Any) -> None:
        if self.handle is not None:
            self.handle.update(_Plain(""))


class _Plain:
    """A line of text as a notebook output (plain text only)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def __repr__(self) -> str:
        return self.text


def progress_display(what: str, total: int | None, *, notebook: bool) -> Any:
    """The progress display for where the call runs (registered with :func:`archinspect.display.register_progress`)."""
    return NotebookProgress(what, total) if notebook else TerminalProgress(what, total)
