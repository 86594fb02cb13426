"""Forward-pass benchmarks: warm-up, device-side timing, robust statistics, share of the measured peak.

``benchmark(model, inputs, ...) -> BenchResult``; ``suite.benchmark_models`` runs several MODEL references
with one checked :class:`~archinspect.bench.runner.BenchPlan`; :mod:`archinspect.render.bench` turns a result
into a table, JSON, CSV or Markdown. Names load lazily: ``archinspect.bench.suite`` (the default suite) is
importable without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "BenchResult": "archinspect.bench.result",
    "BenchRow": "archinspect.bench.result",
    "Environment": "archinspect.bench.result",
    "PeakResult": "archinspect.bench.result",
    "benchmark": "archinspect.bench.runner",
    "profile": "archinspect.bench.profile",
    "ProfileReport": "archinspect.bench.profile_report",
    "time_train_step": "archinspect.bench.train",
    "TrainStepReport": "archinspect.bench.train",
    "SampleStats": "archinspect.bench.stats",
    "summarize": "archinspect.bench.stats",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archinspect.bench' has no attribute {name!r}")
