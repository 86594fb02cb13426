"""The per-element costs of the "other ops" and the operators that cost nothing: data, read by
:mod:`archinspect.core.costs` (the formulas) and :mod:`archinspect.core.receptive`."""

from __future__ import annotations

from archinspect.core.categories import CostCategory

C = CostCategory

# Other ops: (category, cost per element, which elements: "out" or "in").
OTHER_OP_COST: dict[str, tuple[CostCategory, int, str]] = {
    # normalisation: per input element; eval BatchNorm is a scale and a shift (2), see _norm_cost
    "native_batch_norm": (C.NORM, 2, "in"),
    "_native_batch_norm_legit": (C.NORM, 2, "in"),
    "_native_batch_norm_legit_no_training": (C.NORM, 2, "in"),
    "_native_batch_norm_legit_functional": (C.NORM, 2, "in"),
    "cudnn_batch_norm": (C.NORM, 2, "in"),
    "miopen_batch_norm": (C.NORM, 2, "in"),
    "native_layer_norm": (C.NORM, 5, "in"),
    "native_group_norm": (C.NORM, 5, "in"),
    # pooling: adaptive pools read each input element once; windowed pools are costed in _pool_cost
    "_adaptive_avg_pool2d": (C.POOL, 1, "in"),
    "_adaptive_avg_pool3d": (C.POOL, 1, "in"),
    "adaptive_avg_pool1d": (C.POOL, 1, "in"),
    "adaptive_max_pool2d": (C.POOL, 1, "in"),
    "adaptive_max_pool3d": (C.POOL, 1, "in"),
    "adaptive_max_pool1d": (C.POOL, 1, "in"),
    # activations: one op per output element
    "relu": (C.ACTIVATION, 1, "out"),
    "relu_": (C.ACTIVATION, 1, "out"),
    "threshold": (C.ACTIVATION, 1, "out"),
    "sigmoid": (C.ACTIVATION, 1, "out"),
    "sigmoid_": (C.ACTIVATION, 1, "out"),
    "tanh": (C.ACTIVATION, 1, "out"),
    "gelu": (C.ACTIVATION, 1, "out"),
    "silu": (C.ACTIVATION, 1, "out"),
    "silu_": (C.ACTIVATION, 1, "out"),
    "hardtanh": (C.ACTIVATION, 1, "out"),
    "hardtanh_": (C.ACTIVATION, 1, "out"),
    "hardswish": (C.ACTIVATION, 1, "out"),
    "hardsigmoid": (C.ACTIVATION, 1, "out"),
    "leaky_relu": (C.ACTIVATION, 1, "out"),
    "leaky_relu_": (C.ACTIVATION, 1, "out"),
    "elu": (C.ACTIVATION, 1, "out"),
    "clamp": (C.ACTIVATION, 1, "out"),
    "clamp_min": (C.ACTIVATION, 1, "out"),
    "clamp_min_": (C.ACTIVATION, 1, "out"),
    "clamp_": (C.ACTIVATION, 1, "out"),
    "clamp_max": (C.ACTIVATION, 1, "out"),
    "clamp_max_": (C.ACTIVATION, 1, "out"),
    "tanh_": (C.ACTIVATION, 1, "out"),
    "gelu_": (C.ACTIVATION, 1, "out"),
    "hardswish_": (C.ACTIVATION, 1, "out"),
    "hardsigmoid_": (C.ACTIVATION, 1, "out"),
    "elu_": (C.ACTIVATION, 1, "out"),
    "mish": (C.ACTIVATION, 1, "out"),
    "mish_": (C.ACTIVATION, 1, "out"),
    "softplus": (C.ACTIVATION, 1, "out"),
    "log_sigmoid_forward": (C.ACTIVATION, 1, "out"),
    "_prelu_kernel": (C.ACTIVATION, 1, "out"),
    "glu": (C.ACTIVATION, 1, "out"),
    # elementwise arithmetic: one op per output element
    "add": (C.ELEMENTWISE, 1, "out"),
    "add_": (C.ELEMENTWISE, 1, "out"),
    "sub": (C.ELEMENTWISE, 1, "out"),
    "sub_": (C.ELEMENTWISE, 1, "out"),
    "mul": (C.ELEMENTWISE, 1, "out"),
    "mul_": (C.ELEMENTWISE, 1, "out"),
    "div": (C.ELEMENTWISE, 1, "out"),
    "div_": (C.ELEMENTWISE, 1, "out"),
    "rsub": (C.ELEMENTWISE, 1, "out"),
    "neg": (C.ELEMENTWISE, 1, "out"),
    "exp": (C.ELEMENTWISE, 1, "out"),
    "sqrt": (C.ELEMENTWISE, 1, "out"),
    "rsqrt": (C.ELEMENTWISE, 1, "out"),
    "pow": (C.ELEMENTWISE, 1, "out"),
    "addcmul": (C.ELEMENTWISE, 2, "out"),
    "addcdiv": (C.ELEMENTWISE, 2, "out"),
    "lerp": (C.ELEMENTWISE, 2, "out"),
    "exp_": (C.ELEMENTWISE, 1, "out"),
    "sqrt_": (C.ELEMENTWISE, 1, "out"),
    "rsqrt_": (C.ELEMENTWISE, 1, "out"),
    "neg_": (C.ELEMENTWISE, 1, "out"),
    "pow_": (C.ELEMENTWISE, 1, "out"),
    "abs": (C.ELEMENTWISE, 1, "out"),
    "log": (C.ELEMENTWISE, 1, "out"),
    "erf": (C.ELEMENTWISE, 1, "out"),
    "reciprocal": (C.ELEMENTWISE, 1, "out"),
    "square": (C.ELEMENTWISE, 1, "out"),
    "maximum": (C.ELEMENTWISE, 1, "out"),
    "minimum": (C.ELEMENTWISE, 1, "out"),
    "sin": (C.ELEMENTWISE, 1, "out"),
    "cos": (C.ELEMENTWISE, 1, "out"),
    "tan": (C.ELEMENTWISE, 1, "out"),
    "atan": (C.ELEMENTWISE, 1, "out"),
    "atan2": (C.ELEMENTWISE, 1, "out"),
    "sinh": (C.ELEMENTWISE, 1, "out"),
    "cosh": (C.ELEMENTWISE, 1, "out"),
    "log1p": (C.ELEMENTWISE, 1, "out"),
    "expm1": (C.ELEMENTWISE, 1, "out"),
    "log2": (C.ELEMENTWISE, 1, "out"),
    "log10": (C.ELEMENTWISE, 1, "out"),
    "exp2": (C.ELEMENTWISE, 1, "out"),
    "sign": (C.ELEMENTWISE, 1, "out"),
    "sgn": (C.ELEMENTWISE, 1, "out"),
    "floor": (C.ELEMENTWISE, 1, "out"),
    "ceil": (C.ELEMENTWISE, 1, "out"),
    "round": (C.ELEMENTWISE, 1, "out"),
    "trunc": (C.ELEMENTWISE, 1, "out"),
    "frac": (C.ELEMENTWISE, 1, "out"),
    "remainder": (C.ELEMENTWISE, 1, "out"),
    "fmod": (C.ELEMENTWISE, 1, "out"),
    "floor_divide": (C.ELEMENTWISE, 1, "out"),
    "xlogy": (C.ELEMENTWISE, 2, "out"),
    "logaddexp": (C.ELEMENTWISE, 4, "out"),  # max, |a - b|, exp, log1p (+ add): as torch computes it
    "logaddexp2": (C.ELEMENTWISE, 4, "out"),
    "hypot": (C.ELEMENTWISE, 3, "out"),
    "eq": (C.ELEMENTWISE, 1, "out"),
    "ne": (C.ELEMENTWISE, 1, "out"),
    "lt": (C.ELEMENTWISE, 1, "out"),
    "le": (C.ELEMENTWISE, 1, "out"),
    "gt": (C.ELEMENTWISE, 1, "out"),
    "ge": (C.ELEMENTWISE, 1, "out"),
    "logical_and": (C.ELEMENTWISE, 1, "out"),
    "logical_or": (C.ELEMENTWISE, 1, "out"),
    "logical_not": (C.ELEMENTWISE, 1, "out"),
    "logical_xor": (C.ELEMENTWISE, 1, "out"),
    "bitwise_and": (C.ELEMENTWISE, 1, "out"),
    "bitwise_or": (C.ELEMENTWISE, 1, "out"),
    "bitwise_not": (C.ELEMENTWISE, 1, "out"),
    "bitwise_xor": (C.ELEMENTWISE, 1, "out"),
    "isnan": (C.ELEMENTWISE, 1, "out"),
    "native_dropout": (C.ELEMENTWISE, 2, "in"),  # a mask draw and a scaled multiply (train mode)
    "softshrink": (C.ACTIVATION, 1, "out"),
    "hardshrink": (C.ACTIVATION, 1, "out"),
    "celu": (C.ACTIVATION, 1, "out"),
    "selu": (C.ACTIVATION, 1, "out"),
    "rrelu_with_noise": (C.ACTIVATION, 1, "out"),
    "logit": (C.ACTIVATION, 1, "out"),
    # cumulative (scan) ops: one op per element; logcumsumexp as logaddexp per element
    "cumsum": (C.SCAN, 1, "out"),
    "cumsum_": (C.SCAN, 1, "out"),
    "cumprod": (C.SCAN, 1, "out"),
    "cummax": (C.SCAN, 1, "in"),
    "cummin": (C.SCAN, 1, "in"),
    "logcumsumexp": (C.SCAN, 4, "out"),
    # softmax: max, subtract, exp, sum, divide
    "_softmax": (C.SOFTMAX, 5, "in"),
    "_safe_softmax": (C.SOFTMAX, 5, "in"),
    "_log_softmax": (C.SOFTMAX, 5, "in"),
    # reductions: one op per input element
    "mean": (C.REDUCTION, 1, "in"),
    "sum": (C.REDUCTION, 1, "in"),
    "amax": (C.REDUCTION, 1, "in"),
    "max": (C.REDUCTION, 1, "in"),
    "var": (C.REDUCTION, 2, "in"),
    "std": (C.REDUCTION, 2, "in"),
    "var_mean": (C.REDUCTION, 2, "in"),
    "logsumexp": (C.REDUCTION, 3, "in"),
    "prod": (C.REDUCTION, 1, "in"),
    "min": (C.REDUCTION, 1, "in"),
    "amin": (C.REDUCTION, 1, "in"),
    "aminmax": (C.REDUCTION, 2, "in"),
    "argmax": (C.REDUCTION, 1, "in"),
    "argmin": (C.REDUCTION, 1, "in"),
    "any": (C.REDUCTION, 1, "in"),
    "all": (C.REDUCTION, 1, "in"),
    "std_mean": (C.REDUCTION, 2, "in"),
    "norm": (C.REDUCTION, 2, "in"),
    "nansum": (C.REDUCTION, 1, "in"),
    "_fused_rms_norm": (C.NORM, 4, "in"),
    "mse_loss": (C.REDUCTION, 3, "in"),
    "nll_loss_forward": (C.REDUCTION, 1, "out"),
    "nll_loss2d_forward": (C.REDUCTION, 1, "out"),
    "grid_sampler_2d": (C.UPSAMPLE, 4, "out"),
    "grid_sampler_3d": (C.UPSAMPLE, 8, "out"),
    "linalg_vector_norm": (C.REDUCTION, 2, "in"),
    # upsampling (as fvcore): nearest copies, bilinear interpolates from 4 neighbours
    "upsample_nearest1d": (C.UPSAMPLE, 1, "out"),
    "upsample_nearest2d": (C.UPSAMPLE, 1, "out"),
    "upsample_nearest3d": (C.UPSAMPLE, 1, "out"),
    "upsample_bilinear2d": (C.UPSAMPLE, 4, "out"),
    "_upsample_bilinear2d_aa": (C.UPSAMPLE, 4, "out"),
    "upsample_bicubic2d": (C.UPSAMPLE, 16, "out"),
    "_upsample_bicubic2d_aa": (C.UPSAMPLE, 16, "out"),
    "_upsample_nearest_exact1d": (C.UPSAMPLE, 1, "out"),
    "_upsample_nearest_exact2d": (C.UPSAMPLE, 1, "out"),
    "_upsample_nearest_exact3d": (C.UPSAMPLE, 1, "out"),
    "upsample_linear1d": (C.UPSAMPLE, 2, "out"),
    "upsample_trilinear3d": (C.UPSAMPLE, 8, "out"),
}

# Kernels that are the same operation as a public name a reader knows; tallied under that name.
SAME_AS = {"_adaptive_avg_pool2d": "adaptive_avg_pool2d", "_adaptive_avg_pool3d": "adaptive_avg_pool3d"}

# Operators that move or describe data without arithmetic. Named by their overload packet; an in-place
# variant (``fill_``) and a functional one are both listed where both run.
def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FREE_OPS: dict[str, tuple[str, ...]] = {
    "view or metadata": _names(
        "view _unsafe_view reshape _reshape_alias as_strided permute transpose t expand squeeze unsqueeze "
        "slice select split split_with_sizes chunk unbind narrow unsafe_split unsafe_chunk "
        "unsafe_split_with_sizes detach alias lift_fresh view_as_real view_as_complex unfold diagonal movedim "
        "flatten unflatten squeeze_ unsqueeze_ transpose_ t_ _local_scalar_dense sym_size sym_stride "
        "sym_numel sym_storage_offset is_same_size _assert_async _assert_scalar "
        "_nested_tensor_from_mask_left_aligned set_ resize_ _has_compatible_shallow_copy_type _to_dense "
        "_unsafe_index_put equal is_nonzero _nnz detach_ as_strided_ _unsafe_view_copy "
        "_functional_assert_async _make_dep_token _is_all_true _is_any_true"
    ),
    "copy": _names(
        "_to_copy copy_ clone cat stack index index_select gather scatter scatter_ index_put index_put_ "
        "index_copy masked_select take nonzero roll flip repeat tile repeat_interleave embedding "
        "_unsafe_index constant_pad_nd reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d "
        "replication_pad2d replication_pad3d pixel_shuffle pixel_unshuffle channel_shuffle "
        "native_channel_shuffle lift_fresh_copy _pin_memory contiguous tril triu col2im im2col masked_scatter "
        "slice_scatter select_scatter diagonal_scatter as_strided_scatter unique_dim _unique2 sort topk "
        "searchsorted bucketize one_hot argsort zero_ fill_ fill _foreach_copy_ polar complex unfold_copy "
        "where masked_fill masked_fill_ view_copy _copy_from _copy_from_and_resize"
    ),  # copies, indexing, selection (where, masked_fill), padding, sorting
    "factory": _names(
        "empty empty_like empty_strided zeros zeros_like ones ones_like full full_like new_empty new_zeros "
        "new_ones new_full new_empty_strided arange linspace logspace scalar_tensor eye tensor "
        "_efficientzerotensor rand randn randint rand_like randn_like randint_like randperm normal normal_ "
        "uniform_ bernoulli bernoulli_ exponential_ random_ multinomial "
        "_sparse_coo_tensor_with_dims_and_tensors"
    ),
}
FREE_KIND: dict[str, str] = {name: kind for kind, names in FREE_OPS.items() for name in names}


__all__ = ["FREE_KIND", "FREE_OPS", "OTHER_OP_COST", "SAME_AS"]
