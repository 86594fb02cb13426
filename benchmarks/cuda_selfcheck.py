"""Everything GPU-side, checked in one command on a machine with CUDA (docs/cuda_selfcheck.md).

    python benchmarks/cuda_selfcheck.py [--output cuda_selfcheck.json] [--models resnet18,vgg16]

Steps: (1) the environment; (2) the test suite's ``cuda``-marked tests; (3) ``archinspect bench --device
cuda`` on the default suite, eager and CUDA-graph rows, in float32, TF32 and bf16 autocast; (4) the same
models timed by ``torch.utils.benchmark.Timer``, our median / Timer's; (5) the matmul peak against the GPU's
datasheet; (6) ``shapes``, ``flops``, ``fit --device cuda`` against ``--device meta``; (7) the memory
command's predicted peak against ``torch.cuda.max_memory_allocated`` (when that command exists); (8) ``profile``
on resnet18 batch 32: per-module event times summed against the plain forward, the slowest modules against
``torch.profiler``'s kernel times per module, and the training step's measured peak against the prediction and
its samples/s against a plain loop timed by Timer. Writes one
JSON file and a table; exits 0 only if every check holds. Without CUDA: one line, exit 0, nothing run.

Only the measuring is here; every verdict is a plain function in :mod:`archinspect.bench.selfcheck`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from archinspect.bench.selfcheck import (
    FAIL,
    MEMORY_RATIO_BOUNDS,
    PASS,
    SKIP,
    TIMER_RATIO_BOUNDS,
    Check,
    SelfCheckReport,
    check_bench_rows,
    check_module_kernel_times,
    check_peak,
    check_pytest,
    check_same_documents,
    check_setting,
    check_top_modules,
    judge_ratio,
    matmul_precision,
    run_step,
)

REPO = Path(__file__).resolve().parent.parent
DEVICE_MODELS = ("resnet18", "densenet-bc", "d2l-alexnet")
DEVICE_COMMANDS = ("shapes", "flops", "fit")
MEMORY_MODELS = ("resnet18", "densenet-bc")
MEMORY_BATCH = 32
MEMORY_OPTIMIZER = "sgd"  # plain SGD keeps no state: the training step's peak is weights, grads, activations
PROFILE_MODEL, PROFILE_BATCH = "resnet18", 32
# Per bench row: >= 3 warm-up calls and 0.2 s, then 0.3-1.0 s of samples. 5 models x 2 batches x 2 variants
# x 3 precisions = 60 rows: about 1.5 minutes on one GPU, plus three matmul peaks (~5 s each).
BENCH_BUDGET = {"warmup": 3, "warmup_time": 0.2, "iters": 10, "min_time": 0.3, "max_time": 1.0}
TIMER_MIN_RUN_TIME = 0.5  # seconds per model and batch for Timer.blocked_autorange
PYTEST_TIMEOUT_S = 300
CLI_TIMEOUT_S = 180


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", default="cuda_selfcheck.json", help="the JSON report (default: %(default)s)")
    parser.add_argument("--models", default=None, help="bench suite, comma-separated (default: bench's own)")
    a = parser.parse_args(argv)
    if not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        print(f"cuda_selfcheck: CUDA is not available ({why}; torch {torch.__version__}): nothing run")
        return 0

    from archinspect.bench.suite import DEFAULT_SUITE

    models = a.models.split(",") if a.models else list(DEFAULT_SUITE)
    report = SelfCheckReport()
    steps = [
        ("environment", lambda: step_environment(report)),
        ("cuda-tests", lambda: step_cuda_tests(report)),
        ("bench", lambda: step_bench(report, models)),
        ("timer", lambda: step_timer(report, models)),
        ("peak", lambda: step_peak(report)),
        ("devices", lambda: step_devices(report, "cuda", DEVICE_MODELS, DEVICE_COMMANDS)),
        ("memory", lambda: step_memory(report, MEMORY_MODELS)),
        ("profile", lambda: step_profile(report)),
    ]
    for i, (name, fn) in enumerate(steps, 1):
        print(f"[{i}/{len(steps)}] {name} ...", file=sys.stderr, flush=True)
        run_step(report, name, fn)
    report.write_json(a.output)
    print(report.table())
    print(f"report: {a.output}")
    return report.exit_code


# --- (1) environment -----------------------------------------------------------------------------------


def nvidia_smi(field: str) -> str | None:
    """One ``nvidia-smi --query-gpu`` field of GPU 0, or ``None`` without nvidia-smi."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={field}", "--format=csv,noheader", "-i", "0"],
            capture_output=True, text=True, timeout=30, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def step_environment(report: SelfCheckReport) -> None:
    props = torch.cuda.get_device_properties(0)
    env = {
        "gpu": props.name,
        "gpu_count": torch.cuda.device_count(),
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_bytes": int(props.total_memory),
        "driver": nvidia_smi("driver_version"),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    report.data["environment"] = env
    line = (
        f"{env['gpu']} (sm {env['compute_capability']}, {env['memory_bytes'] / 2**30:.0f} GiB), "
        f"driver {env['driver'] or 'unknown (no nvidia-smi)'}, CUDA {env['cuda']}, cuDNN {env['cudnn']}, "
        f"torch {env['torch']}"
    )
    print(line, flush=True)
    report.add(Check("environment", "GPU visible", PASS, line))


# --- (2) the cuda-marked tests -------------------------------------------------------------------------


def step_cuda_tests(report: SelfCheckReport) -> None:
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", "tests"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=PYTEST_TIMEOUT_S)
    output = proc.stdout + proc.stderr
    report.data["cuda-tests"] = {"command": " ".join(cmd[1:]), "exit": proc.returncode, "tail": output[-4000:]}
    report.add(check_pytest(proc.returncode, output))


# --- (3) bench -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for matmuls and cuDNN convolutions on or off for the block; the previous settings restored."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def precision_runs() -> list[tuple[str, dict[str, Any], bool]]:
    """(label, bench options, TF32 on) for the three runs; autocast in bfloat16 where the GPU has it
    natively (compute capability 8.0+), float16 before that."""
    half = "bfloat16" if torch.cuda.get_device_capability(0)[0] >= 8 else "float16"
    return [
        ("float32", {"dtype": "float32"}, False),
        ("tf32", {"dtype": "float32"}, True),
        (f"{half}-amp", {"dtype": half, "amp": True}, False),
    ]


def step_bench(report: SelfCheckReport, models: list[str]) -> None:
    from archinspect.bench.runner import BenchOptions
    from archinspect.bench.suite import benchmark_models

    docs: dict[str, Any] = {}
    report.data["bench"] = docs
    for label, opts, use_tf32 in precision_runs():
        cudnn_before = torch.backends.cudnn.benchmark
        with tf32(use_tf32):  # what `archinspect bench --device cuda --cuda-graph [--dtype D --amp]` runs
            options = BenchOptions(**opts, cuda_graph=True, **BENCH_BUDGET)
            result = benchmark_models(models, device="cuda", options=options, peak=True)
        doc = result.to_dict(with_samples=False)
        docs[label] = doc
        env = doc["environment"]
        report.add(*check_bench_rows(doc, label))
        report.add(
            check_setting("bench", f"{label} header tf32_matmul", env["tf32_matmul"], use_tf32),
            check_setting("bench", f"{label} header tf32_cudnn", env["tf32_cudnn"], use_tf32),
            check_setting("bench", f"{label} header cudnn_benchmark", env["cudnn_benchmark"], True),
            check_setting("bench", f"{label} cudnn.benchmark restored", torch.backends.cudnn.benchmark, cudnn_before),
        )


# --- (4) torch.utils.benchmark.Timer -------------------------------------------------------------------


def timer_medians_s(name: str, batches: Sequence[int], device: str = "cuda") -> tuple[str, dict[int, float]]:
    """(the model's report label, {batch: Timer's median seconds per forward call}) for zoo model ``name`` on
    ``device``, under the float32 bench run's settings: inference mode, cuDNN autotuning, no TF32."""
    from torch.utils.benchmark import Timer

    from archinspect.models.loading import load_model

    loaded = load_model(name, device=device)
    model = loaded.model.eval()
    out: dict[int, float] = {}
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        with tf32(False), torch.inference_mode():
            for batch in batches:
                x = loaded.default_inputs[0].with_batch(batch).make(device)
                for _ in range(3):  # cuDNN autotuning for this shape, outside the measurement
                    model(x)
                if x.is_cuda:
                    torch.cuda.synchronize()
                # Timer defaults to one CPU thread; bench keeps torch's setting: the same for both.
                timer = Timer("model(x)", globals={"model": model, "x": x}, num_threads=torch.get_num_threads())
                out[batch] = timer.blocked_autorange(min_run_time=TIMER_MIN_RUN_TIME).median
    finally:
        torch.backends.cudnn.benchmark = before
    return loaded.label, out


def step_timer(report: SelfCheckReport, models: Sequence[str], device: str = "cuda") -> None:
    doc = report.data.get("bench", {}).get("float32")
    if not doc:
        report.add(Check("timer", "ours / Timer", FAIL, "no float32 bench result to compare with"))
        return
    eager = {(r["model"], r["batch"]): r for r in doc["rows"] if r["variant"] == "eager"}
    table = []
    report.data["timer"] = table
    for name in models:
        label, theirs = timer_medians_s(name, doc["settings"]["batch_sizes"], device)
        for batch, seconds in theirs.items():
            ours = eager.get((label, batch), {}).get("median_ms")
            ratio = ours / (seconds * 1e3) if ours else None
            table.append({"model": label, "batch": batch, "ours_ms": ours, "timer_ms": seconds * 1e3, "ratio": ratio})
            check = judge_ratio("timer", f"{label} b{batch} ours/Timer", ratio, TIMER_RATIO_BOUNDS, "ratio")
            if ours:
                check.detail = f"{ours:.3f} / {seconds * 1e3:.3f} ms: {check.detail}"
            report.add(check)


# --- (5) matmul peak against the datasheet -------------------------------------------------------------


def step_peak(report: SelfCheckReport) -> None:
    docs = report.data.get("bench", {})
    if not docs:
        report.add(Check("peak", "matmul peak", FAIL, "no bench result with a measured peak"))
        return
    for label, doc in docs.items():
        env, peak = doc["environment"], doc["peak"]
        if peak is None:
            report.add(Check("peak", f"matmul peak ({label})", FAIL, doc["settings"].get("peak_error", "not measured")))
            continue
        precision = matmul_precision(peak["dtype"], env["tf32_matmul"], env["compute_capability"])
        check = check_peak(env["device_name"], precision, peak["tflops"], f"matmul peak {precision} ({label})")
        check.detail = f"{peak['size']}x{peak['size']}: {check.detail}"
        report.add(check)


# --- (6) shapes, flops, fit on CUDA against meta -------------------------------------------------------


def cli_json(command: str, model: str, device: str) -> Any:
    """``archinspect COMMAND MODEL --device DEVICE --format json`` in a subprocess; its parsed stdout."""
    cmd = [sys.executable, "-m", "archinspect", command, model, "--device", device, "--format", "json"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if proc.returncode != 0:
        raise RuntimeError(f"archinspect {command} {model} --device {device} exited {proc.returncode}: "
                           + " ".join(proc.stderr.split())[-300:])
    return json.loads(proc.stdout)


def step_devices(report: SelfCheckReport, device: str, models: Sequence[str], commands: Sequence[str]) -> None:
    """Every figure of each command's JSON on ``device`` equals the meta device's (device and notes aside)."""
    seen: dict[str, Any] = {}
    report.data["devices"] = seen
    for model in models:
        for command in commands:
            name = f"{command} {model} {device} = meta"
            try:
                ref, other = cli_json(command, model, "meta"), cli_json(command, model, device)
            except (RuntimeError, ValueError, subprocess.SubprocessError) as exc:
                report.add(Check("devices", name, FAIL, " ".join(str(exc).split())[:300]))
                continue
            totals = ref.get("totals") or {}
            summary = ", ".join(f"{k} {totals[k]:,}" for k in ("params", "macs") if isinstance(totals.get(k), int))
            if "output_shapes" in ref:  # fit's document
                summary = f"output {ref['output_shapes']}, {len(ref.get('mismatches', []))} mismatch(es)"
            seen[f"{command} {model}"] = {"meta_totals": totals, "device": other.get("device")}
            report.add(check_same_documents("devices", name, ref, other, summary and f"equal: {summary}"))


# --- (7) predicted against measured peak memory ---------------------------------------------------------


def measured_peak_bytes(name: str, mode: str, batch: int) -> int:
    """``torch.cuda.max_memory_allocated`` over one inference forward (``eval``) or one training step
    (``train``: forward, backward of the output's sum, SGD step) of zoo model ``name`` at ``batch``; the
    weights and the input are allocated before the reset, so they are in the figure."""
    from archinspect.models.loading import load_model

    loaded = load_model(name, device="cuda")
    model = loaded.model.train(mode == "train")
    x = loaded.default_inputs[0].with_batch(batch).make("cuda")
    opt = torch.optim.SGD(model.parameters(), lr=0.01) if mode == "train" else None

    def step() -> None:
        if opt is None:
            with torch.inference_mode():
                model(x)
            return
        model(x).sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # library handles and workspaces are created on the first call, outside the figure
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def step_memory(report: SelfCheckReport, models: Sequence[str]) -> None:
    import archinspect

    if not hasattr(archinspect, "memory"):
        report.add(Check("memory", "predicted peak", SKIP, "skipped: memory command not available"))
        return
    from archinspect.models.loading import load_model

    rows = []
    for name in models:
        for mode in ("eval", "train"):
            loaded = load_model(name, device="meta")
            spec = loaded.default_inputs[0].with_batch(MEMORY_BATCH)
            kwargs: dict[str, Any] = {"mode": mode}
            if mode == "train":
                kwargs["optimizer"] = MEMORY_OPTIMIZER
            predicted = int(archinspect.memory(loaded.model, [spec], **kwargs).peak_bytes)
            measured = measured_peak_bytes(name, mode, MEMORY_BATCH)
            torch.cuda.empty_cache()  # that run's model is gone; its cached blocks go back to the driver
            rows.append({"model": name, "mode": mode, "batch": MEMORY_BATCH, "predicted": predicted,
                         "measured": measured})
            check = judge_ratio("memory", f"{name} b{MEMORY_BATCH} {mode}", predicted / measured,
                                MEMORY_RATIO_BOUNDS, "predicted/measured")
            check.detail = f"{predicted / 2**20:.1f} / {measured / 2**20:.1f} MiB: {check.detail}"
            report.add(check)
    report.data["memory"] = rows


# --- (8) profile: module times, kernels, the training step ---------------------------------------------


def step_profile(report: SelfCheckReport, device: str = "cuda", batch: int = PROFILE_BATCH) -> None:
    """``profile`` on CUDA (events on the stream, one synchronise per pass) against torch.profiler's kernel
    times per module, and ``profile --mode train`` against the memory prediction and a plain Timer loop. The
    model is loaded on CPU so that only the timed copy occupies the GPU (its peak is the step's alone)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from profile_vs_torch_profiler import torch_profiler_times
    from train_step_vs_timer import plain_loop_seconds

    from archinspect.bench.profile import profile
    from archinspect.bench.train import time_train_step
    from archinspect.models.loading import load_model

    loaded = load_model(PROFILE_MODEL, device="cpu")
    spec = loaded.default_inputs[0].with_batch(batch)
    label = f"{PROFILE_MODEL} b{batch}"
    r = profile(loaded.model, [spec], device=device, repeats=10, depth=99, name=PROFILE_MODEL)
    rec = r.reconciliation
    check = judge_ratio("profile", f"{label} module sum / plain forward", 1 + rec.gap_fraction, TIMER_RATIO_BOUNDS,
                        "ratio")  # fmt: skip
    check.detail = f"{rec.module_sum_s * 1e3:.3f} / {rec.plain.median * 1e3:.3f} ms: {check.detail}"
    report.add(check)
    ours = {m.name: m.self_s for m in r.records if not m.children}
    model = loaded.model.to(device).eval()
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        kernels = torch_profiler_times(model, spec.make(device))
    finally:
        torch.backends.cudnn.benchmark = before
    report.add(check_top_modules(label, ours, kernels), *check_module_kernel_times(label, ours, kernels))
    del model
    loaded.model.to("cpu")
    if device != "cpu":
        torch.cuda.empty_cache()
    step = time_train_step(loaded.model, [spec], device=device, name=PROFILE_MODEL)
    check = judge_ratio("profile", f"{label} train peak measured/predicted", step.peak_ratio, MEMORY_RATIO_BOUNDS,
                        "ratio")  # fmt: skip
    report.add(check)
    timer_s = plain_loop_seconds(loaded.model, spec, 1.0, device=device)
    ratio = step.samples_per_s / (batch / timer_s)
    report.add(judge_ratio("profile", f"{label} train samples/s ours/Timer", ratio, TIMER_RATIO_BOUNDS, "ratio"))
    report.data["profile"] = {
        "forward": r.to_dict(1),
        "kernel_ms": {k: v * 1e3 for k, v in kernels.items()},
        "train_step": step.to_dict(),
        "timer_step_ms": timer_s * 1e3,
    }


if __name__ == "__main__":
    sys.exit(main())
