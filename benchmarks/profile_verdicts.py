"""``profile``'s verdicts on controlled cases, on this machine's measured roofs (CPU, one thread).

- a large convolution (256→256 channels, 3×3, 56×56): near the matmul ceiling → compute-bound;
- an elementwise multiply over a 128 MiB tensor (far larger than the cache), in place: near the copy
  bandwidth → memory-bound (out of place, every call's fresh 128 MiB output is page-faulted in by the
  allocator, and the row is rightly "below its roof");
- a tiny layer (Linear 4→4 on one sample): its fixed cost per call dominates → overhead-bound.

Timed with ``--clock thread`` (the thread's CPU time, roofs included), so that other processes taking the
core on a shared machine do not turn a tiny layer's microseconds into milliseconds.

    nice -n -5 python benchmarks/profile_verdicts.py
"""

from __future__ import annotations

import os

import torch
from torch import nn

from archinspect.bench.profile import profile


class Scale(nn.Module):
    """In place: a new 128 MiB output per call would time the allocator's page faults, not the bandwidth."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul_(1.0)


CASES = (
    ("large conv", nn.Conv2d(256, 256, 3, padding=1), (1, 256, 56, 56), "compute-bound"),
    ("elementwise 128 MiB", Scale(), (32 * 2**20,), "memory-bound"),
    ("tiny layer", nn.Linear(4, 4), (1, 4), "overhead-bound"),
)


def main() -> None:
    torch.set_num_threads(1)
    print(f"torch {torch.__version__} · 1 thread · thread CPU time · load average before: {os.getloadavg()[0]:.2f}")
    head = f"{'case':<21}{'time ms':>10}{'FLOP/s':>10}{'GB/s':>8}{'% roof':>8}  {'verdict':<16}{'expected':<16}"
    print(head)
    print("-" * len(head))
    failed = 0
    for label, layer, shape, expected in CASES:
        r = profile(nn.Sequential(layer), [shape], device="cpu", threads=1, repeats=15, depth=1, clock="thread")
        row = r.rows(1)[1]
        v = row.verdict
        ok = v.verdict == expected
        failed += not ok
        print(
            f"{label:<21}{row.seconds * 1e3:>10.4f}{v.achieved_flops_per_s / 1e9:>9.2f}G"
            f"{v.achieved_bytes_per_s / 1e9:>8.2f}{v.roof_fraction:>8.0%}  {v.verdict:<16}{expected:<16}"
            + ("" if ok else "  MISMATCH"),
            flush=True,
        )
        c = r.ceilings
    print(
        f"roofs (last run): matmul {c.flops_per_s / 1e9:.1f} GFLOP/s · copy {c.bytes_per_s / 1e9:.2f} GB/s · "
        f"fixed {c.fixed_s * 1e6:.1f} µs/call (in the pass) · load average after: {os.getloadavg()[0]:.2f}"
    )
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
