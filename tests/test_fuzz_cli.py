"""Fuzzing what a user can type: ``--input`` shapes and ``--arg key=value`` constructor arguments.

Whatever the text, the answer is a value or one short :class:`UsageError` line (parsing), and through the
CLI an exit code of 0, 1 or 2 with no traceback and exactly one stderr line on failure. The parse-level
properties run 2,000 cases each (cheap: no model is built); the CLI properties a few hundred full runs
of a tiny zoo model on meta, and 2,000 each under ``-m slow``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from archinspect.cli.app import app
from archinspect.core.inputs import DTYPE_NAMES, MAX_BYTES, parse_input, parse_kwargs
from archinspect.errors import UsageError
from archinspect.models.zoo import get_entry

MODEL = "d2l-lenet-bn"  # 44,878 parameters: a meta pass takes milliseconds
BATCH = 100  # parse-level cases per hypothesis example: 20 examples × 100 = 2,000 cases, without per-example overhead
FAST = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
CLI_FAST = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
CLI_SLOW = settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

_numbers = st.one_of(
    st.integers(min_value=-5, max_value=64),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2**31, 2**62, 2**63 - 1, 2**63, 10**19, 10**30]),
)
_dim_text = st.one_of(_numbers.map(str), st.text("0123456789-+. eE", max_size=24), st.text(max_size=6))
_prefix = st.one_of(st.just(""), st.sampled_from(sorted(DTYPE_NAMES)).map(lambda p: p + ":"), st.text(max_size=5))
INPUTS = st.one_of(
    st.builds(
        lambda prefix, dims, sep: prefix + sep.join(dims),
        _prefix,
        st.lists(_dim_text, min_size=0, max_size=10),
        st.sampled_from([",", "x", "×", ", ", "X", ",,"]),
    ),
    st.text(max_size=40),
    st.text("0123456789,x:-long", max_size=60),
)

_keys = st.one_of(
    st.sampled_from(["num_classes", "in_channels", "dropout", "depth", "growth_rate", "bottleneck"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True),
    st.text(max_size=8),
)
_values = st.one_of(
    _numbers.map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "none", "nan", "inf", "-inf", "1e400", "(1,2)", "[", "{", "'x'", "()"]),
    st.integers(min_value=0, max_value=6000).map(lambda n: "-" * n + "3"),
    st.integers(min_value=0, max_value=400).map(lambda n: "(" * n + ")" * n),
    st.text(max_size=30),
)
ARGS = st.one_of(st.builds(lambda k, v: f"{k}={v}", _keys, _values), st.text(max_size=30))


def _usage_line(err: UsageError) -> None:
    text = str(err)
    assert "\n" not in text and 0 < len(text) <= 400, text


@FAST
@given(st.lists(INPUTS, min_size=BATCH, max_size=BATCH))
def test_fuzz_parse_input(texts: list[str]) -> None:
    for text in texts:
        try:
            spec = parse_input(text)
        except UsageError as err:
            _usage_line(err)
            continue
        assert spec.shape and all(d >= 1 for d in spec.shape) and len(spec.shape) <= 8
        assert math.prod(spec.shape) >= 1 and spec.nbytes <= MAX_BYTES  # a tensor torch can address


@FAST
@given(st.lists(ARGS, min_size=BATCH, max_size=BATCH))
def test_fuzz_parse_and_check_args(items: list[str]) -> None:
    entry = get_entry(MODEL)
    for item in items:
        try:
            kwargs = parse_kwargs([item])
            entry.check_args({k: v for k, v in kwargs.items() if k in entry.accepted_kwargs()})
        except UsageError as err:
            _usage_line(err)


def _check_run(result: Any) -> None:
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr, result.exception)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code != 0:
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert len(lines[0]) <= 500, lines[0]


def _run_input(text: str) -> None:
    result = CliRunner().invoke(app, ["shapes", MODEL, "--device", "meta", "--format", "json", "--input", text])
    _check_run(result)


def _run_arg(item: str) -> None:
    result = CliRunner().invoke(app, ["shapes", MODEL, "--device", "meta", "--format", "json", "--arg", item])
    _check_run(result)


@CLI_FAST
@given(INPUTS)
def test_fuzz_cli_input(text: str) -> None:
    _run_input(text)


@CLI_FAST
@given(ARGS)
def test_fuzz_cli_arg(item: str) -> None:
    _run_arg(item)


@pytest.mark.slow
@CLI_SLOW
@given(INPUTS)
def test_fuzz_cli_input_2000(text: str) -> None:
    _run_input(text)


@pytest.mark.slow
@CLI_SLOW
@given(ARGS)
def test_fuzz_cli_arg_2000(item: str) -> None:
    _run_arg(item)
