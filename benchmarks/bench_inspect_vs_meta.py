"""In-process ``archinspect.inspect`` against a bare forward of the same model on the meta device.

The pass adds hooks on every module, a dispatch mode that costs every operator, the receptive-field tracker
and the substitutes; this measures what all that costs beside the forward it watches. Target (issue #19):
``inspect`` at most 1.5x the bare meta forward on resnet50, densenet201 and vit_b_16 (torchvision, when
installed; the CI environment has no torchvision, the sweep environment has).

Run: ``python benchmarks/bench_inspect_vs_meta.py [--repeat 7]``. Prints best-of-N wall times (ms).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

import archinspect
from archinspect.models.loading import load_model

MODELS = ("resnet50", "densenet201", "torchvision:vit_b_16")


def best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: first-call costs, imports
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'model':<24} {'bare meta ms':>12} {'inspect ms':>11} {'ratio':>6} {'totals-only ms':>15} {'ratio':>6}")
    for name in MODELS:
        try:
            loaded = load_model(name, device="meta")
        except Exception as exc:  # torchvision missing: say so, do not fail the table
            print(f"{name:<24} skipped: {' '.join(str(exc).split())[:70]}")
            continue
        model, spec = loaded.model.eval(), loaded.default_inputs[0]

        def bare(model: torch.nn.Module = model, shape: tuple[int, ...] = spec.shape) -> object:
            with torch.no_grad():
                return model(torch.empty(shape, device="meta"))

        full = best(lambda m=model, s=spec: archinspect.inspect(m, s), args.repeat)  # per module, receptive fields
        totals = best(lambda m=model, s=spec: archinspect.inspect(m, s, per_module=False, receptive=False), args.repeat)
        plain = best(bare, args.repeat)
        print(
            f"{name:<24} {plain * 1e3:>12.1f} {full * 1e3:>11.1f} {full / plain:>6.2f} "
            f"{totals * 1e3:>15.1f} {totals / plain:>6.2f}"
        )


if __name__ == "__main__":
    main()
