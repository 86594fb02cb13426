"""Models that share submodules are safe from several threads: a pass holds every module it touches.

A pass swaps tensors in the tables of every module it runs. With a lock on the model's root alone, two
models sharing a backbone ran at once and left the shared layer's weight a different ``Parameter`` ("pop
from empty list", "Tensor on device meta is not on the expected device"). :class:`model_lock` claims every
module of the model in one step, so such passes wait for each other and disjoint models run in parallel.
"""

from __future__ import annotations

import threading
import time

import torch
from model_state import assert_same, snapshot
from threads import run_in_threads
from torch import nn

from archinspect import inspect
from archinspect.core.substitute import model_lock


def _two_models_sharing_a_backbone() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3))
    classifier = nn.Sequential(backbone, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    segmenter = nn.Sequential(backbone, nn.Conv2d(8, 2, 1), nn.Upsample(scale_factor=2))
    return classifier, segmenter


def test_two_models_sharing_a_backbone_from_four_threads() -> None:
    classifier, segmenter = _two_models_sharing_a_backbone()
    models = {"classifier": classifier, "segmenter": segmenter}
    before = {name: snapshot(m) for name, m in models.items()}
    params = {name: [(p, p.detach().clone()) for p in m.parameters()] for name, m in models.items()}
    expected = {name: inspect(m, (2, 3, 16, 16), device="cpu") for name, m in models.items()}
    done: list[tuple[str, str, object]] = []

    def work(i: int) -> None:
        for j in range(30):
            name = ("classifier", "segmenter")[(i + j) % 2]
            device = ("meta", "cpu")[(i // 2 + j) % 2]
            done.append((name, device, inspect(models[name], (2, 3, 16, 16), device=device)))

    errors = run_in_threads(work, range(4))
    assert errors == []
    assert len(done) == 120 and {(n, d) for n, d, _ in done} == {(n, d) for n in models for d in ("meta", "cpu")}
    for name, device, report in done:
        assert report.device == device
        assert [(r.name, r.output_shapes, r.macs, r.params) for r in report.records] == [
            (r.name, r.output_shapes, r.macs, r.params) for r in expected[name].records
        ]
    for name, model in models.items():
        assert_same(before[name], snapshot(model))
        for (p, values), now in zip(params[name], model.parameters(), strict=True):
            assert now is p and torch.equal(now, values)  # the same Parameter object, the same values


def test_a_pass_waits_only_for_models_it_shares_a_module_with() -> None:
    classifier, segmenter = _two_models_sharing_a_backbone()
    other = nn.Linear(4, 4)
    order: list[str] = []
    with model_lock(classifier):
        waiting = threading.Thread(target=lambda: (inspect(segmenter, (1, 3, 8, 8)), order.append("segmenter")))
        free = threading.Thread(target=lambda: (inspect(other, (1, 4)), order.append("other")))
        waiting.start(), free.start()
        free.join(timeout=60)
        time.sleep(0.2)  # the segmenter's pass must still be waiting for the shared backbone
        order.append("released")
        with model_lock(segmenter):  # re-entrant: this thread already holds the backbone
            pass
    waiting.join(timeout=60)
    assert order == ["other", "released", "segmenter"]
