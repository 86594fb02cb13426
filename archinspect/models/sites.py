"""Where in a user's file each layer was constructed, for ``fit``'s "constructed at file.py:12".

While the file's model is built, a profile function (``sys.setprofile``, this thread only) sees every call
of ``nn.Module.__init__`` and notes the first frame of the file on the way up. Nothing is patched: no class
or function is replaced, other threads are unaffected, and the previous profile function is restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import Any

from torch import nn


class ConstructionSites:
    """Where in one source file each module was constructed (noted inside :func:`construction_sites`)."""

    def __init__(self, source_file: str) -> None:
        self.path = source_file
        self._real = os.path.realpath(source_file)
        self._cache: dict[str, bool] = {}
        self._lines: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()

    def _is_source(self, filename: str) -> bool:
        hit = self._cache.get(filename)
        if hit is None:
            hit = self._cache[filename] = os.path.realpath(filename) == self._real
        return hit

    def note(self, module: nn.Module, frame: FrameType | None) -> None:
        """Note the line of the first frame from ``frame`` outward that runs the source file."""
        while frame is not None:
            if self._is_source(frame.f_code.co_filename):
                with contextlib.suppress(TypeError):
                    self._lines.setdefault(module, frame.f_lineno)
                return
            frame = frame.f_back

    def for_model(self, model: nn.Module) -> dict[str, str]:
        """Layer name -> ``file:line`` for every module of ``model`` constructed in the file."""
        out = {}
        for name, mod in model.named_modules():
            line = self._lines.get(mod)
            if line is not None:
                out[name] = f"{self.path}:{line}"
        return out


@contextlib.contextmanager
def construction_sites(source_file: str) -> Iterator[ConstructionSites]:
    """Note the file:line of every ``nn.Module`` constructed from ``source_file`` inside the block."""
    sites = ConstructionSites(source_file)
    init_code = nn.Module.__init__.__code__
    previous = sys.getprofile()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is init_code:
            module = frame.f_locals.get("self")
            if isinstance(module, nn.Module):
                sites.note(module, frame.f_back)
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield sites
    finally:
        sys.setprofile(previous)
