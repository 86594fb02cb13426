"""``archinspect graph`` beside torchview: time from a built model to a drawn SVG, boxes and edges drawn, and
whether a program outside pip is needed.

archinspect: :func:`archinspect.graph` on the model as the CLI builds it (meta device: nothing allocated),
laid out in-process, ``.svg()``. torchview: ``draw_graph`` on the same architecture built on CPU (it runs a
real forward), then ``visual_graph.pipe(format="svg")``, which runs Graphviz's ``dot`` program: torchview
needs the ``graphviz`` Python package *and* the system program (``apt-get install graphviz``); without it
the SVG step fails with ``ExecutableNotFound``. Both at the same depth, archinspect without folding (torchview
has none). Times are the best of ``--repeat`` runs in one warm process.

    python benchmarks/bench_graph.py [--depth 2] [--repeat 3] [--models resnet18,resnet50,...]

torchview is not a dependency of archinspect: ``pip install torchview graphviz`` to compare.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
from collections.abc import Callable

from archinspect.models.loading import load_model
from archinspect.render.graph import graph

MODELS = ["resnet18", "resnet50", "googlenet", "densenet121", "vgg16", "inception-v3", "densenet-bc"]


def best_of(repeat: int, run: Callable[[], str]) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(name: str, depth: int, repeat: int) -> tuple[float, int, int]:
    loaded = load_model(name)

    def run() -> str:
        view = graph(loaded.model, loaded.inputs(None), depth=depth, fold=False, model_name=name)
        run.counts = (len(view.nodes), len(view.edges))  # type: ignore[attr-defined]
        return view.svg()

    seconds, _ = best_of(repeat, run)
    return seconds, *run.counts  # type: ignore[attr-defined]


def torchview_svg(name: str, depth: int, repeat: int) -> tuple[float, int, int] | str:
    try:
        import torchview
    except ImportError:
        return "not installed"
    if shutil.which("dot") is None:
        return "needs Graphviz's dot program (not installed)"
    loaded = load_model(name, device="cpu")
    shape = loaded.inputs(None)[0].shape

    def run() -> str:
        g = torchview.draw_graph(loaded.model.eval(), input_size=shape, depth=depth, device="cpu")
        source = g.visual_graph.source
        run.counts = (len(re.findall(r"^\s*\w+ \[label=", source, re.M)),  # type: ignore[attr-defined]
                      len(re.findall(r"->", source)))
        return g.visual_graph.pipe(format="svg").decode()

    seconds, _ = best_of(repeat, run)
    return seconds, *run.counts  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    print(f"system dot program: {shutil.which('dot') or 'absent'} (archinspect does not use it)")
    print(f"{'model':<14} {'archinspect s':>13} {'boxes':>6} {'edges':>6}   {'torchview s':>11} {'boxes':>6} "
          f"{'edges':>6}   {'ratio':>6}")
    for name in args.models.split(","):
        ai = ours(name, args.depth, args.repeat)
        tv = torchview_svg(name, args.depth, args.repeat)
        if isinstance(tv, str):
            print(f"{name:<14} {ai[0]:>13.3f} {ai[1]:>6} {ai[2]:>6}   {tv}")
            continue
        print(f"{name:<14} {ai[0]:>13.3f} {ai[1]:>6} {ai[2]:>6}   {tv[0]:>11.3f} {tv[1]:>6} {tv[2]:>6}   "
              f"{ai[0] / tv[0]:>5.2f}x")


if __name__ == "__main__":
    main()
