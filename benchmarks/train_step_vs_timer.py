"""``profile --mode train`` beside a plain training loop timed by ``torch.utils.benchmark.Timer``; and the step's
measured peak memory beside ``archinspect memory``'s prediction. CPU, one thread.

The plain loop, on its own deep copy in train mode: ``zero_grad(set_to_none=True)``, forward, cross-entropy
against fixed random targets, ``backward``, ``torch.optim.SGD(lr=0.01).step()`` — Timer's
``blocked_autorange`` median per step. Ours: :func:`archinspect.bench.train.time_train_step` (the same step,
each phase bracketed by marks). The two alternate for ``--rounds`` rounds; each column is the median of its
rounds, so that load drifting over time hits both alike.

    nice -n -5 python benchmarks/train_step_vs_timer.py [--models resnet20:32x32x32,resnet18:8x112x112]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics

import torch
from torch.utils.benchmark import Timer

from archinspect.bench.train import time_train_step
from archinspect.core.inputs import InputSpec
from archinspect.models.loading import load_model


def plain_loop_seconds(model: torch.nn.Module, spec: InputSpec, min_time: float, device: str = "cpu") -> float:
    """Timer's median seconds per step of the plain loop on a copy of ``model`` (see the module doc)."""
    m = copy.deepcopy(model).to(device).train()
    x = spec.make(device)
    target = torch.randint(0, 10, (spec.shape[0],), generator=torch.Generator().manual_seed(0)).to(device)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, foreach=device != "cpu")

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x), target)
        loss.backward()
        opt.step()
        if device != "cpu":
            loss.item()  # the step waits for the device, as ours does once per step

    step()
    timer = Timer("step()", globals={"step": step}, num_threads=torch.get_num_threads())
    return timer.blocked_autorange(min_run_time=min_time).median


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet20:32x32x32,resnet18:8x112x112")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=4.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__} · 1 thread · load average before: {os.getloadavg()[0]:.2f}")
    head = (
        f"{'model':<10}{'input':<16}{'ours sam/s':>11}{'IQR':>6}{'Timer sam/s':>12}{'ratio':>7}"
        f"{'measured peak':>15}{'predicted':>12}{'ratio':>7}"
    )
    print(head)
    print("-" * len(head))
    for item in args.models.split(","):
        name, shape = item.split(":")
        b, h, w = (int(v) for v in shape.split("x"))
        spec = InputSpec((b, 3, h, w))
        model = load_model(name, device="cpu").model
        ours, theirs, spread = [], [], []
        report = None
        for _ in range(args.rounds):
            report = time_train_step(
                model, [spec], device="cpu", threads=1, min_time=args.min_time, max_time=3 * args.min_time
            )
            ours.append(report.samples_per_s)
            spread.append(report.step.rel_iqr)
            theirs.append(b / plain_loop_seconds(model, spec, args.min_time))
        assert report is not None
        o, t = statistics.median(ours), statistics.median(theirs)
        print(
            f"{name:<10}{str(spec):<16}{o:>11.2f}{statistics.median(spread):>6.0%}{t:>12.2f}{o / t:>7.3f}"
            f"{report.measured_peak_bytes / 2**20:>11.1f} MiB{report.predicted_peak_bytes / 2**20:>8.1f} MiB"
            f"{report.peak_ratio:>7.3f}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("peak: measured = torch.profiler memory events of one step (CPU); predicted = archinspect memory (train)")


if __name__ == "__main__":
    main()
