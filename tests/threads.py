"""Run one function on several threads at once and collect what they raised, for the thread-safety tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any


def run_in_threads(work: Callable[[Any], None], args: Iterable[Any]) -> list[BaseException]:
    """``work(arg)`` on one thread per arg, all started before any is joined; what they raised, in no order."""
    errors: list[BaseException] = []

    def guarded(arg: Any) -> None:
        try:
            work(arg)
        except BaseException as exc:  # noqa: BLE001 - collected for the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(arg,)) for arg in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors
