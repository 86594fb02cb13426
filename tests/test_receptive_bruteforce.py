"""Brute force: the input pixels a unit's gradient reaches are exactly the receptive field we compute.

On CPU in float64 with positive weights (1/fan-in), zero biases, BatchNorm in eval with unit statistics
and max pools swapped for average pools (a max pool's gradient reaches only the argmax), every input
pixel a unit depends on gets a positive gradient and no other does. The first and last pixels with a
gradient, per axis, must then be the computed field clipped to the image. Where the field reaches into
the padding and has gaps (dilation), clipping can land in a gap, so there the gradient is only checked to
lie inside the clipped field; units whose field lies inside the image are checked exactly.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archinspect
from archinspect.core.counter import OpCounter
from archinspect.core.fields import FieldMap
from archinspect.core.receptive import FieldTracker
from archinspect.models.loading import create_model


def _positive(model: nn.Module) -> nn.Module:
    """A float64 CPU copy whose every unit depends monotonically on its inputs (see the module docstring)."""
    model = copy.deepcopy(model).double().eval()
    for name, mod in list(model.named_modules()):
        for pname, p in mod.named_parameters(recurse=False):
            with torch.no_grad():
                if pname == "bias":
                    p.zero_()
                elif isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    p.fill_(1.0)
                else:
                    p.fill_(1.0 / max(p[0].numel(), 1))
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean.zero_()
            mod.running_var.fill_(1.0)
        if isinstance(mod, nn.MaxPool2d):
            avg = nn.AvgPool2d(mod.kernel_size, mod.stride, mod.padding, ceil_mode=mod.ceil_mode)
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, avg)
    return model


def _extent(grad: torch.Tensor, axis: int) -> tuple[int, int] | None:
    """First and last index with a non-zero gradient along spatial ``axis`` of a (C, H, W) gradient."""
    other = tuple(d for d in range(grad.dim()) if d != axis + 1)
    hit = (grad.abs().sum(dim=other) > 0).nonzero().flatten()
    return (int(hit[0]), int(hit[-1])) if len(hit) else None


def _check(
    grad: torch.Tensor, fields: list[tuple[int, int]], sizes: list[int], label: str, bound: bool = False
) -> bool:
    """Compare one unit's gradient with its field per axis; True when the field lies inside the image.

    ``bound``: the field is only an upper bound (a unit no input reaches), so only containment is checked.
    """
    inside = not bound and all(lo >= 0 and hi <= n - 1 for (lo, hi), n in zip(fields, sizes, strict=True))
    for axis, ((lo, hi), n) in enumerate(zip(fields, sizes, strict=True)):
        got = _extent(grad, axis)
        clipped = (max(lo, 0), min(hi, n - 1))
        if inside:
            assert got == clipped, f"{label} axis {axis}: gradient {got}, field {clipped}"
        elif got is not None:
            assert clipped[0] <= got[0] and got[1] <= clipped[1], f"{label} axis {axis}: {got} outside {clipped}"
    return inside


def _layer_outputs(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    outs: dict[str, torch.Tensor] = {}
    handles = [
        model.get_submodule(n).register_forward_hook(lambda _m, _i, o, n=n: outs.setdefault(n, o)) for n in names
    ]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return outs


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "exact_layers"),
    [
        pytest.param("resnet20", {}, (1, 3, 32, 32), 4, marks=pytest.mark.slow),
        ("d2l-lenet-bn", {}, (1, 1, 28, 28), 4),
        pytest.param("densenet-bc", {"depth": 40}, (1, 3, 32, 32), 2, marks=pytest.mark.slow),
    ],
)
def test_zoo_model_fields_match_the_gradient(
    name: str, kwargs: dict[str, Any], shape: tuple[int, ...], exact_layers: int
) -> None:
    model = create_model(name, **kwargs)
    rows = [r for r in archinspect.receptive_field(model, shape, depth=1) if r.name and len(r.output_shape) == 4]
    cpu = _positive(model)
    x = (torch.rand(shape, dtype=torch.float64) + 0.5).requires_grad_(True)
    outs = _layer_outputs(cpu, [r.name for r in rows], x)
    exact = 0
    for row in rows:
        out = outs[row.name]
        h, w = out.shape[2:]
        inside = False
        for i, j in {(0, 0), (h // 2, w // 2)}:
            (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            fields = [
                (row.start[a] + c * row.jump[a], row.start[a] + c * row.jump[a] + row.size[a] - 1)
                for a, c in enumerate((i, j))
            ]
            inside |= _check(grad[0], fields, list(shape[2:]), f"{name} {row.name} unit ({i}, {j})")
        exact += inside
    # the early layers' fields lie inside the image, so their centre units are compared exactly
    assert exact >= exact_layers, [r.name for r in rows]


def _tracked(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, FieldMap]:
    tracker = FieldTracker()
    tracker.mark_input(x)
    with OpCounter(lambda cost: None, [tracker]):
        out = model(x)
    fm = tracker.get(out)
    assert fm is not None and set(fm.axes) == {2, 3}
    return out, fm


def _spread(n: int, most: int = 12) -> list[int]:
    return list(range(n)) if n <= most else sorted({round(k * (n - 1) / (most - 1)) for k in range(most)})


def _check_every_unit(model: nn.Module, shape: tuple[int, ...], label: str) -> int:
    """Output units of ``model`` against their computed fields; returns how many were compared exactly."""
    model = _positive(model)
    x = (torch.rand(shape, dtype=torch.float64) + 0.5).requires_grad_(True)
    out, fm = _tracked(model, x)
    h, w = fm.axes[2], fm.axes[3]
    rows, cols = out.shape[2], out.shape[3]
    # Fields are per axis, so one row and one column of units reach every entry of both axes' tables (at
    # most 12 of each, evenly spaced, first and last included, to keep large upsampled outputs quick).
    units = {(i, cols // 2) for i in _spread(rows)} | {(rows // 2, j) for j in _spread(cols)}
    exact = 0
    for i, j in sorted(units):
        (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
        fields = [(h.lo[i], h.hi[i]), (w.lo[j], w.hi[j])]
        exact += _check(grad[0], fields, list(shape[2:]), f"{label} unit ({i}, {j})", fm.bound)
    return exact


def _random_layers(rng: random.Random, channels: int, size: int) -> Iterator[nn.Module]:
    """Conv / pool / upsample / transposed-conv layers with random kernel, stride, padding, dilation."""
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["conv", "conv", "pool", "avg", "up", "tconv", "adaptive"])
        k, s, d = rng.choice([1, 2, 3, 5]), rng.choice([1, 1, 2]), rng.choice([1, 1, 2])
        if kind == "conv":
            p = rng.randint(0, (k - 1) * d // 2 + 1)
            layer: nn.Module = nn.Conv2d(channels, channels, k, stride=s, padding=p, dilation=d)
            size = (size + 2 * p - d * (k - 1) - 1) // s + 1
        elif kind in ("pool", "avg"):
            k = max(k, 2)
            p = rng.randint(0, k // 2)
            ceil = rng.random() < 0.5
            layer = nn.MaxPool2d(k, s, p, ceil_mode=ceil) if kind == "pool" else nn.AvgPool2d(k, s, p, ceil_mode=ceil)
            size = -(-(size + 2 * p - k) // s) + 1 if ceil else (size + 2 * p - k) // s + 1
            if ceil and (size - 1) * s >= size + p:  # PyTorch drops a last window that starts in the padding
                size -= 1
        elif kind == "up":
            layer = nn.Upsample(scale_factor=2, mode=rng.choice(["nearest", "bilinear"]))
            size *= 2
        elif kind == "adaptive":
            size = max(size - rng.randint(0, 3), 1)
            layer = nn.AdaptiveAvgPool2d(size)
        else:
            p = rng.randint(0, (k - 1) * d // 2)
            layer = nn.ConvTranspose2d(channels, channels, k, stride=s, padding=p, dilation=d)
            size = (size - 1) * s - 2 * p + d * (k - 1) + 1
        if size < 2:
            return
        yield layer


@pytest.mark.parametrize("seed", range(8))
def test_random_chains_match_the_gradient_unit_by_unit(seed: int) -> None:
    rng = random.Random(seed)
    model = nn.Sequential(*_random_layers(rng, 2, 12), nn.ReLU())
    try:
        with torch.no_grad():
            model(torch.zeros(1, 2, 12, 12))
    except RuntimeError:
        pytest.skip("the random chain cannot run on 12×12")
    _check_every_unit(model, (1, 2, 12, 12), f"seed {seed}: {model}")


class _Branches(nn.Module):
    """A residual add over a concatenation of misaligned branches: one shifted by asymmetric padding."""

    def __init__(self, make: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.a = make(2, 2, 3, padding=1)
        self.b = make(2, 2, 5, padding=4, dilation=2)
        self.c = make(2, 2, 3, padding=0)
        self.mix = make(6, 2, 1)
        self.down = make(2, 2, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> Any:
        c = F.pad(self.c(x), (2, 0, 0, 2))  # the valid 3×3, moved down-left: misaligned with a and b
        y = self.mix(torch.cat([self.a(x), self.b(x), c], 1)) + x
        return self.down(y) + F.avg_pool2d(y, 2, ceil_mode=True)


def test_residual_and_concat_block_matches_the_gradient() -> None:
    exact = _check_every_unit(_Branches(nn.Conv2d), (1, 2, 15, 15), "branches")
    assert exact >= 3  # the middle units are compared exactly
