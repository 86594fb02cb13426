"""Parsing what the user types: --input shapes with dtype prefixes, --arg key=value constructor arguments."""

from __future__ import annotations

import pytest

from archinspect.core.inputs import INPUT_FORMS, MAX_DIMS, InputSpec, parse_input, parse_inputs, parse_kwargs
from archinspect.errors import UsageError


@pytest.mark.parametrize(
    ("text", "shape", "dtype"),
    [
        ("1,3,32,32", (1, 3, 32, 32), "float32"),
        ("1x3x32x32", (1, 3, 32, 32), "float32"),
        (" 1X3×224 , 224 ", (1, 3, 224, 224), "float32"),
        ("long:1,128", (1, 128), "int64"),
        ("fp16:2,3,8,8", (2, 3, 8, 8), "float16"),
        ("BF16:1,3", (1, 3), "bfloat16"),
        ("7", (7,), "float32"),
        (",".join(["1"] * MAX_DIMS), (1,) * MAX_DIMS, "float32"),
    ],
)
def test_accepted_forms(text: str, shape: tuple[int, ...], dtype: str) -> None:
    assert parse_input(text) == InputSpec(shape, dtype)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", f"--input 'abc': 'abc' is not a whole number; expected {INPUT_FORMS}"),
        ("1,3,0,32", f"--input '1,3,0,32': size 0 must be positive; expected {INPUT_FORMS}"),
        ("-1,3", f"--input '-1,3': size -1 must be positive; expected {INPUT_FORMS}"),
        ("1,,3", f"--input '1,,3' has an empty size; expected {INPUT_FORMS}"),
        ("", f"--input '' is empty; expected {INPUT_FORMS}"),
        ("long:", f"--input 'long:' is empty; expected {INPUT_FORMS}"),
        ("1.5,3", f"--input '1.5,3': '1.5' is not a whole number; expected {INPUT_FORMS}"),
        ("1,1,1,1,1,1,1,1,1", "--input '1,1,1,1,1,1,1,1,1' has 9 dimensions; at most 8 are accepted"),
    ],
)
def test_rejected_forms_name_the_value_and_what_is_accepted(text: str, message: str) -> None:
    """The library names the argument (``inputs=...``); the command line says its flag instead."""
    from archinspect.cli.common import cli_message

    with pytest.raises(UsageError) as info:
        parse_input(text)
    assert cli_message(info.value) == message
    assert str(info.value) == message.replace("--input ", "inputs=", 1) and info.value.param == "inputs"
    assert info.value.exit_code == 2


def test_unknown_dtype_prefix_lists_the_accepted_ones() -> None:
    with pytest.raises(UsageError, match=r"^inputs='foo:1,2': unknown dtype prefix 'foo'; accepted: bf16, "):
        parse_input("foo:1,2")


def test_str_round_trips_and_batch_and_dtype_changes() -> None:
    for text in ("1,3,32,32", "int64:1,128"):
        assert str(parse_input(text)) == text
        assert parse_input(str(parse_input(text))) == parse_input(text)
    spec = parse_input("long:1,128")
    assert spec.with_batch(8) == InputSpec((8, 128), "int64")
    assert spec.with_dtype("float16") == spec  # token ids stay integers
    assert parse_input("1,3").with_dtype("bfloat16") == InputSpec((1, 3), "bfloat16")
    assert parse_inputs(None) is None and parse_inputs([]) is None
    assert parse_inputs(["1,3", "long:1,4"]) == [InputSpec((1, 3)), InputSpec((1, 4), "int64")]


def test_make_gives_the_shape_dtype_and_device() -> None:
    import torch

    meta = InputSpec((2, 3, 4, 4), "float16").make("meta")
    assert (meta.shape, meta.dtype, meta.device.type) == ((2, 3, 4, 4), torch.float16, "meta")
    ids = InputSpec((1, 16), "int64").make("cpu")
    assert ids.dtype == torch.int64 and int(ids.min()) >= 0 and int(ids.max()) <= 1
    noise = InputSpec((1, 1000)).make("cpu")
    assert float(noise.std()) > 0.5  # random normal values, never zeros


def test_kwargs_values_are_typed() -> None:
    assert parse_kwargs(["depth=40", "bottleneck=true", "blocks=(6,12)", "name=abc", "x=None", "r=0.5"]) == {
        "depth": 40,
        "bottleneck": True,
        "blocks": (6, 12),
        "name": "abc",
        "x": None,
        "r": 0.5,
    }
    assert parse_kwargs("blocks=(6,12),k=3,off=no") == {"blocks": (6, 12), "k": 3, "off": False}
    assert parse_kwargs(None) == {} and parse_kwargs([]) == {}


@pytest.mark.parametrize("item", ["depth", "=3", "2x=3"])
def test_kwargs_reject_what_is_not_key_value(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_kwargs([item])
    assert str(info.value) == f"args={item!r} is not key=value (e.g. depth=40, bottleneck=true)"
    from archinspect.cli.common import cli_message

    # the constructor argument's own depth=40 stays as written; only args= becomes --arg
    assert cli_message(info.value) == f"--arg {item!r} is not key=value (e.g. depth=40, bottleneck=true)"
