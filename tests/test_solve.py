"""archinspect.analyses.solve: the input sizes a model accepts, checked against brute force on CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archinspect.analyses.solve import smallest_runnable_size, valid_input_sizes
from archinspect.core.target import Target
from archinspect.errors import UsageError
from archinspect.models.loading import load_model


def _small_net() -> nn.Module:
    """Strided conv, pooling without padding, a 3×3 valid conv: sizes that move in uneven steps."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(4, 6, 3),
        nn.BatchNorm2d(6),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 10),  # 6×4×4 at some sizes only
        nn.ReLU(),
        nn.Linear(10, 3),
    ).eval()


def _runs_on_cpu(model: nn.Module, h: int, w: int) -> bool:
    try:
        with torch.no_grad():
            model(torch.randn(1, 1, h, w))
    except RuntimeError:
        return False
    return True


def _runs_tolerantly(model: nn.Module, h: int, w: int) -> bool:
    """Runs at all, the Linear sizes aside: everything up to the flatten runs."""
    return _runs_on_cpu(model[:6], h, w)


LIMIT = 64


@pytest.mark.slow
def test_square_ranges_match_brute_force_on_cpu() -> None:
    model = _small_net()
    valid = [s for s in range(1, LIMIT + 1) if _runs_on_cpu(model, s, s)]
    runnable = [s for s in range(1, LIMIT + 1) if _runs_tolerantly(model, s, s)]
    assert valid == list(range(valid[0], valid[-1] + 1))  # one interval
    result = valid_input_sizes(model, [(1, 1, 30, 30)], max_size=LIMIT)
    [axis] = result.axes
    assert axis.axis == "square"
    assert (axis.low, axis.high) == (valid[0], valid[-1]) == (27, 30)
    assert axis.smallest_runnable == runnable[0] == 15 and axis.largest_runnable is None
    assert axis.nearest == 30 and result.nearest_shape == (1, 1, 30, 30)
    first, second = axis.linears
    assert (first.layer, first.low, first.high, first.gives) == ("6", 27, 30, "6×4×4 = 96")
    assert (second.layer, second.low, second.high, second.everywhere) == ("8", 15, None, 10)
    assert result.probes < 20  # binary search, not one pass per size


@pytest.mark.slow
def test_height_and_width_searched_separately_match_brute_force() -> None:
    model = _small_net()
    result = valid_input_sizes(model, [(1, 1, 30, 20)], max_size=LIMIT)
    by_axis = {a.axis: a for a in result.axes}
    assert set(by_axis) == {"H", "W"}
    # W held at 20 leaves width 2 after the convs, so 6×h×2 = 96 needs h = 8; H held at 30 gives 4.
    valid_h = [h for h in range(1, LIMIT + 1) if _runs_on_cpu(model, h, 20)]
    valid_w = [w for w in range(1, LIMIT + 1) if _runs_on_cpu(model, 30, w)]
    assert (by_axis["H"].low, by_axis["H"].high) == (valid_h[0], valid_h[-1]) == (43, 46)
    assert (by_axis["W"].low, by_axis["W"].high) == (valid_w[0], valid_w[-1]) == (27, 30)
    assert by_axis["H"].linears[0].gives == "6×8×2 = 96"
    runnable_h = [h for h in range(1, LIMIT + 1) if _runs_tolerantly(model, h, 20)]
    assert by_axis["H"].smallest_runnable == runnable_h[0]
    assert (by_axis["H"].nearest, by_axis["W"].nearest) == (43, 27)
    assert result.nearest_shape == (1, 1, 30, 27)  # 7 steps on W beat 13 on H


def test_a_value_no_size_gives_reports_its_neighbours() -> None:
    model = _small_net()
    model[6] = nn.Linear(100, 10)  # 6×h×w = 100 has no solution
    [axis] = valid_input_sizes(model, [(1, 1, 40, 40)], max_size=LIMIT).axes
    assert axis.low is None and axis.nearest is None
    r = axis.linears[0]
    assert r.low is None and r.below == (30, 96) and r.above == (31, 150)


def test_d2l_alexnet_square_sizes_that_give_6400() -> None:
    model = load_model("d2l-alexnet", device="meta").model
    result = valid_input_sizes(model, [(1, 1, 96, 96)])
    [axis] = result.axes
    assert (axis.low, axis.high, axis.smallest_runnable, axis.nearest) == (193, 224, 65, 193)
    first = axis.linears[0]
    assert (first.layer, first.gives) == ("14", "256×5×5 = 6400")
    assert all(r.everywhere == 4096 for r in axis.linears[1:])


def test_smallest_runnable_size_for_the_engine_error_message() -> None:
    model = load_model("d2l-alexnet", device="meta").model
    assert smallest_runnable_size(Target.of(model, [(1, 1, 32, 32)])) == (1, 1, 65, 65)
    assert smallest_runnable_size(Target.of(model, [(1, 1, 224, 224)])) == (1, 1, 65, 65)
    assert smallest_runnable_size(Target.of(model, [(1, 4096)])) is None


def test_resnet50_any_size_from_1_runs_and_fits() -> None:
    model = load_model("resnet50", device="meta").model
    [axis] = valid_input_sizes(model, [(1, 3, 224, 224)]).axes
    assert (axis.smallest_runnable, axis.low, axis.high, axis.nearest) == (1, 1, None, 224)
    assert axis.linears[0].everywhere == 2048


def test_no_spatial_dimensions_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no 1, 2 or 3 spatial dimensions"):
        valid_input_sizes(nn.Linear(4, 2), [(1, 4)])


class _FeatureDim(nn.Module):
    """A last dimension that is a feature count: sizes above it fail again (no monotone ray)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(32, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w


def test_length_axis_and_sizes_that_fail_again_above() -> None:
    conv1d = nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 10, 5)).eval()
    valid = [n for n in range(1, LIMIT + 1) if _runs_on_cpu_1d(conv1d, n)]
    [axis] = valid_input_sizes(conv1d, [(1, 1, 20)], max_size=LIMIT).axes
    assert axis.axis == "L" and (axis.low, axis.high) == (valid[0], valid[-1]) == (12, 12)
    assert (axis.smallest_runnable, axis.largest_runnable) == (3, None)

    [axis] = valid_input_sizes(_FeatureDim(), [(2, 16, 32)], max_size=LIMIT).axes
    assert (axis.smallest_runnable, axis.largest_runnable, axis.low, axis.high) == (32, 32, 32, 32)


def _runs_on_cpu_1d(model: nn.Module, n: int) -> bool:
    try:
        with torch.no_grad():
            model(torch.randn(1, 1, n))
    except RuntimeError:
        return False
    return True
