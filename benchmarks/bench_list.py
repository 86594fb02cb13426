"""How long `archinspect list` takes over the whole zoo, beyond the torch import, and where it goes.

``archinspect list`` builds every zoo entry on the meta device and counts it with the engine (nothing is
allocated, no weights initialised). Measured two ways: the whole command in fresh processes (best of
``--repeat``) against a bare ``import torch``; and, in this process, build and count time per model.

    python benchmarks/bench_list.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

TARGET_S = 5.0  # "a few seconds beyond the torch import"


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

    torch_only = _best_wall([sys.executable, "-c", "import torch"], args.repeat)
    listing = _best_wall([sys.executable, "-m", "archinspect", "list", "--format", "json"], args.repeat)
    references = _best_wall([sys.executable, "-m", "archinspect", "list", "--no-figures"], args.repeat)

    import torch

    from archinspect.core.engine import run_pass
    from archinspect.core.options import PassOptions
    from archinspect.core.target import Target
    from archinspect.models.loading import create_model
    from archinspect.models.zoo import get_entry, list_models

    rows = []
    for name in list_models():  # what `list` does for each entry: build on meta, one totals-only pass
        entry = get_entry(name)
        t0 = time.perf_counter()
        model = create_model(name, device="meta")
        t1 = time.perf_counter()
        run_pass(Target.of(model, [entry.default_input]), PassOptions.check(device="meta", depth=0, per_module=False))
        rows.append((name, t1 - t0, time.perf_counter() - t1))
    build = sum(r[1] for r in rows)
    count = sum(r[2] for r in rows)

    print(f"archinspect list: {len(rows)} zoo models · torch {torch.__version__} · best of {args.repeat} processes")
    print()
    print("| what | wall s |")
    print("| --- | ---: |")
    print(f"| python -c 'import torch' | {torch_only:.2f} |")
    print(f"| archinspect list (figures counted on meta) | {listing:.2f} |")
    print(f"| archinspect list --no-figures (reference figures) | {references:.2f} |")
    print(f"| in-process: build all on meta / count all | {build:.2f} / {count:.2f} |")
    print()
    slowest = sorted(rows, key=lambda r: -(r[1] + r[2]))[:3]
    print("slowest: " + ", ".join(f"{n} {b + c:.2f} s" for n, b, c in slowest))
    beyond = listing - torch_only
    verdict = "met" if beyond <= TARGET_S else "MISSED"
    print(f"{verdict:6s} list beyond the torch import: {beyond:.2f} s (target ≤ {TARGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
