"""A model's complete observable state, to assert that an inspection left it bit for bit as it was."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _bits(t: torch.Tensor) -> Any:
    """The tensor's bytes (exact, NaN-safe) where it has storage; None on meta."""
    if t.device.type == "meta":
        return None
    flat = t.detach().contiguous().reshape(-1)
    return flat.view(torch.uint8).clone()


def _tensor_state(t: torch.Tensor | None) -> Any:
    if t is None:
        return None
    return (
        id(t),
        type(t),
        t.device,
        t.dtype,
        tuple(t.shape),
        t.stride(),
        t.requires_grad,
        t._version,
        id(t.grad) if t.grad is not None else None,
        _bits(t),
        _bits(t.grad) if t.grad is not None else None,
    )


def snapshot(model: nn.Module) -> dict[str, Any]:
    """Every module (shared ones under each name) with its flags, hooks, attributes and tensors."""
    state: dict[str, Any] = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        attrs = {
            k: (id(v), type(v)) for k, v in mod.__dict__.items() if k not in ("_parameters", "_buffers", "_modules")
        }
        hooks = {k: list(v) for k, v in mod.__dict__.items() if k.endswith("hooks") and isinstance(v, dict)}
        state[name] = {
            "type": type(mod),
            "training": mod.training,
            "attrs": attrs,
            "hooks": hooks,
            "modules": {k: id(v) for k, v in mod._modules.items()},
            "parameters": {k: _tensor_state(v) for k, v in mod._parameters.items()},
            "buffers": {k: _tensor_state(v) for k, v in mod._buffers.items()},
        }
    return state


def assert_same(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Equal snapshots, with the first difference named on failure."""
    assert before.keys() == after.keys()
    for name in before:
        b, a = before[name], after[name]
        for key in b:
            if key in ("parameters", "buffers"):
                assert b[key].keys() == a[key].keys(), (name, key)
                for t in b[key]:
                    sb, sa = b[key][t], a[key][t]
                    if sb is None or sa is None:
                        assert sb is sa, (name, t)
                        continue
                    assert sb[:9] == sa[:9], (name, t, sb[:9], sa[:9])
                    for x, y in zip(sb[9:], sa[9:], strict=True):
                        assert (x is None and y is None) or torch.equal(x, y), (name, t, "values differ")
            else:
                assert b[key] == a[key], (name, key, b[key], a[key])
