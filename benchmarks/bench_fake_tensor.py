"""What FakeTensorMode would cost against the meta device, for one counted forward (in-process, best of 3).

The default pass runs on meta (docs/real_models.md says why); this measures the alternative torch's own
estimators use, ``torch._subclasses.fake_tensor.FakeTensorMode``, with the same operator counter:

    python benchmarks/bench_fake_tensor.py [MODEL ...]      # default: densenet201 vgg16
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from archinspect.core.counter import OpCounter
from archinspect.core.engine import run_pass
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.models.loading import load_model


def best(fn: Callable[[], Any], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(name: str) -> tuple[float, float, float, float]:
    loaded = load_model(name, device="meta")
    spec, model = loaded.default_inputs[0], loaded.model

    def fake_build_and_forward() -> None:
        with FakeTensorMode():
            built = load_model(name).model.eval()  # built under the mode: parameters are fake tensors
            with torch.no_grad(), OpCounter(lambda cost: None):
                built(torch.empty(spec.shape))

    mode = FakeTensorMode()
    with mode:
        fake_model = load_model(name).model.eval()

    def fake_forward() -> None:
        with mode, torch.no_grad(), OpCounter(lambda cost: None):
            fake_model(torch.empty(spec.shape))

    per_module = lambda: run_pass(Target.of(model, [spec]), PassOptions.check(device="meta"))  # noqa: E731
    totals = lambda: run_pass(Target.of(model, [spec]), PassOptions.check(device="meta", per_module=False))  # noqa: E731
    for fn in (per_module, fake_forward):
        fn()  # warm: first-call imports and caches
    return best(per_module), best(totals), best(fake_forward), best(fake_build_and_forward)


def main() -> None:
    names = sys.argv[1:] or ["densenet201", "vgg16"]
    print("| model | meta pass, per module | meta pass, totals only | FakeTensorMode forward ", end="")
    print("| FakeTensorMode build + forward |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in names:
        a, b, c, d = measure(name)
        print(f"| {name} | {a:.3f} s | {b:.3f} s | {c:.3f} s | {d:.3f} s |")


if __name__ == "__main__":
    main()
