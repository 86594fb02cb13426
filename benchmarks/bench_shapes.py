"""`archinspect shapes` against building the model on CPU and running torchinfo's summary: whole processes.

Each route is a fresh child process of this same Python (same torch), so start-up and imports count — that
is what a person waits for. The routes run round-robin ``--repeat`` times, so a busy machine slows them
alike; wall time is the best (minimum) run, CPU time (user + system, from ``os.wait4``) the median, peak
memory the child's peak resident set size (``ru_maxrss``), the median.

Children run with bytecode caching on and after one uncounted warm-up round, as for an installed package
(pip writes the ``.pyc`` files at install). An environment with ``PYTHONDONTWRITEBYTECODE=1`` would otherwise
recompile every archinspect module on every run (about 0.1 s), a cost no installed user pays; both routes
import archinspect, so both get the same treatment.

    python benchmarks/bench_shapes.py [--model vgg16] [--repeat 3]

Targets (issue 2): ``shapes vgg16`` at 1×3×224×224 in at most 0.6× the wall time and 0.5× the peak memory of
the CPU + torchinfo route; ``shapes vgg16 --input 64,3,1024,1024`` (meta; on CPU the first convolution
alone would output 16 GiB) in at most 1.5× the time and memory of the 224 run.
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
from archinspect import load_model

loaded = load_model(sys.argv[1], device="cpu")
shape = loaded.default_inputs[0].shape
stats = torchinfo.summary(loaded.model.eval(), input_size=shape, verbose=0, device="cpu")
print(stats.total_params, stats.total_mult_adds)
"""


# archinspect's console script imports torch with cyclic GC paused (archinspect/cli/common.py, pause_gc)
PAUSED_IMPORT = "import gc; gc.disable(); import torch; gc.freeze(); gc.enable()"
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


@dataclass
class Run:
    label: str
    command: list[str]
    seconds: list[float]
    cpu_seconds: list[float]
    peak_kib: list[int]

    @property
    def wall(self) -> float:
        return min(self.seconds)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_seconds)

    @property
    def peak_mib(self) -> float:
        return statistics.median(self.peak_kib) / 1024  # Linux reports ru_maxrss in KiB


def measure(command: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB) of one child process; raises if it fails."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=CHILD_ENV)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(command)} exited {child.returncode}: {err.read().decode()[-500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def run_all(routes: list[Run], repeat: int) -> None:
    """Round-robin: every route once per round, so load from elsewhere falls on all of them alike.

    One uncounted warm-up round first writes the bytecode caches and warms the file cache."""
    for route in routes:
        measure(route.command)
    for _ in range(repeat):
        for route in routes:
            seconds, cpu, peak = measure(route.command)
            route.seconds.append(seconds)
            route.cpu_seconds.append(cpu)
            route.peak_kib.append(peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args(argv)
    py = sys.executable
    shapes = [py, "-m", "archinspect", "shapes", opts.model]
    from archinspect.models.zoo import get_entry

    default = get_entry(opts.model).default_input
    size = "×".join(str(d) for d in default)
    big_input = f"64,{default[1]},1024,1024"
    routes = [
        Run("python -c 'import torch' (floor)", [py, "-c", "import torch"], [], [], []),
        Run("the same with GC paused, as archinspect starts", [py, "-c", PAUSED_IMPORT], [], [], []),
        Run(f"CPU build + torchinfo.summary, {size}", [py, "-c", TORCHINFO_SCRIPT, opts.model], [], [], []),
        Run(f"archinspect shapes {opts.model} (meta), {size}", shapes, [], [], []),
        Run(
            f"archinspect shapes {opts.model} --input {big_input}",
            [*shapes, "--input", big_input],
            [],
            [],
            [],
        ),
    ]
    run_all(routes, opts.repeat)
    floor, paused, cpu, ours, big = routes
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    where = f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}"
    print(
        f"{opts.model}: {opts.repeat} rounds; {where}; the last three columns are ratios to CPU + torchinfo"
    )
    print()
    print("| route | wall s (best) | CPU s | peak RSS MiB | wall | CPU | memory |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in routes:
        ratios = f"{r.wall / cpu.wall:.2f}× | {r.cpu / cpu.cpu:.2f}× | {r.peak_mib / cpu.peak_mib:.2f}×"
        print(f"| {r.label} | {r.wall:.2f} | {r.cpu:.2f} | {r.peak_mib:.0f} | {ratios} |")
    print()
    checks = [
        (f"shapes {opts.model} wall ≤ 0.6× CPU+torchinfo", ours.wall / cpu.wall, 0.6),
        (f"shapes {opts.model} peak memory ≤ 0.5× CPU+torchinfo", ours.peak_mib / cpu.peak_mib, 0.5),
        (f"{big_input} wall ≤ 1.5× the {size} run", big.wall / ours.wall, 1.5),
        (f"{big_input} peak memory ≤ 1.5× the {size} run", big.peak_mib / ours.peak_mib, 1.5),
    ]
    missed = 0
    for text, ratio, limit in checks:
        ok = ratio <= limit
        missed += not ok
        print(f"{'met   ' if ok else 'MISSED'} {text}: {ratio:.2f}×")
    print("wall time beyond importing torch:")
    print(f"  shapes {ours.wall - paused.wall:.2f} s (after the paused import)")
    print(f"  CPU+torchinfo {cpu.wall - floor.wall:.2f} s (after the plain import)")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
