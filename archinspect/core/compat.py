"""Every private torch API archinspect relies on, imported here once and nowhere else.

torch makes no promise about names that start with an underscore: each can move or change between
releases. Keeping them in this one file means a new torch release is checked (and, if needed, adapted)
here, and ``tests/test_compat.py`` fails if any other module reaches for a private torch name.

Each entry says what archinspect uses it for and since which torch release it exists. The project is
tested on torch 2.13.0 (CI) and 2.14.1 (the benchmark sweep); ``pyproject.toml`` promises no older torch
(see "Supported versions" in README.md). Imports that cost start-up time are behind functions.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import torch
from torch import nn

# The type of ``torch.ops.aten.conv2d`` (an operator with all its overloads): how a user's registered cost
# formula is recognised as an operator. torch._ops, since torch 1.12.
from torch._ops import OpOverloadPacket

# The common bases torch's own layer families share; checked with isinstance to recognise every member,
# also user subclasses. torch.nn.modules.*, since torch 1.0 (_NormBase since 1.6).
from torch.nn.modules.batchnorm import _BatchNorm as BatchNormBase  # BatchNorm1d/2d/3d, SyncBatchNorm, Lazy*
from torch.nn.modules.batchnorm import _NormBase as NormBase  # the above and InstanceNorm*
from torch.nn.modules.conv import _ConvNd as ConvNd  # Conv1d/2d/3d and the ConvTranspose family
from torch.nn.modules.dropout import _DropoutNd as DropoutNd  # Dropout, Dropout1d/2d/3d, AlphaDropout

# Marks a lazy module's parameter or buffer before its first call (nn.UninitializedParameter and
# nn.UninitializedBuffer both inherit it): such a tensor has no shape to count. torch.nn.parameter,
# since torch 1.9.
from torch.nn.parameter import UninitializedTensorMixin

# Swaps a module's parameters for others during a block, then restores them: an LSTM replayed on meta
# parameters to count its work. torch.nn.utils.stateless, since torch 1.12 (torch.func.functional_call
# is the public form, but it calls the module, which would run its hooks a second time).
from torch.nn.utils.stateless import _reparametrize_module as reparametrize_module

# The base class of a dispatch-level observer: it sees every ATen operator as it runs (the FLOP counter,
# the fast meta answers, the memory tracker). torch.utils._python_dispatch, since torch 1.13; torch's own
# FlopCounterMode is built on it, and there is no public alias.
from torch.utils._python_dispatch import TorchDispatchMode

# Leaves the dispatch modes that are active (a caller's FlopCounterMode, a profiler) for the duration of
# a block, so an extra internal pass is not seen by them. torch.utils._python_dispatch, since torch 2.0.
from torch.utils._python_dispatch import _disable_current_modes as disable_current_modes

# Flattens an operator's output (tensors in tuples, lists, dicts) into its leaves.
# torch.utils._pytree, since torch 1.7; torch has no public pytree module yet.
from torch.utils._pytree import tree_flatten

__all__ = [
    "BatchNormBase",
    "ConvNd",
    "DispatchMode",
    "DropoutNd",
    "NormBase",
    "OpOverloadPacket",
    "TorchDispatchMode",
    "UninitializedTensorMixin",
    "child_modules",
    "disable_current_modes",
    "dispatch_stack_depth",
    "fake_tensor_mode",
    "mem_tracker",
    "own_buffers",
    "own_parameters",
    "reparametrize_module",
    "tree_flatten",
    "view_base",
]


class DispatchMode(TorchDispatchMode):
    """A ``TorchDispatchMode`` that never imports ``torch._dynamo``.

    Since about torch 2.11, ``TorchDispatchMode.__init_subclass__`` wraps each subclass's
    ``__torch_dispatch__`` in ``torch._disable_dynamo`` unless the private class hook
    ``_should_skip_dynamo`` answers False; that wrapper imports ``torch._dynamo`` (about 2 s) on the first
    operator. archinspect's modes never run under ``torch.compile``, so they opt out. Older torch never
    calls the hook, and defining it there is harmless.
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False


def dispatch_stack_depth() -> int:
    """How many dispatch modes are active outside the one now running (inside ``__torch_dispatch__`` the
    running mode is popped). ``torch._C._len_torch_dispatch_stack``, since torch 2.0."""
    return torch._C._len_torch_dispatch_stack()


def fake_tensor_mode() -> type:
    """torch's ``FakeTensorMode``: tensors with shapes, dtypes and devices but no storage, for a run that
    allocates nothing yet keeps each tensor's device. ``torch._subclasses.fake_tensor``, since torch 2.0;
    imported on first use (it is not needed by every command)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode


def mem_tracker() -> type:
    """torch's own ``MemTracker`` (a cross-check of the memory analysis on real tensors).
    ``torch.distributed._tools.mem_tracker``, since torch 2.5; imported on first use."""
    from torch.distributed._tools.mem_tracker import MemTracker

    return MemTracker


def own_parameters(module: nn.Module) -> MutableMapping[str, Any]:
    """The module's own parameters by name (None for an unset one), without its children's: the dict
    ``nn.Module`` keeps (``_parameters``, since torch 1.0), so writing to it replaces a parameter in place
    without ``__setattr__``'s checks. ``named_parameters(recurse=False)`` is the read-only public form."""
    return module._parameters


def own_buffers(module: nn.Module) -> MutableMapping[str, Any]:
    """The module's own buffers by name (``_buffers``, since torch 1.0): see :func:`own_parameters`."""
    return module._buffers


def child_modules(module: nn.Module) -> MutableMapping[str, Any]:
    """The module's direct children by name (``_modules``, since torch 1.0): writing to it swaps a child
    without ``__setattr__`` (which would refuse a non-Module stand-in or re-register hooks)."""
    return module._modules


def view_base(tensor: torch.Tensor) -> torch.Tensor | None:
    """The tensor a view was taken from, or None for a tensor that owns its storage (``Tensor._base``,
    since torch 1.0)."""
    return tensor._base
