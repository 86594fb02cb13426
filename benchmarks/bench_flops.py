"""Wall time and peak memory of ``count_flops`` against fvcore's ``FlopCountAnalysis``.

Both start from the same built CPU model in eval mode and stop at the total. Each measurement runs in
a fresh subprocess (no shared caches or allocator state); peak memory is the resident set's rise above
what the built model already holds, sampled every millisecond while counting.

    python benchmarks/bench_flops.py                     # resnet50 and densenet201, 3 repeats
    python benchmarks/bench_flops.py resnet18 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings

COUNTERS = {
    "archinspect": "count_flops(model, inputs): the meta device, no arithmetic done",
    "archinspect-cpu": "count_flops(model, inputs, device='cpu'): a real CPU forward pass",
    "fvcore": "FlopCountAnalysis(model, inputs).total(): a TorchScript trace, then a graph walk",
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakRss:
    """Samples the resident set size in a thread; ``peak`` is the highest value seen."""

    def __init__(self) -> None:
        self.peak = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.001)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


# Bytecode caching on, as for an installed package: with PYTHONDONTWRITEBYTECODE=1 the imports inside the
# timed region (the counter's own modules) would be compiled from source on every run.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure_one(counter: str, name: str) -> dict[str, float]:
    """Build ``name`` on CPU, then time ``counter`` from the built model to the total (in this process)."""
    import torch

    from archinspect.models.loading import load_model

    torch.manual_seed(0)
    loaded = load_model(name, device="cpu")
    model = loaded.model.eval()
    shape = loaded.default_inputs[0].shape
    base = _rss()
    with _PeakRss() as peak:
        start = time.perf_counter()
        if counter.startswith("archinspect"):
            from archinspect.analyses.flops import count_flops

            device = "cpu" if counter == "archinspect-cpu" else "auto"
            total = count_flops(model, [shape], device=device).totals.macs
        else:
            from fvcore.nn import FlopCountAnalysis

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                analysis = FlopCountAnalysis(model, torch.randn(shape))
                analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                total = analysis.total()
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": (peak.peak - base) / 2**20, "total": total}


def measure(counter: str, name: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--one", counter, name]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=CHILD_ENV)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", default=["resnet50", "densenet201"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("COUNTER", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(*args.one)))
        return
    import torch

    print(f"torch {torch.__version__} · {os.cpu_count()} CPUs · median of {args.repeat} runs, each in a fresh process")
    for key, what in COUNTERS.items():
        print(f"  {key:16s} {what}")
    header = f"{'model':12s} {'counter':16s} {'total':>16s} {'time s':>8s} {'peak MiB':>9s} {'time vs fvcore':>15s}"
    print("\n" + header + "\n" + "-" * len(header))
    for name in args.models:
        results = {}
        for counter in COUNTERS:
            measure(counter, name)  # uncounted warm-up: writes the bytecode caches, warms the file cache
            runs = [measure(counter, name) for _ in range(args.repeat)]
            results[counter] = {
                "seconds": statistics.median(r["seconds"] for r in runs),
                "peak_mib": statistics.median(r["peak_mib"] for r in runs),
                "total": runs[0]["total"],
            }
        fv = results["fvcore"]["seconds"]
        for counter, r in results.items():
            print(
                f"{name:12s} {counter:16s} {int(r['total']):>16,d} {r['seconds']:>8.2f} "
                f"{r['peak_mib']:>9.1f} {r['seconds'] / fv:>14.3f}×"
            )
    print("\ntotals: archinspect = MACs; fvcore = MACs + BatchNorm + adaptive pool (see `archinspect flops --compare`)")


if __name__ == "__main__":
    main()
