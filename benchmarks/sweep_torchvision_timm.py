"""Sweep: every torchvision model (all task modules) and timm models across families, as a user runs them.

For each model, what ``archinspect shapes torchvision:NAME`` (no flags) does, in-process:

- ran: the plain command's path (build on meta without weights, the task's reference input, ``auto``
  device with its announced CPU fallback) finished;
- params: the report's total equals ``sum(p.numel() for p in model.parameters())``;
- MACs against torchvision's published ``_ops`` (GMACs at the documented reference input) within 0.5 %
  (or within the rounding of the published 3 decimals, for the smallest models).
  Segmentation weights carry the auxiliary classifier (``aux_loss=True``), so that figure is compared
  with the auxiliary head built; RAFT at two 512×512 frames (the size its ``_ops`` match). Detection is
  shown side by side without a verdict: a detector's cost after the backbone depends on the proposals its
  random weights produce. The row says how: the RoI heads' cost where the figure without them is ``_ops``,
  else the proposals the box head ran on and the count ``_ops`` implies (the box head is linear in it);
- FLOPs against ``torch.utils.flop_counter.FlopCounterMode`` run on the same model (meta when the model
  runs there, so scaled-dot-product attention is decomposed into its matmuls; CPU otherwise);
- wall time of archinspect's pass.

Run in an environment with torchvision and timm (the CI venv has neither)::

    python benchmarks/sweep_torchvision_timm.py [--only torchvision|timm] [--timm-count 100] [--out sweep.jsonl]

Each model is bounded by ``--timeout`` seconds (SIGALRM); results are appended to ``--out`` as they finish
and the summary is printed at the end (``--summary FILE`` prints it from a finished or partial file).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect as pyinspect
import json
import re
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")

BIG = re.compile(r"giant|gigantic|huge|enormous|xxl|_e_|large_|_large|_xl|_h14|_g14|_bigg")


class Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise Timeout


def timm_sample(count: int) -> list[str]:
    """One model per timm family (the name up to the first digit or underscore), skipping giant variants."""
    import timm

    chosen: dict[str, str] = {}
    for name in sorted(timm.list_models()):
        family = re.split(r"[_\d]", name, maxsplit=1)[0]
        if family in chosen or BIG.search(name):
            continue
        chosen[family] = name
    return list(chosen.values())[:count]


def flop_counter_flops(model: Any, specs: list[Any], device: str) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    args = [s.make(device) for s in specs]
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(*args)
    return int(counter.get_total_flops())


def reference_macs(name: str) -> tuple[float | None, str]:
    """torchvision's published GMACs (``_ops``) and the task."""
    import torchvision.models as tvm

    from archinspect.models.library import torchvision_task

    task = torchvision_task(name)
    try:
        weights = next(iter(tvm.get_model_weights(name)))
        return float(weights.meta["_ops"]), task
    except (StopIteration, KeyError, ValueError):
        return None, task


def run_one(ref: str, timeout: int) -> dict[str, Any]:
    import torch

    from archinspect.analyses.shapes import inspect
    from archinspect.models.loading import load_model

    row: dict[str, Any] = {"model": ref, "ran": False}
    lib, _, name = ref.partition(":")
    if lib == "torchvision":
        from archinspect.models.library import torchvision_task

        row["task"] = torchvision_task(name)
    signal.alarm(timeout)
    try:
        torch.manual_seed(0)  # a detector's proposals depend on its random weights: the same ones below
        t0 = time.perf_counter()
        loaded = load_model(ref, device="meta")
        specs = loaded.inputs(None)
        torch.manual_seed(0)
        report = inspect(loaded.model, specs, model_name=loaded.label, cpu_model=loaded.cpu_model(), depth=1)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        row.update(
            ran=True,
            input=report.input_text(),
            device=report.device,
            macs=report.totals.macs,
            params=report.totals.params,
            params_ok=report.totals.params == sum(p.numel() for p in loaded.model.parameters()),
            notes=loaded.notes + report.notes,
            uncounted=report.uncounted_ops,
        )
        if lib == "torchvision":
            ref_gmacs, task = reference_macs(name)
            row.update(task=task, ref_gmacs=ref_gmacs)
            import torchvision.models as tvm

            builder_args = pyinspect.signature(tvm.get_model_builder(name)).parameters
            if task == "segmentation" and ref_gmacs is not None and "aux_loss" in builder_args:
                aux = load_model(ref, {"aux_loss": True}, device="meta")
                aux_report = inspect(aux.model, specs, depth=0, per_module=False)
                row["macs_ref_config"] = aux_report.totals.macs
            elif task == "classification" and hasattr(loaded.model, "image_size") and ref_gmacs is not None:
                # ViT weights may be for another size than the weight-less model (vit_h_14: 518 vs 224)
                weights = next(iter(tvm.get_model_weights(name)))
                size = weights.meta.get("min_size", (0,))[0]
                if size and size != specs[0].shape[-1]:
                    big = load_model(ref, {"image_size": size}, device="meta")
                    row["macs_ref_config"] = inspect(big.model, [(1, 3, size, size)], per_module=False).totals.macs
                    row["ref_input"] = f"1,3,{size},{size} (image_size={size}, as the weights)"
                else:
                    row["macs_ref_config"] = report.totals.macs
            else:
                row["macs_ref_config"] = report.totals.macs
            if task == "detection":  # what the RoI heads cost: they run on however many proposals survive
                inclusive = report.inclusive()
                ran = [r for r in report.records if r.ran]
                heads = [inclusive[r.index].macs for r in ran if r.name == "roi_heads"]
                if heads:
                    row["macs_roi_heads"] = heads[0]
                box = [r for r in ran if r.name in ("roi_heads.box_head", "roi_heads.box_predictor")]
                if box:  # the box head runs once per proposal (mask and keypoint heads per detection)
                    row.update(proposals=box[0].input_shapes[0][0], macs_box=sum(inclusive[r.index].macs for r in box))
        # FlopCounterMode on the model that ran: the meta model, or the one rebuilt on CPU after a fallback
        model = loaded.model
        torch.manual_seed(0)
        if report.device == "cpu" and loaded.built_on == "meta":
            model = loaded.rebuild("cpu")
        on = "cpu" if report.device == "cpu" or loaded.built_on == "cpu" else "meta"
        fc = flop_counter_flops(model, specs, on)
        row.update(fc_flops=fc, fc_device=on, flops=2 * report.totals.macs)
    except Timeout:
        row["error"] = f"timeout after {timeout} s"
    except Exception as exc:  # the sweep records every failure and goes on
        row["error"] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    finally:
        signal.alarm(0)
    return row


def close_enough(ours_gmacs: float, ref: float) -> bool:
    """Within 0.5 %, or within the rounding of the published figure (``_ops`` has 3 decimals: ±0.0005)."""
    return abs(ours_gmacs - ref) <= max(0.005 * ref, 0.0005)


def verdict(row: dict[str, Any]) -> str:
    ref = row.get("ref_gmacs")
    if ref is None or "macs_ref_config" not in row:
        return "—"
    ours = row["macs_ref_config"] / 1e9
    diff = (ours - ref) / ref * 100
    if row.get("task") == "detection":
        shown = f"{ours:.3f} vs {ref:.3f} ({diff:+.1f} %, shown only)"
        heads = row.get("macs_roi_heads")
        if heads and close_enough((row["macs_ref_config"] - heads) / 1e9, ref):
            shown += f"; without the RoI heads {(row['macs_ref_config'] - heads) / 1e9:.3f} = _ops"
        elif row.get("proposals"):  # the box head's cost is linear in the proposals it runs on
            per = row["macs_box"] / row["proposals"]
            implied = (ref * 1e9 - (row["macs_ref_config"] - row["macs_box"])) / per
            shown += f"; box head on {row['proposals']} proposals, _ops implies {implied:.0f}"
        return shown
    where = f" at {row['ref_input']}" if "ref_input" in row else ""
    return f"{ours:.4f} vs {ref:.3f}{where} ({diff:+.2f} %) {'ok' if close_enough(ours, ref) else 'DIFFERS'}"


def fc_verdict(row: dict[str, Any]) -> str:
    if "fc_flops" not in row:
        return f"FlopCounterMode failed: {row['error'][:80]}" if row["ran"] and "error" in row else "—"
    ours, fc = row["flops"], row["fc_flops"]
    if ours == fc:
        return f"equal ({row['fc_device']})"
    return f"{ours / 1e9:.3f} vs {fc / 1e9:.3f} G ({(ours - fc) / max(fc, 1) * 100:+.2f} %, {row['fc_device']})"


def print_rows(rows: list[dict[str, Any]]) -> None:
    print("| model | task | input | ran | params = Σ numel | GMACs vs torchvision _ops ", end="")
    print("| FLOPs vs FlopCounterMode | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | ---: |")
    for r in rows:
        ran = "yes" if r["ran"] else f"no: {r.get('error', '')}"
        params = "—" if "params_ok" not in r else ("yes" if r["params_ok"] else "NO")
        task = r.get("task", "timm")
        print(
            f"| {r['model']} | {task} | {r.get('input', '')} | {ran} | {params} | {verdict(r)} | {fc_verdict(r)} "
            f"| {r.get('seconds', '')} |"
        )


def summary(rows: list[dict[str, Any]]) -> None:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r.get("task", "timm") if r["model"].startswith("torchvision") else "timm", []).append(r)
    print("| group | ran with the plain command | params = Σ numel | MACs within 0.5 % of _ops ", end="")
    print("| FLOPs = FlopCounterMode (where it runs) |")
    print("| --- | --- | --- | --- | --- |")
    for group, rs in groups.items():
        ran = sum(r["ran"] for r in rs)
        params = sum(bool(r.get("params_ok")) for r in rs)
        with_ref = [r for r in rs if r.get("ref_gmacs") and "macs_ref_config" in r]
        close = sum(close_enough(r["macs_ref_config"] / 1e9, r["ref_gmacs"]) for r in with_ref)
        shown = "shown, not judged" if group == "detection" else f"{close} / {len(with_ref)}"
        shown = shown if with_ref or group == "detection" else "none published"
        fc = [r for r in rs if "fc_flops" in r]
        equal = sum(r["fc_flops"] == r["flops"] for r in fc)
        print(f"| {group} | {ran} / {len(rs)} | {params} / {ran} | {shown} | {equal} / {len(fc)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["torchvision", "timm"])
    parser.add_argument("--timm-count", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("sweep.jsonl"))
    parser.add_argument("--summary", type=Path, help="print the tables from a results file and stop")
    parser.add_argument("--models", nargs="*", help="only these references (torchvision:NAME, timm:NAME)")
    opts = parser.parse_args()
    if opts.summary:
        rows = [json.loads(line) for line in opts.summary.read_text().splitlines() if line.strip()]
        summary(rows)
        print()
        print_rows(rows)
        return
    signal.signal(signal.SIGALRM, _alarm)
    refs: list[str] = list(opts.models or [])
    if not refs:
        if opts.only in (None, "torchvision"):
            import torchvision.models as tvm

            refs += [f"torchvision:{n}" for n in tvm.list_models()]
        if opts.only in (None, "timm"):
            refs += [f"timm:{n}" for n in timm_sample(opts.timm_count)]
    done = set()
    if opts.out.exists():
        done = {json.loads(line)["model"] for line in opts.out.read_text().splitlines() if line.strip()}
    rows = []
    for i, ref in enumerate(refs, 1):
        if ref in done:
            continue
        row = run_one(ref, opts.timeout)
        rows.append(row)
        with opts.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        status = "ran" if row["ran"] else row.get("error")
        print(f"[{i}/{len(refs)}] {ref}: {status} {row.get('seconds', '')}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            import gc

            gc.collect()
    rows = [json.loads(line) for line in opts.out.read_text().splitlines() if line.strip()]
    summary(rows)
    print()
    print_rows(rows)


if __name__ == "__main__":
    main()
