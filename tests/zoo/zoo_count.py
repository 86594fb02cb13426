"""Counting a zoo entry the reference way (PyTorch's own FlopCounterMode), shared by the family tests."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from archinspect.models.zoo import get_entry


def count(name: str, **kwargs: int) -> tuple[int, int, tuple[int, ...]]:
    """Parameters, MACs and output shape of a zoo model built and run on the meta device."""
    entry = get_entry(name)
    shape = list(entry.default_input)
    shape[1] = kwargs.get("in_channels", shape[1])
    with torch.device("meta"):
        model = entry.build(**kwargs).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(torch.randn(*shape))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2, tuple(out.shape)
