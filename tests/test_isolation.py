"""A pass leaves the caller's process as it found it, sees work on worker threads, and survives deep nesting
(``archinspect.core.isolation``; docs/safety.md)."""

from __future__ import annotations

import sys
import threading

import pytest
import torch
from torch import nn

import archinspect
from archinspect.core.isolation import GlobalState, nesting_depth


class Leaky(nn.Module):
    """A forward that changes every global it can: seed, default dtype, threads, RNG draws."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(123)
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        return self.drop(self.lin(x)) + torch.randn_like(x)


class Threaded(nn.Module):
    """Runs ``b`` on a worker thread inside forward: 2 × 64 × 64 × 2 = 16,384 MACs in all."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: list[torch.Tensor] = []
        worker = threading.Thread(target=lambda: out.append(self.b(x)))
        worker.start()
        worker.join()
        return self.a(x) + out[0]


def nested(levels: int) -> nn.Module:
    """``levels`` modules each holding the next, a Linear(4, 4) at the bottom (built without recursion)."""

    class Wrap(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x)

    model: nn.Module = nn.Linear(4, 4)
    for _ in range(levels):
        model = Wrap(model)
    return model


@pytest.mark.parametrize("device", ["meta", "cpu"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_pass_leaves_torch_globals_and_rng_alone(device: str, mode: str) -> None:
    model = Leaky()
    threads = torch.get_num_threads()
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    before = GlobalState.capture()
    archinspect.inspect(model, [(1, 4)], device=device, mode=mode)
    assert torch.equal(torch.rand(3), expected)  # the caller's seeded stream goes on as if no pass ran
    assert GlobalState.capture() == before
    assert torch.get_default_dtype() is torch.float32
    assert torch.get_num_threads() == threads
    assert not torch.are_deterministic_algorithms_enabled()


def test_dropout_in_train_mode_does_not_advance_the_global_rng() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
    torch.manual_seed(7)
    expected = torch.randn(4)
    torch.manual_seed(7)
    archinspect.inspect(model, [(2, 8)], device="cpu", mode="train")
    assert torch.equal(torch.randn(4), expected)


@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_a_submodule_run_on_a_worker_thread_is_counted(device: str) -> None:
    report = archinspect.inspect(Threaded(), [(2, 64)], device=device)
    assert report.totals.macs == 16_384
    by_name = {r.name: r.macs for r in report.records}
    assert by_name["a"] == by_name["b"] == 8_192


@pytest.mark.parametrize("levels", [200, 240, 1000])
def test_deep_nesting_runs_and_the_recursion_limit_is_put_back(levels: int) -> None:
    model = nested(levels)
    assert nesting_depth(model) == levels
    limit = sys.getrecursionlimit()
    report = archinspect.inspect(model, [(1, 4)])
    assert report.totals.macs == 16
    assert sys.getrecursionlimit() == limit
