"""Tiny models and small budgets shared by the bench tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

FAST = dict(warmup=2, warmup_time=0.01, iters=5, min_time=0.02, max_time=0.2, threads=1, peak=False)


def tiny_cnn() -> nn.Module:
    """conv 3→8 (3×3, pad 1) on 8×8, ReLU, global pool, linear 8→10: 13,824 + 80 = 13,904 MACs per sample."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)
    )


class Spy(nn.Module):
    """Records what each forward call saw: input stats, dtype, memory format, inference/autocast state."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: list[dict[str, Any]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "meta":  # the FLOP counter's pass, not a timed call
            return self.conv(x)
        self.seen.append(
            {
                "std": float(x.float().std()),
                "dtype": x.dtype,
                "channels_last": x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last),
                "inference": torch.is_inference_mode_enabled(),
                "autocast": torch.is_autocast_enabled("cpu"),
                "batch": x.shape[0],
            }
        )
        return self.conv(x)
