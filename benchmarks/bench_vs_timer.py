"""Our CPU median beside ``torch.utils.benchmark.Timer``'s, for three zoo models.

Same model object, same input shape, same thread count, both under ``torch.inference_mode()``. Timer's
``blocked_autorange`` times blocks of calls and reports the median per call; ours times every call on
its own. The two tools run in alternating rounds (ours, Timer, ours, Timer, ...) and each column is the
median over its rounds, so that load from other processes drifting over time hits both alike. On a quiet
machine the two agree within a few per cent; the ratio column says how far apart they are here.

    python benchmarks/bench_vs_timer.py [--threads 1] [--models resnet20,densenet-bc,resnet18]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch.utils.benchmark import Timer

import archinspect
from archinspect.bench.env import cpu_name
from archinspect.models.loading import load_model


def compare(name: str, threads: int, min_time: float, rounds: int) -> dict[str, object]:
    loaded = load_model(name, device="cpu")
    model = loaded.model.eval()
    spec = loaded.default_inputs[0]
    x = spec.make("cpu")
    ours: list[float] = []
    theirs: list[float] = []
    spread: list[float] = []
    for _ in range(rounds):
        res = archinspect.benchmark(model, [spec], device="cpu", threads=threads, min_time=min_time, peak=False)
        ours.append(res.rows[0].stats.median)
        spread.append(res.rows[0].stats.rel_iqr)
        with torch.inference_mode():
            timer = Timer("model(x)", globals={"model": model, "x": x}, num_threads=threads, label=name)
            theirs.append(timer.blocked_autorange(min_run_time=min_time).median)
    return {
        "model": loaded.label,
        "input": str(spec),
        "ours_ms": statistics.median(ours) * 1e3,
        "ours_iqr": statistics.median(spread),
        "timer_ms": statistics.median(theirs) * 1e3,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="resnet20,densenet-bc,resnet18")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of sampling per tool and round")
    parser.add_argument("--rounds", type=int, default=3)
    a = parser.parse_args()
    rows = [compare(m, a.threads, a.min_time, a.rounds) for m in a.models.split(",")]
    print(
        f"CPU ({cpu_name()}): torch {torch.__version__}, {a.threads} thread(s), {a.rounds} alternating rounds "
        f"of >= {a.min_time} s per tool; median ms per forward call\n"
    )
    print("| model | input | archinspect | (its IQR/median) | torch.utils.benchmark.Timer | ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['model']} | {r['input']} | {r['ours_ms']:.3f} | {r['ours_iqr']:.1%} "
            f"| {r['timer_ms']:.3f} | {r['ours_ms'] / r['timer_ms']:.3f} |"
        )


if __name__ == "__main__":
    main()
