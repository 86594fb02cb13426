"""Forward-pass benchmarks: warm-up, device-side timing, robust statistics, share of the measured peak.

``benchmark(model, inputs, ...) -> BenchResult``; the renderers in :mod:`.render` turn a result into a
table, JSON, CSV or Markdown.
"""

from archinspect.bench.result import BenchResult, BenchRow, Environment, PeakResult
from archinspect.bench.runner import benchmark
from archinspect.bench.stats import SampleStats, summarize

__all__ = ["BenchResult", "BenchRow", "Environment", "PeakResult", "SampleStats", "benchmark", "summarize"]
