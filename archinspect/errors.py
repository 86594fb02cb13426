"""The one exception family archinspect raises for things a user can fix or should be told.

The CLI turns these into one line on stderr and an exit code in one place (``archinspect.cli.common.handle_errors``):
:class:`UsageError` exits 2 (bad input, unknown model, impossible device), :class:`ModelRunError`
exits 1 (the model itself cannot run on the given input).
"""

from __future__ import annotations


class ArchInspectError(Exception):
    """Base class; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(ArchInspectError):
    """The user asked for something that cannot be: a bad value, a missing file or model."""

    exit_code = 2


class ModelRunError(ArchInspectError):
    """The model was built but cannot run (or cannot be built) as asked.

    ``failure``: when a pass failed, the :class:`~archinspect.core.failure.PassFailure` describing it
    (which layer, what it received, why) as data, for analyses to enrich.
    """

    exit_code = 1

    def __init__(self, message: str, failure: object | None = None) -> None:
        super().__init__(message)
        self.failure = failure
