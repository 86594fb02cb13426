"""The model comes out of every pass bit for bit as it went in: the zoo and a set of user-model patterns
(shared modules, tied weights, spectral and weight norm, frozen parameters, forwards that write buffers or
attributes, forwards that raise), on meta and CPU, in eval and train, in float32 and bfloat16."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from model_state import assert_same, snapshot
from torch import nn
from torch.nn.utils import parametrizations
from zoo_sample import zoo_params

import archinspect
from archinspect import create_model, inspect
from archinspect.errors import ModelRunError

# (device, mode, dtype): the passes every model goes through
PASSES = [("meta", "eval", None), ("cpu", "eval", None), ("meta", "train", None), ("cpu", "train", "bfloat16")]


def _shared() -> nn.Module:
    lin = nn.Linear(8, 8)
    return nn.Sequential(lin, nn.ReLU(), lin, nn.BatchNorm1d(8))


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 8, bias=False)
        self.dec = nn.Linear(8, 8, bias=False)
        self.dec.weight = self.enc.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.relu(self.enc(x)))


def _normed() -> nn.Module:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    parametrizations.spectral_norm(model[0])  # power iteration writes its _u, _v buffers in train mode
    parametrizations.weight_norm(model[2])
    return model


def _frozen() -> nn.Module:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 8))
    model[0].requires_grad_(False)
    model[2].weight.grad = torch.ones_like(model[2].weight)  # a .grad left from training
    model[1].register_forward_hook(lambda m, i, o: None)  # the user's own hook stays, theirs alone
    model.eval()  # a flag set by the user, restored after train-mode passes
    return model


class _Writes(nn.Module):
    """Writes a buffer, a parameter (in place) and attributes in every forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("running", torch.zeros(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += 1
        self.running.mul_(0.9).add_(x.mean(0).float())
        self.fc.bias.add_(1)
        self.cache = x
        self.fc.extra = True  # an attribute on a child
        return self.fc(x)


class _Raises(nn.Module):
    """Writes its buffer, then fails."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.register_buffer("count", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += 1
        self.started = True
        return self.fc(x.reshape(-1, 7))


PATTERNS: dict[str, Callable[[], nn.Module]] = {
    "shared": _shared,
    "tied": _Tied,
    "normed": _normed,
    "frozen": _frozen,
    "writes": _Writes,
    "raises": _Raises,
}


@pytest.mark.parametrize(("device", "mode", "dtype"), PASSES)
@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_user_model_patterns_are_left_bit_for_bit(pattern: str, device: str, mode: str, dtype: str | None) -> None:
    torch.manual_seed(0)
    model = PATTERNS[pattern]()
    before = snapshot(model)
    if pattern == "raises":
        with pytest.raises(ModelRunError, match=r"shape '\[-1, 7\]' is invalid"):
            inspect(model, (4, 8), device=device, mode=mode, dtype=dtype)
        with pytest.raises(ModelRunError, match=r"shape '\[-1, 7\]' is invalid"):
            archinspect.fit(model, (4, 8), device=device, mode=mode)
    else:
        report = inspect(model, (4, 8), device=device, mode=mode, dtype=dtype)
        assert report.totals.params == sum(p.numel() for p in model.parameters())
        assert archinspect.fit(model, (4, 8), device=device, mode=mode).consistent
    assert_same(before, snapshot(model))


def test_the_patterns_write_what_they_say_when_run_directly() -> None:
    """The invariant above means something: run by hand, these models do change themselves."""
    model = _Writes()
    before = snapshot(model)
    with torch.no_grad():
        model(torch.ones(2, 8))
    assert model.seen.item() == 1 and hasattr(model, "cache")
    with pytest.raises(AssertionError):
        assert_same(before, snapshot(model))
    normed = _normed().train()
    u = normed[0].parametrizations.weight[0]._u.clone()
    with torch.no_grad():
        normed(torch.ones(2, 8))
    assert not torch.equal(u, normed[0].parametrizations.weight[0]._u)


@pytest.mark.parametrize("name", zoo_params())
def test_zoo_models_are_left_bit_for_bit(name: str) -> None:
    model = create_model(name, device="meta")  # shapes, dtypes, versions, flags, attributes and hooks compared
    before = snapshot(model)
    for device, mode, dtype in [("meta", "eval", None), ("meta", "train", "bfloat16")]:
        inspect(model, _small_input(name), device=device, mode=mode, dtype=dtype, depth=0)
    assert_same(before, snapshot(model))


@pytest.mark.parametrize("name", ["resnet20", "d2l-lenet-bn", pytest.param("densenet-bc", marks=pytest.mark.slow)])
def test_zoo_models_built_on_cpu_are_left_bit_for_bit(name: str) -> None:
    model = create_model(name, device="cpu")
    before = snapshot(model)
    for device, mode, dtype in PASSES:
        inspect(model, _small_input(name), device=device, mode=mode, dtype=dtype, depth=0)
    assert_same(before, snapshot(model))


def _small_input(name: str) -> tuple[int, ...]:
    """The entry's default input, with batch 2 so that train-mode BatchNorm runs."""
    from archinspect.models.zoo import get_entry

    return (2, *get_entry(name).default_input[1:])
