"""``profile``'s slowest modules beside ``torch.profiler``'s, on resnet50 (CPU, one thread, batch 1).

torch.profiler side: every leaf module's forward wrapped in ``record_function("module::NAME")`` by a pre- and
a post-hook, ten forwards recorded after warm-up, each module's CPU time (the operators it ran, grouped under
its ``record_function``) averaged per call. archinspect side: ``archinspect.bench.profile.profile`` at full
depth, each leaf module's median own time. The table: both top-five lists, whether they hold the same modules,
and the ratio of the two tools' times for our top five. ResNet-50 repeats identical layers (layer3.1-5 have
the same convolutions), so "same modules" allows a tie: a module in one list and not the other must be within
10 % of the other list's fifth (:func:`archinspect.bench.selfcheck.same_top`, also used on CUDA by the self-check).

    nice -n -5 python benchmarks/profile_vs_torch_profiler.py [--model resnet50] [--top 5]
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
from torch.profiler import ProfilerActivity, record_function
from torch.profiler import profile as torch_profile

from archinspect.bench.profile import profile
from archinspect.bench.selfcheck import same_top
from archinspect.models.loading import load_model

PREFIX = "module::"


def torch_profiler_times(model: torch.nn.Module, x: torch.Tensor, passes: int = 10) -> dict[str, float]:
    """Seconds per call of every leaf module, from torch.profiler's record_function ranges: the CPU time of
    the operators under each range, or on CUDA (``x`` on a GPU) the time of the kernels they launched."""
    on_cuda = x.is_cuda
    names = {m: n for n, m in model.named_modules() if n and not list(m.children())}
    open_ranges: list[record_function] = []

    def pre(mod: torch.nn.Module, args: object) -> None:
        rf = record_function(PREFIX + names[mod])
        rf.__enter__()
        open_ranges.append(rf)

    def post(mod: torch.nn.Module, args: object, out: object) -> None:
        open_ranges.pop().__exit__(None, None, None)

    handles = [h for m in names for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_cuda else [])
            with torch_profile(activities=activities) as prof:
                for _ in range(passes):
                    model(x)
                if on_cuda:
                    torch.cuda.synchronize()
    finally:
        for h in handles:
            h.remove()
    out = {}
    for ev in prof.key_averages():
        if ev.key.startswith(PREFIX):
            total = getattr(ev, "device_time_total", None) or ev.cuda_time_total if on_cuda else ev.cpu_time_total
            out[ev.key[len(PREFIX) :]] = total / ev.count / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model, device="cpu")
    model, spec = loaded.model.eval(), loaded.default_inputs[0]
    print(f"{args.model} {spec} · torch {torch.__version__} · 1 thread · load average {os.getloadavg()[0]:.2f}")
    r = profile(model, [spec], device="cpu", threads=1, repeats=20, depth=99)
    ours = {m.name: m.self_s for m in r.records if not m.children}
    theirs = torch_profiler_times(model, spec.make("cpu"))
    top_ours = sorted(ours, key=ours.get, reverse=True)[: args.top]
    top_theirs = sorted(theirs, key=theirs.get, reverse=True)[: args.top]
    print(f"{'rank':<5}{'archinspect profile':<28}{'ms':>8}   {'torch.profiler':<28}{'ms':>8}   ratio*")
    for i, (a, b) in enumerate(zip(top_ours, top_theirs, strict=True), 1):
        print(
            f"{i:<5}{a:<28}{ours[a] * 1e3:>8.2f}   {b:<28}{theirs[b] * 1e3:>8.2f}   "
            f"{ours[a] / theirs[a]:.3f}"
        )
    same, others, tied = same_top(ours, theirs, args.top)
    print(
        f"same modules in both top {args.top}: {same}/{args.top}"
        + (f" (the others tie within 10 %: {', '.join(others)})" if others and tied else "")
        + ("" if tied else f" · NOT the same: {', '.join(others)}")
    )
    common = [n for n in ours if n in theirs]
    ratio = statistics.median(ours[n] / theirs[n] for n in common if theirs[n] > 0)
    print(f"median ratio archinspect / torch.profiler over all {len(common)} leaf modules: {ratio:.3f}")
    print("* ratio: archinspect's time / torch.profiler's for the module in archinspect's column")


if __name__ == "__main__":
    main()
