"""How long `archinspect list` takes against a bare `python -c "import torch"`.

``archinspect list`` prints the zoo from figures counted ahead (``archinspect/models/catalog_data.py``, checked
by ``tests/test_zoo_catalog.py`` against a real count) and imports no torch. Target: at most a quarter of the
wall time of importing torch. ``list --count`` builds every model on meta and counts it again, for comparison.

    python benchmarks/bench_list.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

TARGET_RATIO = 0.25  # list's wall time / import torch's


def _best_wall(command: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    cli = [sys.executable, "-m", "archinspect", "list"]
    torch_only = _best_wall([sys.executable, "-c", "import torch"], args.repeat)
    listing = _best_wall(cli, args.repeat)
    as_json = _best_wall([*cli, "--format", "json"], args.repeat)
    counted = _best_wall([*cli, "--count"], 1)

    print(f"archinspect list: best of {args.repeat} fresh processes (--count: one)")
    print()
    print("| what | wall s | / import torch |")
    print("| --- | ---: | ---: |")
    for what, wall in (
        ("python -c 'import torch'", torch_only),
        ("archinspect list", listing),
        ("archinspect list --format json", as_json),
        ("archinspect list --count (build and count every model now)", counted),
    ):
        print(f"| {what} | {wall:.2f} | {wall / torch_only:.2f} |")
    print()
    ratio = max(listing, as_json) / torch_only
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    print(f"{verdict:6s} list / import torch: {ratio:.2f} (target ≤ {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
