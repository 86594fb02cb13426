"""`archinspect shapes` against building the model on CPU and running torchinfo's summary: whole processes.

Each route is a fresh child process of this same Python (same torch), so start-up and imports count — that
is what a person waits for. Wall time is the median of ``--repeat`` runs; peak memory is the child's peak
resident set size (``ru_maxrss`` from ``os.wait4``), the median over the runs.

    python benchmarks/bench_shapes.py [--model vgg16] [--repeat 3]

Targets (issue 2): ``shapes vgg16`` at 1×3×224×224 in at most 0.6× the wall time and 0.5× the peak memory of
the CPU + torchinfo route; ``shapes vgg16 --input 64,3,1024,1024`` (meta; the CPU route would need ~55 GiB of
activations) in at most 1.5× the time and memory of the 224 run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

TORCHINFO_SCRIPT = """
import sys
import torchinfo
from archinspect import create_model

model = create_model(sys.argv[1], device="cpu").eval()
stats = torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0, device="cpu")
print(stats.total_params, stats.total_mult_adds)
"""


@dataclass
class Run:
    label: str
    command: list[str]
    seconds: list[float]
    peak_kib: list[int]

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mib(self) -> float:
        return statistics.median(self.peak_kib) / 1024  # Linux reports ru_maxrss in KiB


def measure(command: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in KiB) of one child process; raises if it fails."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} exited {child.returncode}: {err.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss


def run(label: str, command: list[str], repeat: int) -> Run:
    result = Run(label, command, [], [])
    for _ in range(repeat):
        seconds, peak = measure(command)
        result.seconds.append(seconds)
        result.peak_kib.append(peak)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args(argv)
    py = sys.executable
    shapes = [py, "-m", "archinspect", "shapes", opts.model]
    routes = [
        run("python -c 'import torch' (floor)", [py, "-c", "import torch"], opts.repeat),
        run(
            "CPU build + torchinfo.summary, 1×3×224×224",
            [py, "-c", TORCHINFO_SCRIPT, opts.model],
            opts.repeat,
        ),
        run(f"archinspect shapes {opts.model} (meta), 1×3×224×224", shapes, opts.repeat),
        run(
            f"archinspect shapes {opts.model} --input 64,3,1024,1024",
            [*shapes, "--input", "64,3,1024,1024"],
            opts.repeat,
        ),
    ]
    floor, cpu, ours, big = routes
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    where = f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}"
    print(f"{opts.model}: median of {opts.repeat} runs; {where}")
    print()
    print("| route | wall s | peak RSS MiB | wall vs CPU+torchinfo | memory vs CPU+torchinfo |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in routes:
        ratios = f"{r.wall / cpu.wall:.2f}× | {r.peak_mib / cpu.peak_mib:.2f}×"
        print(f"| {r.label} | {r.wall:.2f} | {r.peak_mib:.0f} | {ratios} |")
    print()
    checks = [
        (f"shapes {opts.model} wall ≤ 0.6× CPU+torchinfo", ours.wall / cpu.wall, 0.6),
        (f"shapes {opts.model} peak memory ≤ 0.5× CPU+torchinfo", ours.peak_mib / cpu.peak_mib, 0.5),
        ("64×3×1024×1024 wall ≤ 1.5× the 224 run", big.wall / ours.wall, 1.5),
        ("64×3×1024×1024 peak memory ≤ 1.5× the 224 run", big.peak_mib / ours.peak_mib, 1.5),
    ]
    missed = 0
    for text, ratio, limit in checks:
        ok = ratio <= limit
        missed += not ok
        print(f"{'met   ' if ok else 'MISSED'} {text}: {ratio:.2f}×")
    above_floor = (ours.wall - floor.wall, cpu.wall - floor.wall)
    print(f"beyond importing torch: shapes {above_floor[0]:.2f} s, CPU+torchinfo {above_floor[1]:.2f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
