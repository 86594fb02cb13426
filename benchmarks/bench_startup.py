"""Start-up of the command line on each Typer release: ``archinspect --help`` and ``shapes vgg16``, side by side.

pyproject has no upper bound on Typer, and Typer 0.29 validates parameters with pydantic, which it imports
on every run. Give one Python per Typer release to compare (each an environment with archinspect and that
Typer installed); every route runs in fresh processes, round-robin ``--repeat`` times after one uncounted
warm-up round, and the best wall time is shown (as in ``bench_shapes.py``, whose ``measure`` this uses).

    python benchmarks/bench_startup.py --python .venv/bin/python --python /tmp/typer-0.29.2/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

from bench_shapes import CHILD_ENV, measure

PROBE = """
import sys
from typer.testing import CliRunner
import typer
from archinspect.cli.app import app
CliRunner().invoke(app, ["--help"])
at_help = "pydantic" in sys.modules
CliRunner().invoke(app, ["list", "resnet18", "--no-figures", "--format", "csv"])  # options given: values parsed
print(typer.__version__, at_help, "pydantic" in sys.modules)
"""


def _typer(python: str) -> tuple[str, str]:
    """(Typer's version, which runs import pydantic) in the environment of ``python``."""
    done = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, check=True, env=CHILD_ENV)
    version, at_help, at_command = done.stdout.split()
    where = [w for w, yes in (("--help", at_help), ("a command", at_command)) if yes == "True"]
    return version, " and ".join(where) or "no"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", help="an interpreter to compare (repeatable)")
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--repeat", type=int, default=5)
    opts = parser.parse_args(argv)
    pythons = opts.python or [sys.executable]
    routes = {
        "python -c pass": ["-c", "pass"],
        "import pydantic": ["-c", "import pydantic"],
        "import typer": ["-c", "import typer"],
        "archinspect --help": ["-m", "archinspect", "--help"],
        f"archinspect shapes {opts.model}": ["-m", "archinspect", "shapes", opts.model, "--format", "json"],
    }
    best: dict[tuple[str, str], float] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    for round_ in range(opts.repeat + 1):  # round 0 is the warm-up (bytecode and file caches)
        for python in pythons:
            for label, words in routes.items():
                try:
                    seconds, cpu_seconds, _ = measure([python, *words])
                except RuntimeError:  # e.g. no pydantic in an environment with an older Typer
                    continue
                if round_:
                    best[(python, label)] = min(best.get((python, label), seconds), seconds)
                    cpu.setdefault((python, label), []).append(cpu_seconds)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"best of {opts.repeat} fresh processes; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}")
    print()
    print("wall s: best; CPU s (user + system): median")
    print()
    print("| Typer | pydantic imported at | " + " | ".join(f"{label}: wall / CPU s" for label in routes) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in routes) + " |")
    for python in pythons:
        version, pydantic = _typer(python)
        figures = " | ".join(
            f"{best[(python, label)]:.2f} / {statistics.median(cpu[(python, label)]):.2f}"
            if (python, label) in best
            else "not installed"
            for label in routes
        )
        print(f"| {version} | {pydantic} | {figures} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
