"""Order statistics of timing samples: median, p10/p90, interquartile range and its ratio to the median.

Percentiles use linear interpolation between the two nearest order statistics (NumPy's default,
``torch.quantile``'s too), so ``percentile([1, 2, 3, 4], 50) == 2.5``. Every function takes seconds and
returns seconds; nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted samples, linearly interpolated."""
    n = len(sorted_samples)
    if n == 0:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    pos = (n - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return sorted_samples[lo] + (sorted_samples[hi] - sorted_samples[lo]) * frac


def relative_iqr(samples: Sequence[float]) -> float:
    """Interquartile range divided by the median (0.05 = the middle half of samples spans 5 % of the median)."""
    s = sorted(samples)
    med = percentile(s, 50)
    if med <= 0:
        return math.inf
    return (percentile(s, 75) - percentile(s, 25)) / med


@dataclass(frozen=True)
class SampleStats:
    """Summary of timing samples, all in seconds (``rel_iqr`` is a ratio)."""

    n: int
    median: float
    p10: float
    p25: float
    p75: float
    p90: float
    mean: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        return self.p75 - self.p25

    @property
    def rel_iqr(self) -> float:
        return self.iqr / self.median if self.median > 0 else math.inf


def summarize(samples: Sequence[float]) -> SampleStats:
    """Median, p10, quartiles, p90, mean, min and max of ``samples`` (seconds)."""
    if not samples:
        raise ValueError("no samples to summarize")
    s = sorted(samples)
    return SampleStats(
        n=len(s),
        median=percentile(s, 50),
        p10=percentile(s, 10),
        p25=percentile(s, 25),
        p75=percentile(s, 75),
        p90=percentile(s, 90),
        mean=math.fsum(s) / len(s),
        min=s[0],
        max=s[-1],
    )
