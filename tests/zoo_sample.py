"""Zoo-wide tests run every family once by default and the whole zoo with ``-m slow`` (CI's second step)."""

from __future__ import annotations

import pytest

# One or two entries per family: the default run still covers every block type the zoo has.
FAMILY_SAMPLE = frozenset(
    {
        "alexnet", "vgg11-bn", "googlenet", "inception-v3", "resnet50", "resnext50-32x4d", "densenet121",
        "se-resnext50-32x4d", "xception", "inception-v4", "inception-resnet-v2", "densenet-bc-100", "densenet-40",
        "resnet20", "d2l-lenet-bn", "d2l-alexnet", "d2l-nin", "d2l-googlenet", "d2l-resnet18", "d2l-densenet",
    }
)  # fmt: skip


def zoo_params(skip: frozenset[str] = frozenset()) -> list[object]:
    """Every zoo name as a pytest parameter; those outside :data:`FAMILY_SAMPLE` marked ``slow``."""
    from archinspect.models.zoo import list_models

    return [
        name if name in FAMILY_SAMPLE else pytest.param(name, marks=pytest.mark.slow)
        for name in list_models()
        if name not in skip
    ]
