"""How one pass runs, checked once: :class:`PassOptions`.

Every analysis takes its pass options through :meth:`PassOptions.check`, which validates each value and
names the offending *parameter* in its error (``mode='test' is not a mode; accepted: eval, train``); the
CLI maps parameter names to its flags. Once built, the object is frozen and passed whole — no analysis
re-declares the pass's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from archinspect.core.costs import check_op_costs
from archinspect.core.devices import resolve_device
from archinspect.errors import UsageError

DEFAULT_DEPTH = 2
MODES = ("eval", "train")
FLOAT_DTYPES = ("float32", "float16", "bfloat16", "float64")


def check_dtype(dtype: Any, param: str = "dtype") -> torch.dtype | None:
    """A floating ``torch.dtype`` from a name (``"float16"``) or a dtype; None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, torch.dtype):
        found: Any = dtype
    else:
        found = getattr(torch, str(dtype), None) if isinstance(dtype, str) else None
    if not isinstance(found, torch.dtype) or not found.is_floating_point:
        raise UsageError(
            f"{param}={dtype!r} is not a floating dtype; accepted: {', '.join(FLOAT_DTYPES)}", param=param
        )
    return found


def dtype_name(dtype: torch.dtype | None) -> str | None:
    return None if dtype is None else str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class PassOptions:
    """The options of one pass, valid by construction (build with :meth:`check`).

    - ``device``: as asked (``auto``, ``meta``, ``cpu``, ``cuda``, ``cuda:N``); ``auto`` runs on meta, or
      where real input tensors are, and falls back to CPU when meta cannot run the model (``fallback``).
    - ``dtype``: floating parameters and dummy inputs cast to it (None: as they are).
    - ``mode``: ``eval`` or ``train`` (the model's flags restored afterwards).
    - ``depth``: how deep reports fold by default.
    - ``force``: run on CPU/CUDA even when the memory guard estimates the pass will not fit.
    - ``per_module``: a record per module call (False: the model as one row, for totals only).
    - ``receptive``: follow receptive fields through every operator.
    - ``count``: watch every operator (FLOPs, op events for observers); False runs with module hooks only,
      for timing without the dispatch mode's overhead.
    - ``op_costs``: cost formulas for this pass only, by operator (see :mod:`archinspect.core.costs`).
    """

    device: str = "auto"
    dtype: torch.dtype | None = None
    mode: str = "eval"
    depth: int = DEFAULT_DEPTH
    fallback: bool = True
    force: bool = False
    per_module: bool = True
    receptive: bool = False
    count: bool = True
    op_costs: Mapping[Any, Any] | None = None

    @classmethod
    def check(
        cls,
        *,
        device: str | None = "auto",
        dtype: Any = None,
        mode: str = "eval",
        depth: int = DEFAULT_DEPTH,
        fallback: bool = True,
        force: bool = False,
        per_module: bool = True,
        receptive: bool = False,
        count: bool = True,
        op_costs: Mapping[Any, Any] | None = None,
    ) -> PassOptions:
        """Options from API values; a :class:`UsageError` names the parameter and what it accepts."""
        if mode not in MODES:
            raise UsageError(f"mode={mode!r} is not a mode; accepted: {', '.join(MODES)}", param="mode")
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise UsageError(f"depth={depth!r} must be a whole number, 0 or more", param="depth")
        device = "auto" if device is None else device
        if not isinstance(device, str):
            device = str(device)  # a torch.device
        if device != "auto":
            resolve_device(device, auto="meta")  # refuses what cannot be, before any work
        check_op_costs(op_costs)  # operators and formulas, named in parameter terms
        return cls(
            device=device,
            dtype=check_dtype(dtype),
            mode=mode,
            depth=depth,
            fallback=bool(fallback),
            force=bool(force),
            per_module=bool(per_module),
            receptive=bool(receptive),
            count=bool(count),
            op_costs=dict(op_costs) if op_costs else None,
        )

    @classmethod
    def of(
        cls, options: PassOptions | None = None, values: Mapping[str, Any] | None = None, **defaults: Any
    ) -> PassOptions:
        """The options of one API call: ``options`` as given, or ``values`` (the call's keyword options) checked
        over the function's ``defaults``. An unknown name is a :class:`UsageError` listing the accepted ones."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise UsageError(f"{unknown[0]}= is not an option; accepted: {', '.join(OPTION_NAMES)}", param=unknown[0])
        if options is not None:
            if not isinstance(options, PassOptions):
                raise UsageError(
                    f"options={options!r} must be a PassOptions (or give the options as keywords)", param="options"
                )
            return options if not values else cls.check(**{**options.as_values(), **values})
        return cls.check(**{**defaults, **values})

    def as_values(self) -> dict[str, Any]:
        """The options as :meth:`check`'s keyword arguments."""
        return {name: getattr(self, name) for name in OPTION_NAMES}

    def but(self, **changes: Any) -> PassOptions:
        """A copy with some options changed (values already valid: internal use)."""
        return replace(self, **changes)

    @property
    def dtype_name(self) -> str | None:
        return dtype_name(self.dtype)


OPTION_NAMES = ("device", "dtype", "mode", "depth", "fallback", "force", "per_module", "receptive", "count", "op_costs")

__all__ = ["OPTION_NAMES", "DEFAULT_DEPTH", "FLOAT_DTYPES", "MODES", "PassOptions", "check_dtype", "dtype_name"]
