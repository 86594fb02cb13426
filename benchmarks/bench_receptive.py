"""What the receptive-field tracker adds to one inspection pass: the same pass with and without it.

Each model is run on the meta device, in this process, ``--repeat`` times each way, round-robin; the table
shows the best wall time per way and the ratio. ``shapes`` always tracks fields (its JSON carries them);
``flops``, ``fit`` and the size solver do not.

    python benchmarks/bench_receptive.py [--repeat 5] [--models "resnet50;vgg16@1,3,1024,1024"]

Target (issue 14): the tracked pass within 2× of the untracked one for resnet50, densenet121 and
inception-v3, and at most ~20 ms more for vgg16 even at 1×3×1024×1024 (fields keep one interval per unit
along each axis; an untracked vgg16 pass on meta takes ~10 ms, so there the ratio is ~2.5×). Measured on
the shared 2-core development machine (2026-11-23): resnet50 1.70×, densenet121 1.77×, inception-v3 1.73×,
vgg16 224² +15.6 ms (2.59×), vgg16 1024² +16.3 ms (2.28×).
"""

from __future__ import annotations

import argparse
import time

from archinspect.core.engine import run_pass
from archinspect.core.options import PassOptions
from archinspect.core.target import Target
from archinspect.models.loading import load_model


def _best(fn, repeat: int) -> float:  # noqa: ANN001 - a zero-argument callable
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--models", default="resnet50;densenet121;inception-v3;vgg16;vgg16@1,3,1024,1024")
    opts = parser.parse_args()
    tracking = PassOptions.check(receptive=True)
    print(f"{'model':<28} {'input':<18} {'plain ms':>9} {'with RF ms':>11} {'ratio':>7}")
    for item in opts.models.split(";"):
        name, _, shape_text = item.partition("@")
        loaded = load_model(name, device="meta")
        shape = tuple(int(v) for v in shape_text.split(",")) if shape_text else loaded.default_inputs[0].shape
        run_pass(Target.of(loaded.model, [shape]), tracking)  # warm-up: imports, first-call costs
        plain = _best(lambda m=loaded.model, s=shape: run_pass(Target.of(m, [s])), opts.repeat)
        tracked = _best(lambda m=loaded.model, s=shape: run_pass(Target.of(m, [s]), tracking), opts.repeat)
        dims = "x".join(map(str, shape))
        print(f"{name:<28} {dims:<18} {plain * 1e3:>9.1f} {tracked * 1e3:>11.1f} {tracked / plain:>6.2f}×")


if __name__ == "__main__":
    main()
