"""Cost formulas per call (``op_costs=``), a global registry that will not silently replace a built-in, and
cost categories as an enum.

``op_costs`` belongs to one call, as torch's ``FlopCounterMode(custom_mapping=...)`` belongs to one counter:
the next call, and another thread's call at the same time, count as if it had never been given.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from threads import run_in_threads
from torch import nn

import archinspect
from archinspect import CostCategory, OpCost, count_flops, inspect, register_op_cost
from archinspect.errors import ModelRunError, UsageError

aten = torch.ops.aten


class Gamma(nn.Module):
    """lgamma has no built-in formula; a linear layer has one (addmm)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.lgamma(x))


def per_element(n: int) -> Any:
    return lambda args, kwargs, out: (0, n * out.numel())


def test_op_costs_on_one_call_do_not_change_the_next() -> None:
    plain = inspect(Gamma(), (2, 8))
    assert plain.uncounted_ops == {"lgamma": 1} and plain.totals.other_ops == 0
    counted = inspect(Gamma(), (2, 8), op_costs={"aten.lgamma": per_element(10)})
    assert counted.uncounted_ops == {} and counted.totals.other_ops == 160
    assert (counted.ops["lgamma"].category, counted.ops["lgamma"].calls) == (CostCategory.CUSTOM, 1)
    assert counted.totals.macs == plain.totals.macs == 2 * 8 * 4
    after = inspect(Gamma(), (2, 8))
    assert after.uncounted_ops == {"lgamma": 1} and after.totals.other_ops == 0
    flops = count_flops(Gamma(), (2, 8), op_costs={aten.lgamma: per_element(3)})
    assert flops.totals.other_ops == 48
    assert count_flops(Gamma(), (2, 8)).totals.other_ops == 0


@pytest.mark.parametrize(
    "key", [aten.lgamma, aten.lgamma.default, "aten.lgamma", "aten::lgamma", "aten.lgamma.default"]
)
def test_an_operator_is_named_as_torch_names_it(key: Any) -> None:
    assert inspect(Gamma(), (2, 8), op_costs={key: per_element(2)}).totals.other_ops == 32


def test_op_costs_may_replace_a_built_in_formula_for_one_call() -> None:
    one = {"aten.addmm": lambda args, kwargs, out: OpCost(category=CostCategory.MATMUL, macs=1)}
    assert inspect(Gamma(), (2, 8), op_costs=one).totals.macs == 1
    # numbers keep the operator's own category: addmm's MACs stay MACs
    assert inspect(Gamma(), (2, 8), op_costs={"aten.addmm": lambda a, k, o: (7, 0)}).totals.macs == 7
    assert inspect(Gamma(), (2, 8)).totals.macs == 64


def test_op_costs_win_over_the_registry_and_only_for_their_call() -> None:
    register_op_cost(aten.lgamma, per_element(10))
    try:
        assert inspect(Gamma(), (2, 8), op_costs={"aten.lgamma": per_element(3)}).totals.other_ops == 48
        assert inspect(Gamma(), (2, 8)).totals.other_ops == 160
    finally:
        register_op_cost(aten.lgamma, None)
    assert inspect(Gamma(), (2, 8)).uncounted_ops == {"lgamma": 1}


def test_threads_with_different_op_costs_each_count_their_own() -> None:
    results: dict[int, set[int]] = {n: set() for n in (1, 2, 3, 4)}

    def work(n: int) -> None:
        for _ in range(10):
            results[n].add(inspect(Gamma(), (2, 8), op_costs={"aten.lgamma": per_element(n)}).totals.other_ops)

    errors = run_in_threads(work, results)
    assert errors == []
    assert results == {1: {16}, 2: {32}, 3: {48}, 4: {64}}


@pytest.mark.parametrize(
    ("op_costs", "message"),
    [
        (
            {"lgamma": per_element(1)},
            "op_costs: 'lgamma' is not an operator (e.g. torch.ops.aten.cumsum or 'aten.cumsum')",
        ),
        ({"aten.lgama": per_element(1)}, "op_costs: 'aten.lgama' is not an operator"),
        ({"aten.lgamma": 10}, "op_costs['aten.lgamma'] must be a formula fn(args, kwargs, out), got 10"),
        (
            [("aten.lgamma", per_element(1))],
            "op_costs must map operators to formulas (e.g. {'aten.lgamma': fn}), got list",
        ),
    ],
)
def test_bad_op_costs_are_usage_errors_in_parameter_terms(op_costs: Any, message: str) -> None:
    with pytest.raises(UsageError) as err:
        inspect(Gamma(), (2, 8), op_costs=op_costs)
    assert str(err.value).startswith(message)


def test_the_registry_refuses_to_replace_a_built_in_rule_unless_asked() -> None:
    with pytest.raises(UsageError) as err:
        register_op_cost(aten.addmm, lambda a, k, o: (1, 0))
    assert str(err.value) == (
        "register_op_cost: aten.addmm already has a built-in rule; pass replace=True to replace it for every later "
        "pass, or op_costs={...} to inspect/count_flops for one call"
    )
    with pytest.raises(UsageError, match="aten.cat already has a built-in rule"):  # free by the convention
        register_op_cost("aten.cat", lambda a, k, o: (0, 1))
    assert inspect(Gamma(), (2, 8)).totals.macs == 64  # nothing was registered
    register_op_cost(aten.addmm, lambda a, k, o: (5, 0), replace=True)
    try:
        assert inspect(Gamma(), (2, 8)).totals.macs == 5  # addmm's own category: its MACs stay MACs
    finally:
        register_op_cost(aten.addmm, None)
    assert inspect(Gamma(), (2, 8)).totals.macs == 64


def test_replacing_your_own_formula_warns_unless_asked() -> None:
    register_op_cost(aten.lgamma, per_element(1))
    try:
        with pytest.warns(UserWarning, match=r"^register_op_cost: replacing your earlier formula for aten.lgamma$"):
            register_op_cost(aten.lgamma, per_element(2))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            register_op_cost(aten.lgamma, per_element(3), replace=True)
        assert inspect(Gamma(), (2, 8)).totals.other_ops == 48
    finally:
        register_op_cost(aten.lgamma, None)


def test_categories_are_an_enum_and_a_mistyped_one_is_an_error() -> None:
    accepted = (
        "conv, matmul, attention, norm, pool, activation, elementwise, scan, softmax, reduction, upsample, custom"
    )
    with pytest.raises(UsageError) as err:
        register_op_cost(aten.lgamma, per_element(1), category="elementwize")
    assert str(err.value) == f"category='elementwize' is not a cost category; accepted: {accepted}"
    with pytest.raises(ValueError, match="category='convv' is not a cost category"):
        OpCost("x", "convv")
    # a formula's own answer is only seen as the model runs: a failure of the pass, named as such
    with pytest.raises(ModelRunError, match=r"Gamma.forward failed on input 2×8: category='matmull' is not a cost"):
        inspect(Gamma(), (2, 8), op_costs={"aten.lgamma": lambda a, k, o: OpCost(category="matmull", macs=1)})
    report = inspect(Gamma(), (2, 8))
    assert {type(t.category) for t in report.ops.values()} == {CostCategory}
    assert report.ops["addmm"].category is CostCategory.MATMUL and report.ops["addmm"].is_mac
    assert archinspect.CostCategory("norm") is CostCategory.NORM and f"{CostCategory.NORM}" == "norm"


def test_macs_count_as_macs_only_in_a_mac_category() -> None:
    register_op_cost(aten.lgamma, lambda a, k, o: (o.numel(), 0), category=CostCategory.ELEMENTWISE)
    try:
        report = inspect(Gamma(), (2, 8))  # elementwise: the formula's 16 "MACs" are other ops
        assert (report.totals.macs, report.totals.other_ops) == (64, 16)
    finally:
        register_op_cost(aten.lgamma, None)
    as_matmul = {"aten.lgamma": lambda a, k, o: OpCost(category=CostCategory.MATMUL, macs=o.numel())}
    report = inspect(Gamma(), (2, 8), op_costs=as_matmul)
    assert (report.totals.macs, report.totals.other_ops, report.ops["lgamma"].is_mac) == (80, 0, True)
