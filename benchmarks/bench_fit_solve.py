"""How long the input-size search (``archinspect fit --solve``) takes, beyond the torch import.

For each model: build it on the meta device, then time ``fit`` (one tolerant pass) and
``valid_input_sizes`` (the search: galloping + binary search, one shape-only meta pass per probe) in
this process; then the whole ``archinspect fit MODEL --solve`` command in a fresh process, with and
without ``--solve``, minus the time a bare ``import torch`` takes there. Target: the search under 5 s
per model beyond the torch import on a 2-core machine.

    python benchmarks/bench_fit_solve.py [MODEL[:H] ...]      # default: resnet50 densenet121 d2l-alexnet:96
"""

from __future__ import annotations

import subprocess
import sys
import time

TARGET_S = 5.0
DEFAULT = ["resnet50", "densenet121", "d2l-alexnet:96"]


def _subprocess_seconds(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, capture_output=True, check=False)
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    torch_import = min(_subprocess_seconds([sys.executable, "-c", "import torch"]) for _ in range(2))
    t0 = time.perf_counter()
    import torch  # noqa: F401 - the import is what is timed

    in_process_import = time.perf_counter() - t0
    from archinspect.analyses.fitting import fit
    from archinspect.analyses.solve import valid_input_sizes
    from archinspect.models.loading import load_model

    print(f"import torch: {torch_import:.2f} s in a fresh process ({in_process_import:.2f} s here)")
    header = f"{'model':<14} {'input':<12} {'fit':>6} {'solve':>6} {'probes':>6} {'cmd':>6} {'no-solve':>8}  "
    header += "target  result"
    print(header)
    print("-" * len(header))
    failed = 0
    for item in argv or DEFAULT:
        name, _, size = item.partition(":")
        loaded = load_model(name, device="meta")
        shape = list(loaded.default_inputs[0].shape)
        if size:
            shape[2:] = [int(size)] * (len(shape) - 2)
        t0 = time.perf_counter()
        report = fit(loaded.model, [tuple(shape)], solve=False)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = valid_input_sizes(loaded.model, [tuple(shape)])
        solve_s = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "archinspect", "fit", name, "--input", ",".join(map(str, shape))]
        command_s = _subprocess_seconds([*cmd, "--solve"]) - torch_import
        baseline_s = _subprocess_seconds([*cmd, "--no-solve"]) - torch_import
        axis = result.axes[0]
        span = f"{axis.low}–{axis.high if axis.high is not None else 'up'}" if axis.valid else "none"
        verdict = "consistent" if report.consistent else f"{len(report.mismatches)} mismatch"
        ok = solve_s < TARGET_S
        failed += not ok
        print(
            f"{name:<14} {'×'.join(map(str, shape)):<12} {fit_s:5.2f}s {solve_s:5.2f}s {result.probes:>6} "
            f"{command_s:5.2f}s {baseline_s:7.2f}s  {'ok' if ok else 'SLOW':<6}  {verdict}; "
            f"valid {axis.axis} {span}, "
            f"smallest runnable {axis.smallest_runnable}"
        )
    print("fit, solve: in this process, model built on meta. cmd / no-solve: wall time of")
    print("`python -m archinspect fit MODEL --input ... --solve / --no-solve` minus a bare `import torch`;")
    print("their difference is what --solve costs; no-solve is loading + one pass, as in every command.")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
