"""What never harming the model costs: one pass of ``archinspect.inspect`` per model, device and checkout.

Every pass now works on substitutes for every parameter and buffer (on CPU a copy of each), and a CPU/CUDA
pass is preceded by a meta pass that estimates its memory (the guard; ``force=True`` skips it). This
script times one in-process pass (the best of ``--repeat``, after one warm-up) in a child process per
checkout, so that this branch can be set beside a baseline checkout (e.g. the main branch):

    python benchmarks/bench_guard.py [--baseline /work/main] [--baseline-python PATH] [--repeat 5]

Rows: model × device (meta, cpu, cpu with force=True where the checkout has it); columns: milliseconds
per pass for each checkout and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
MODELS = ("resnet20", "resnet18", "densenet121")

CHILD = r"""
import inspect as pyinspect, json, sys, time
import archinspect
from archinspect import create_model, inspect
from archinspect.models.zoo import get_entry

repeat = int(sys.argv[1])
has_force = "force" in pyinspect.signature(inspect).parameters
out = {}
for name in sys.argv[2:]:
    model = create_model(name, device="cpu")
    shape = get_entry(name).default_input
    cases = [("meta", {}), ("cpu", {})] + ([("cpu force", {"force": True})] if has_force else [])
    for label, extra in cases:
        device = label.split()[0]
        inspect(model, shape, device=device, **extra)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            inspect(model, shape, device=device, **extra)
            times.append(time.perf_counter() - t0)
        out[f"{name} {label}"] = min(times) * 1000
print(archinspect.__file__)
print(json.dumps(out))
"""


def _run(checkout: Path, python: str, repeat: int) -> dict[str, float]:
    """Times from a child running ``python`` on ``checkout`` (checked: the archinspect it imported is that one)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run(
        [python, "-c", CHILD, str(repeat), *MODELS], env=env, cwd=checkout, capture_output=True, text=True, check=True
    )
    where, times = done.stdout.strip().splitlines()[-2:]
    if not Path(where).resolve().is_relative_to(checkout.resolve()):
        raise SystemExit(f"{python} imported archinspect from {where}, not from {checkout}")
    return json.loads(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=Path("/work/main"), help="a checkout to compare with")
    parser.add_argument("--baseline-python", default=None, help="its Python (default: BASELINE/.venv/bin/python)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ours = _run(HERE, sys.executable, args.repeat)
    base_python = args.baseline_python or str(args.baseline / ".venv" / "bin" / "python")
    base = _run(args.baseline, base_python, args.repeat) if args.baseline.is_dir() else {}
    print(f"{'pass':<24} {'this branch ms':>15} {'baseline ms':>12} {'ratio':>7}")
    for key, ms in ours.items():
        b = base.get(key)
        ratio = f"{ms / b:.2f}" if b else "-"
        base_text = f"{b:.1f}" if b is not None else "-"
        print(f"{key:<24} {ms:>15.1f} {base_text:>12} {ratio:>7}")


if __name__ == "__main__":
    main()
