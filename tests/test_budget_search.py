"""The budget search computes about three batch sizes (batch 1, the batch the affine peak predicts, its
neighbour) and stays exact: peak(batch) <= budget < peak(batch + 1)."""

from __future__ import annotations

import random

from archinspect.analyses.budget import budget_batches, largest_batch
from archinspect.models.loading import load_model


def test_affine_peak_takes_three_probes() -> None:
    calls: list[int] = []

    def peak(b: int) -> int:
        calls.append(b)
        return 1000 + 37 * b

    assert budget_batches(peak, 100_000, 1 << 20, fixed_of=lambda b: 1000)[:3] == (2675, 1000 + 37 * 2675, 2676)
    assert calls == [1, 2675, 2676]


def test_nearly_affine_peaks_stay_exact_and_bounded() -> None:
    rng = random.Random(0)
    for _ in range(300):
        a, s, step, q = rng.randint(1, 10**6), rng.randint(1, 10**4), rng.randint(0, 100), rng.random()

        def peak(b: int, a: int = a, s: int = s, step: int = step, q: float = q) -> int:
            return a + s * b + (b // 7) * step + int(q * b * b)

        budget = rng.randint(peak(1), peak(1) * 50 + 10**6)
        batch, _, nxt, _, probes = budget_batches(peak, budget, 1 << 20, fixed_of=lambda b, a=a: a)
        assert peak(batch) <= budget < peak(batch + 1) and nxt == batch + 1
        assert len(probes) <= 30


def test_resnet20_training_budget_in_four_probes_with_progress() -> None:
    model = load_model("resnet20", device="meta").model
    seen: list[tuple[int, int]] = []
    fit = largest_batch(model, [(1, 3, 32, 32)], 2**30, mode="train", progress=lambda b, p: seen.append((b, p)))
    assert fit.peak_bytes <= 2**30 < (fit.next_peak_bytes or 0) and fit.next_batch == fit.batch + 1
    assert len(fit.probes) <= 4 and seen == fit.probes
