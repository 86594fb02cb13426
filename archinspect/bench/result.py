"""What a benchmark returns: the environment header, the measured matmul peak and one row per
model × batch × variant. Every renderer (table, JSON, CSV, Markdown) reads these objects only.

Units: times in seconds in the objects (``*_ms`` in the rendered/JSON form), FLOPs counted as
2 × MACs (``archinspect.inspect``'s convention), memory in bytes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from archinspect.bench import policy
from archinspect.bench.stats import SampleStats, summarize
from archinspect.display import Displayable

SCHEMA = "archinspect.bench/1"
SPREAD_WARNING = 0.10  # IQR/median above this gets a warning in every output
OUT_OF_MEMORY = "out of memory"


@dataclass(frozen=True)
class Environment:
    """The header printed above every result: what ran, where, with which settings."""

    device: str
    device_name: str
    torch_version: str
    python_version: str
    platform: str
    threads: int
    interop_threads: int
    float32_matmul_precision: str
    cuda_version: str | None = None
    cudnn_version: int | None = None
    tf32_matmul: bool | None = None
    tf32_cudnn: bool | None = None
    cudnn_benchmark: bool | None = None
    compute_capability: str | None = None
    device_memory_bytes: int | None = None
    cpu_count: int | None = None
    load_average: float | None = None  # 1-minute load average when the run started (Unix)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PeakResult:
    """The device's matmul peak measured in this run: an ``size``×``size`` matmul in ``dtype``."""

    dtype: str
    size: int
    median_s: float
    rel_iqr: float
    n_samples: int

    @property
    def flops(self) -> int:
        return 2 * self.size**3

    @property
    def tflops(self) -> float:
        return self.flops / self.median_s / 1e12

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtype": self.dtype,
            "size": self.size,
            "flops": self.flops,
            "median_ms": self.median_s * 1e3,
            "rel_iqr": self.rel_iqr,
            "n_samples": self.n_samples,
            "tflops": self.tflops,
        }


@dataclass
class BenchRow:
    """One model at one batch size in one variant (``eager``, ``compiled``, ``cuda-graph``).

    ``flops`` is for the whole batch; ``samples`` are seconds per forward call of the whole batch.
    A row whose ``error`` is set has no timings (``out of memory`` or the error's message).
    """

    model: str
    batch: int
    variant: str
    dtype: str
    amp: bool
    channels_last: bool
    inputs: list[str]
    samples: list[float] = field(default_factory=list)
    stopped_by: str | None = None
    warmup_iters: int = 0
    warmup_time_s: float = 0.0
    compile_time_s: float | None = None
    flops: int | None = None
    flops_error: str | None = None
    peak_tflops: float | None = None
    peak_memory_bytes: int | None = None
    error: str | None = None
    min_samples: int | None = None  # the stop policy's minimum count: fewer, stopped by time, is unstable

    @property
    def unstable(self) -> bool:
        """Stopped by the time budget with fewer samples than the minimum (see :func:`.policy.unstable`)."""
        return policy.unstable(self.stopped_by, len(self.samples), self.min_samples) and self.error is None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.samples)

    @property
    def stats(self) -> SampleStats | None:
        return summarize(self.samples) if self.samples else None

    @property
    def samples_per_s(self) -> float | None:
        st = self.stats
        return self.batch / st.median if st and st.median > 0 else None

    @property
    def gflops_per_sample(self) -> float | None:
        return self.flops / self.batch / 1e9 if self.flops is not None else None

    @property
    def achieved_tflops(self) -> float | None:
        st = self.stats
        if st is None or self.flops is None or st.median <= 0:
            return None
        return self.flops / st.median / 1e12

    @property
    def peak_fraction(self) -> float | None:
        achieved = self.achieved_tflops
        if achieved is None or not self.peak_tflops:
            return None
        return achieved / self.peak_tflops

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        st = self.stats
        if st is not None and st.rel_iqr > SPREAD_WARNING and not self.unstable:
            out.append(f"spread IQR/median {st.rel_iqr:.0%} is above {SPREAD_WARNING:.0%}: noisy machine?")
        if self.unstable:
            out.append(
                f"unstable: the time budget stopped it after {st.n if st else 0} of the {self.min_samples} samples "
                "required; raise --max-time or lower --batch"
            )
        elif st is not None and st.n < 5:
            out.append(f"only {st.n} sample(s) fit in the time budget")
        share = self.peak_fraction
        if share is not None and share > 1.0:
            out.append(
                f"{share:.0%} of the matmul peak: the peak run was slowed (see its IQR/median) "
                "or this model's kernels beat that matmul"
            )
        if self.flops_error is not None:
            out.append(f"FLOPs not counted ({self.flops_error})")
        if self.error == OUT_OF_MEMORY:
            out.append(f"batch {self.batch} ran out of memory")
        return out

    def to_dict(self, with_samples: bool = True) -> dict[str, Any]:
        st = self.stats

        def ms(v: float | None) -> float | None:
            return None if v is None else v * 1e3

        d: dict[str, Any] = {
            "model": self.model,
            "batch": self.batch,
            "variant": self.variant,
            "dtype": self.dtype,
            "amp": self.amp,
            "channels_last": self.channels_last,
            "inputs": list(self.inputs),
            "median_ms": ms(st.median if st else None),
            "p10_ms": ms(st.p10 if st else None),
            "p90_ms": ms(st.p90 if st else None),
            "iqr_ms": ms(st.iqr if st else None),
            "rel_iqr": None if st is None or math.isinf(st.rel_iqr) else st.rel_iqr,
            "mean_ms": ms(st.mean if st else None),
            "min_ms": ms(st.min if st else None),
            "max_ms": ms(st.max if st else None),
            "n_samples": st.n if st else 0,
            "stopped_by": self.stopped_by,
            "unstable": self.unstable,
            "samples_per_s": self.samples_per_s,
            "flops_per_batch": self.flops,
            "gflops_per_sample": self.gflops_per_sample,
            "achieved_tflops": self.achieved_tflops,
            "peak_fraction": self.peak_fraction,
            "peak_memory_bytes": self.peak_memory_bytes,
            "compile_time_s": self.compile_time_s,
            "warmup_iters": self.warmup_iters,
            "warmup_time_s": self.warmup_time_s,
            "error": self.error,
            "warnings": self.warnings,
        }
        if with_samples:
            d["samples_ms"] = [s * 1e3 for s in self.samples]
        return d


@dataclass(repr=False)  # Displayable's short repr; print() shows the table
class BenchResult(Displayable):
    """The whole run: environment header, matmul peak (``None`` if not measured), settings, rows."""

    environment: Environment
    peak: PeakResult | None
    settings: dict[str, Any]
    rows: list[BenchRow] = field(default_factory=list)

    def row(self, model: str, batch: int, variant: str = "eager") -> BenchRow:
        for r in self.rows:
            if (r.model, r.batch, r.variant) == (model, batch, variant):
                return r
        raise KeyError((model, batch, variant))

    @property
    def failed(self) -> list[BenchRow]:
        """Rows that failed for a reason other than running out of memory."""
        return [r for r in self.rows if r.error is not None and r.error != OUT_OF_MEMORY]

    @classmethod
    def concat(cls, results: list[BenchResult]) -> BenchResult:
        """Several models benchmarked in one run (same environment and peak) as one result."""
        if not results:
            raise ValueError("no results to combine")
        first = results[0]
        return cls(first.environment, first.peak, dict(first.settings), [r for res in results for r in res.rows])

    def to_dict(self, with_samples: bool = True) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "environment": self.environment.to_dict(),
            "peak": self.peak.to_dict() if self.peak else None,
            "settings": dict(self.settings),
            "rows": [r.to_dict(with_samples) for r in self.rows],
        }
