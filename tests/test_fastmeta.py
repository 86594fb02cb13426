"""The meta-device shortcuts give exactly what torch's own meta kernels give (shape, dtype, strides)."""

from __future__ import annotations

import pytest
import torch
from zoo_sample import zoo_params

from archinspect.core.fastmeta import MetaBuild, fast_meta
from archinspect.core.options import PassOptions
from archinspect.core.target import Target

aten = torch.ops.aten


def meta(*shape: int, dtype: torch.dtype = torch.float32, channels_last: bool = False) -> torch.Tensor:
    t = torch.empty(shape, dtype=dtype, device="meta")
    return t.to(memory_format=torch.channels_last) if channels_last else t


def _same(ours: object, theirs: object) -> None:
    if isinstance(theirs, (tuple, list)):
        assert isinstance(ours, (tuple, list)) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            _same(a, b)
        return
    assert isinstance(ours, torch.Tensor) and isinstance(theirs, torch.Tensor)
    assert (ours.shape, ours.dtype, ours.device) == (theirs.shape, theirs.dtype, theirs.device)
    if ours.numel() > 1:
        assert ours.stride() == theirs.stride()


CASES = [
    (aten.relu.default, (meta(2, 3, 4, 4),)),
    (aten.sigmoid.default, (meta(2, 3, 4, 4, channels_last=True),)),
    (aten.hardtanh.default, (meta(5, 7), 0.0, 6.0)),
    (aten.add.Tensor, (meta(2, 3, 4, 4), meta(2, 3, 4, 4))),
    (aten.add.Tensor, (meta(2, 3, 4, 4, channels_last=True), meta(2, 3, 4, 4, channels_last=True))),
    (aten.mul.Tensor, (meta(2, 8, 5, 5), meta(2, 8, 1, 1))),
    (aten.mul.Tensor, (meta(2, 8, 1, 1), meta(2, 8, 5, 5))),
    (aten.div.Tensor, (meta(4, 1), meta(1, 6))),
    (aten.add.Tensor, (meta(3, 4, dtype=torch.float16), meta(3, 4))),
    (aten.mul.Scalar, (meta(3, 4, dtype=torch.int64), 0.5)),
    (aten.add.Scalar, (meta(3, 4, dtype=torch.bfloat16), 2)),
    (aten.mm.default, (meta(3, 5), meta(5, 7))),
    (aten.bmm.default, (meta(2, 3, 5), meta(2, 5, 7))),
    (aten.addmm.default, (meta(7), meta(3, 5), meta(5, 7))),
    (aten.mean.dim, (meta(2, 8, 5, 5), [-1, -2], True)),
    (aten.mean.dim, (meta(2, 8, 5, 5), [2, 3])),
    (aten.sum.dim_IntList, (meta(2, 8, 5, 5), [1], True)),
    (aten.cat.default, ([meta(2, 3, 4, 4), meta(2, 5, 4, 4)], 1)),
    (aten.cat.default, ([meta(2, 3), meta(4, 3)],)),
    (
        aten.native_batch_norm.default,
        (meta(2, 3, 4, 4), meta(3), meta(3), meta(3), meta(3), False, 0.1, 1e-5),
    ),
    (
        aten._native_batch_norm_legit_no_training.default,
        (meta(2, 3, 4, 4, dtype=torch.float16), meta(3), meta(3), meta(3), meta(3), 0.1, 1e-5),
    ),
]


@pytest.mark.parametrize(("func", "args"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shortcut_equals_torch_meta_kernel(func: object, args: tuple) -> None:
    ours = fast_meta(func, args, {})
    assert ours is not None, "expected the shortcut to answer this case"
    _same(ours, func(*args))


def test_in_place_returns_its_operand_and_leaves_errors_to_torch() -> None:
    x = meta(2, 3)
    assert fast_meta(aten.add_.Tensor, (x, meta(2, 3)), {}) is x
    assert fast_meta(aten.relu_.default, (x,), {}) is x
    # broadcasting self to a larger shape is an error torch must raise, not something to paper over
    assert fast_meta(aten.add_.Tensor, (meta(1, 3), meta(2, 3)), {}) is None
    with pytest.raises(RuntimeError):
        aten.add_.Tensor(meta(1, 3), meta(2, 3))


def test_unusual_cases_fall_through() -> None:
    assert fast_meta(aten.add.Tensor, (meta(2, 3), meta(4, 3)), {}) is None  # incompatible shapes
    assert fast_meta(aten.mm.default, (meta(3, 5), meta(4, 7)), {}) is None  # inner sizes differ
    assert fast_meta(aten.add.Tensor, (meta(2, 3), meta(2, 3)), {"alpha": 2}) is None
    assert fast_meta(aten.relu.default, (torch.zeros(2),), {}) is None  # not on meta
    assert fast_meta(aten.mean.dim, (meta(2, 3, dtype=torch.int64), [1]), {}) is None


def test_meta_build_skips_initialisers_but_keeps_shapes() -> None:
    with torch.device("meta"), MetaBuild():
        conv = torch.nn.Conv2d(3, 8, 3)
        torch.nn.init.kaiming_normal_(conv.weight)
        torch.nn.init.trunc_normal_(conv.bias, std=0.02)
    assert conv.weight.shape == (8, 3, 3, 3) and conv.weight.device.type == "meta"
    assert conv.bias.shape == (8,)


def test_an_outer_dispatch_mode_still_sees_every_operator() -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from archinspect.core.counter import OpCounter

    a, b = meta(3, 5), meta(5, 7)
    with FlopCounterMode(display=False) as outer, OpCounter(lambda cost: None):
        torch.mm(a, b)
    assert outer.get_total_flops() == 2 * 3 * 5 * 7


def _conv_args(x, w, stride, padding, dilation, groups):  # noqa: ANN001, ANN202 - test helper
    return (x, w, None, stride, padding, dilation, False, [0] * len(stride), groups)


@pytest.mark.parametrize(
    ("x", "w", "stride", "padding", "dilation", "groups"),
    [
        ((1, 3, 224, 224), (64, 3, 7, 7), [2, 2], [3, 3], [1, 1], 1),
        ((2, 32, 17, 9), (64, 8, 3, 3), [1, 2], [1, 0], [2, 1], 4),
        ((1, 8, 5, 5), (8, 1, 3, 3), [1, 1], [1, 1], [1, 1], 8),
        ((1, 4, 10), (6, 4, 3), [2], [1], [1], 1),
        ((1, 2, 6, 7, 8), (4, 2, 3, 3, 3), [1, 2, 1], [0, 1, 1], [1, 1, 2], 1),
    ],
)
def test_convolution_shortcut(x, w, stride, padding, dilation, groups) -> None:  # noqa: ANN001
    args = _conv_args(meta(*x), meta(*w), stride, padding, dilation, groups)
    _same(fast_meta(aten.convolution.default, args, {}), aten.convolution.default(*args))


@pytest.mark.parametrize(
    "args",
    [
        ([3, 3], [2, 2]),
        ([3, 3], [2, 2], [1, 1]),
        ([3, 3], [2, 2], [1, 1], [1, 1], True),
        ([2, 2], [2, 2], [0, 0], [1, 1], True),
        ([3, 3], [1, 1], [1, 1]),
        ([3, 2], [], [1, 0], [2, 1], False),
    ],
)
def test_max_pool_shortcut(args: tuple) -> None:
    full = (meta(2, 4, 13, 10), *args)
    _same(fast_meta(aten.max_pool2d_with_indices.default, full, {}), aten.max_pool2d_with_indices.default(*full))


def test_adaptive_pool_shortcut_and_what_it_leaves_to_torch() -> None:
    args = (meta(2, 4, 13, 10), [6, 6])
    _same(fast_meta(aten._adaptive_avg_pool2d.default, args, {}), aten._adaptive_avg_pool2d.default(*args))
    # a window larger than the input, a wrong channel count: torch's own error, not a guess
    too_small = _conv_args(meta(1, 3, 2, 2), meta(4, 3, 3, 3), [1, 1], [0, 0], [1, 1], 1)
    assert fast_meta(aten.convolution.default, too_small, {}) is None
    wrong = _conv_args(meta(1, 2, 8, 8), meta(4, 3, 3, 3), [1, 1], [0, 0], [1, 1], 1)
    assert fast_meta(aten.convolution.default, wrong, {}) is None
    assert fast_meta(aten.max_pool2d_with_indices.default, (meta(1, 1, 1, 1), [3, 3], [2, 2]), {}) is None


@pytest.mark.parametrize(
    "args",
    [([2, 2], [2, 2]), ([3, 3], [2, 2], [1, 1]), ([3, 3], [2, 2], [1, 1], True), ([2, 3], [], [1, 1], False, False)],
)
def test_avg_pool_shortcut(args: tuple) -> None:
    full = (meta(2, 4, 13, 10), *args)
    _same(fast_meta(aten.avg_pool2d.default, full, {}), aten.avg_pool2d.default(*full))


@pytest.mark.slow
def test_meta_passes_over_the_zoo_import_neither_sympy_nor_dynamo() -> None:
    """Both cost seconds per command; every zoo model's build and pass stay clear of them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from archinspect.core.engine import PassOptions, Target, run_pass\n"
        "from archinspect.models.loading import load_model\n"
        "totals = PassOptions.check(device='meta', per_module=False)\n"
        "from archinspect.models.zoo import list_models\n"
        "for name in list_models():\n"
        "    if name in ('resnet1202', 'densenet-bc-250', 'densenet-bc-190'): continue  # same blocks, slower\n"
        "    loaded = load_model(name, device='meta')\n"
        "    run_pass(Target.of(loaded.model, loaded.default_inputs), totals)\n"
        "print(sorted(m for m in ('sympy', 'torch._dynamo') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]"


# ---- differential: the production path, every fast answer checked against torch's own kernel ------------

FORMATS = {
    "contiguous": lambda t: t,
    "channels_last": lambda t: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t,
    "transposed": lambda t: t.transpose(-1, -2) if t.dim() >= 2 else t,
}
BROADCAST_SHAPES = [
    ((2, 3, 4, 5), (2, 3, 4, 5)),
    ((2, 3, 4, 5), (1, 3, 1, 1)),
    ((2, 3, 4, 5), (5,)),
    ((1, 3, 1, 1), (2, 3, 4, 5)),
    ((2, 3, 1, 5), (2, 3, 4, 1)),
    ((0, 3, 4, 5), (1, 3, 1, 1)),
]


def _differential(func: object, *args: object) -> object:
    """The fast answer (or None), checked against torch's meta kernel; errors must match too."""
    from archinspect.core.fastmeta import verify_fast_meta

    with verify_fast_meta():
        ours = fast_meta(func, args, {})  # raises FastMetaMismatch when it differs from torch
    if ours is None:  # declined: torch's own kernel answers (or raises its own error)
        return None
    _same(ours, func(*args))
    return ours


@pytest.mark.parametrize("fa", FORMATS)
@pytest.mark.parametrize("fb", FORMATS)
@pytest.mark.parametrize(("sa", "sb"), BROADCAST_SHAPES)
@pytest.mark.parametrize("op", [aten.add.Tensor, aten.mul.Tensor])
def test_broadcasting_in_every_memory_format(op: object, sa: tuple, sb: tuple, fa: str, fb: str) -> None:
    a, b = FORMATS[fa](meta(*sa)), FORMATS[fb](meta(*sb))
    _differential(op, a, b)


@pytest.mark.parametrize(
    ("func", "args"),
    [
        (aten.add.Tensor, (meta(3, 4, dtype=torch.int64), meta(3, 4, dtype=torch.int32))),
        (aten.mul.Tensor, (meta(3, 4, dtype=torch.int64), meta(4))),
        (aten.mul.Scalar, (meta(3, 4, dtype=torch.int32), 2)),
        (aten.relu.default, (meta(0, 3),)),
        (aten.mm.default, (meta(0, 5), meta(5, 7))),
        (aten.cat.default, ([meta(0, 3), meta(2, 3)],)),
        (aten.mean.dim, (meta(2, 0, 4), [2])),
        (aten.sum.dim_IntList, (meta(2, 3, dtype=torch.float16), [1])),
    ],
)
def test_empty_tensors_and_integer_dtypes(func: object, args: tuple) -> None:
    _differential(func, *args)


def test_addmm_with_a_bias_that_does_not_broadcast_raises_as_on_cpu() -> None:
    args = (meta(4), meta(3, 5), meta(5, 7))
    assert _differential(aten.addmm.default, *args) is None
    with pytest.raises(RuntimeError):
        torch.nn.functional.linear(torch.zeros(3, 5), torch.zeros(7, 5), torch.zeros(4))
    with pytest.raises(RuntimeError):  # the production path on meta raises too
        _pass_on_meta(torch.nn.functional.linear, meta(3, 5), meta(7, 5), meta(4))


def test_conv_with_a_wrong_size_bias_raises_as_on_cpu() -> None:
    with pytest.raises(RuntimeError) as on_cpu:
        torch.nn.functional.conv2d(torch.zeros(1, 3, 8, 8), torch.zeros(4, 3, 3, 3), torch.zeros(5))
    with pytest.raises(RuntimeError) as on_meta:  # torch's own meta kernel would answer [1, 4, 6, 6]
        _pass_on_meta(torch.nn.functional.conv2d, meta(1, 3, 8, 8), meta(4, 3, 3, 3), meta(5))
    assert str(on_meta.value) == str(on_cpu.value)
    with pytest.raises(RuntimeError) as on_cpu:
        torch.nn.functional.conv_transpose2d(torch.zeros(1, 3, 8, 8), torch.zeros(3, 4, 3, 3), torch.zeros(5))
    with pytest.raises(RuntimeError) as on_meta:
        _pass_on_meta(torch.nn.functional.conv_transpose2d, meta(1, 3, 8, 8), meta(3, 4, 3, 3), meta(5))
    assert str(on_meta.value) == str(on_cpu.value)


def test_channels_last_plus_a_broadcast_operand_keeps_torchs_strides() -> None:
    x, s = meta(2, 8, 5, 5, channels_last=True), meta(2, 8, 1, 1)
    out = _pass_on_meta(torch.mul, x, s)
    assert out.stride() == torch.mul(x, s).stride() == x.stride()


def test_meta_build_answers_initialisers_only() -> None:
    class WithBuffer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("p", torch.ones(4, 6).t_())  # t_ changes the shape: not an initialiser

    from archinspect.core.fastmeta import verify_fast_meta

    with torch.device("meta"), MetaBuild(), verify_fast_meta():
        module = WithBuffer()
    assert module.p.shape == (6, 4) and module.p.stride() == (1, 6)


def test_the_op_table_tolerates_a_torch_without_one_of_its_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    from archinspect.core import fastmeta

    class WithoutMm:  # torch.ops.aten as a torch without aten.mm would have it
        def __getattr__(self, name: str) -> object:
            if name == "mm":
                raise AttributeError(name)
            return getattr(torch.ops.aten, name)

    monkeypatch.setattr(fastmeta, "aten", WithoutMm())
    table = fastmeta._table()
    assert aten.bmm.default in table and len(table) == len(fastmeta.FAST_META) - 1


def _pass_on_meta(fn: object, *args: torch.Tensor) -> torch.Tensor:
    """``fn(*args)`` under the production counter (fast path on), every fast answer verified."""
    from archinspect.core.counter import OpCounter
    from archinspect.core.fastmeta import verify_fast_meta

    with verify_fast_meta(), OpCounter(lambda cost: None):
        return fn(*args)  # type: ignore[operator]


ZOO_VERIFY_SKIP = frozenset({"resnet1202", "densenet-bc-250", "densenet-bc-190"})  # the same blocks as smaller entries


@pytest.mark.parametrize("name", zoo_params(skip=ZOO_VERIFY_SKIP))
def test_production_path_over_the_zoo_agrees_with_torch_kernels(name: str) -> None:
    """Build on meta (initialisers answered) and run the pass with the fast path on, in eval and train
    mode: every fast answer is checked against torch's own kernel (shape, strides, dtype, no error)."""
    from archinspect.core.engine import run_pass
    from archinspect.core.fastmeta import verify_fast_meta
    from archinspect.models.loading import load_model

    with verify_fast_meta():
        loaded = load_model(name, device="meta")
        run_pass(Target.of(loaded.model, loaded.default_inputs), PassOptions.check(device="meta", per_module=False))
        batch2 = [s.with_batch(2) for s in loaded.default_inputs]  # train-mode BatchNorm1d needs two samples
        run_pass(Target.of(loaded.model, batch2), PassOptions.check(device="meta", mode="train", per_module=False))
