"""Zoo models against their torchvision counterparts: a torchvision state_dict loads with no renaming
(strict), the outputs agree on a random input in eval mode, and docs/reference/zoo.md's
parameter count is torchvision's.

Needs torchvision (the cross-checking venv); skipped without it.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from archinspect.models.zoo import get_entry

tv_models = pytest.importorskip("torchvision.models")

# Small inputs keep the file fast; each is large enough for every pooling stage of its model.
SMALL = (1, 3, 32, 32)
NAMES = [
    *(f"vgg{d}{bn}" for bn in ("", "-bn") for d in (11, 13, 16, 19)),
    *(f"resnet{d}" for d in (18, 34, 50, 101, 152)),
    "resnext50-32x4d",
    "resnext101-32x8d",
    "wide-resnet50-2",
    *(f"densenet{d}" for d in (121, 161, 169, 201)),
]
# (zoo name, kwargs for both builders, input): the Inception networks with their options on and off.
CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("alexnet", {}, (1, 3, 63, 63)),  # the smallest input its three 3x3/2 max pools accept
    *((name, {}, SMALL) for name in NAMES),
    ("googlenet", {"aux_logits": False}, SMALL),
    ("googlenet", {"aux_logits": True}, SMALL),
    ("googlenet", {"aux_logits": False, "transform_input": True}, SMALL),
    ("inception-v3", {"aux_logits": False}, (1, 3, 75, 75)),  # 75x75: the smallest input it accepts
    ("inception-v3", {"aux_logits": True}, (1, 3, 75, 75)),
]
# Their constructors warn unless told whether to initialise; the weights are overwritten anyway.
TV_EXTRA_KWARGS = {"googlenet": {"init_weights": False}, "inception-v3": {"init_weights": False}}


def _randomise(model: torch.nn.Module) -> None:
    """Give every tensor a random value of a sensible scale, BatchNorm running statistics included.

    Non-trivial running means and variances make a wrong BN eps or a misplaced BN visible, which the
    default statistics (mean 0, variance 1) would hide; and this is much faster than torchvision's init.
    """
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                t.zero_()  # num_batches_tracked
            elif t.dim() > 1:
                t.normal_(0.0, (2.0 / t[0].numel()) ** 0.5)  # He scale over the fan-in
            elif key.endswith(("running_var", "weight")):
                t.uniform_(0.5, 1.5)  # BN scale and variance
            else:
                t.normal_(0.0, 0.1)  # biases, BN shift and mean


def _case_id(case: tuple[str, dict[str, Any], tuple[int, ...]]) -> str:
    name, kwargs, _ = case
    return "-".join([name, *(k for k, v in kwargs.items() if v)])


@pytest.mark.parametrize(("name", "kwargs", "shape"), CASES, ids=[_case_id(c) for c in CASES])
def test_torchvision_weights_load_and_outputs_match(name: str, kwargs: dict[str, Any], shape: tuple[int, ...]) -> None:
    entry = get_entry(name)
    torch.manual_seed(0)
    builder = getattr(tv_models, name.replace("-", "_"))
    with torch.device("meta"):
        reference = builder(weights=None, **kwargs, **TV_EXTRA_KWARGS.get(name, {}))
        ours = entry.build(**kwargs)
    reference.to_empty(device="cpu").eval()
    _randomise(reference)
    # The torchvision tensors are assigned to ours, which therefore never needs real storage of its own.
    ours.load_state_dict(reference.state_dict(), strict=True, assign=True)
    ours.eval()

    reference_params = sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == reference_params
    if not kwargs.get("aux_logits"):
        assert entry.params == reference_params

    x = torch.randn(*shape)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))
