"""What kind of arithmetic an operator does: the categories per-operator tables and totals group by.

An enum, never a free string: a formula registered with a mistyped category is an error naming the accepted
ones (it used to move the formula's MACs into "other ops" without a word). Members are strings too
(``CostCategory.CONV == "conv"``, hashed and printed as ``"conv"``), so reports, JSON and CSV read as before.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from archinspect.errors import ArgumentValueError


class CostCategory(str, Enum):
    """Only ``conv``, ``matmul`` and ``attention`` count as MACs; every other category is "other ops"."""

    CONV = "conv"
    MATMUL = "matmul"
    ATTENTION = "attention"
    NORM = "norm"
    POOL = "pool"
    ACTIVATION = "activation"
    ELEMENTWISE = "elementwise"
    SCAN = "scan"
    SOFTMAX = "softmax"
    REDUCTION = "reduction"
    UPSAMPLE = "upsample"
    CUSTOM = "custom"  # a user's formula that names no other category

    __hash__ = str.__hash__  # a member and its value are the same dict key

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def is_mac(self) -> bool:
        """Whether a cost in this category is counted as MACs (2 FLOPs each) rather than other ops."""
        return self in MAC_CATEGORIES

    @classmethod
    def check(cls, value: Any, what: str = "category") -> CostCategory:
        """``value`` (a member or its string) as a member; an error naming the accepted ones otherwise."""
        if isinstance(value, cls):
            return value
        try:
            return cls(value)
        except ValueError:
            accepted = ", ".join(c.value for c in cls)
            raise ArgumentValueError(f"{what}={value!r} is not a cost category; accepted: {accepted}") from None


MAC_CATEGORIES = frozenset({CostCategory.CONV, CostCategory.MATMUL, CostCategory.ATTENTION})
