"""`archinspect shapes` as a person runs it: the book's tables; every output format carries the same rows."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from d2l_reference import ALEXNET_TABLE, RESNET18_TABLE, VGG11_TABLE

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# docs/reference/d2l_tables.md as JSON gives it: shapes as lists.
D2L_ALEXNET, D2L_VGG11, D2L_RESNET18 = (
    [(kind, list(shape)) for kind, shape in table] for table in (ALEXNET_TABLE, VGG11_TABLE, RESNET18_TABLE)
)

DOCUMENT_KEYS = {"model", "inputs", "device", "mode", "depth", "batch_size", "convention", "notes"}
DOCUMENT_KEYS |= {"totals", "layers", "ops", "keyword_inputs", "uncounted_ops", "free_ops"}
TOTALS_KEYS = {"params", "trainable_params", "non_trainable_params", "macs", "flops", "other_ops"}
TOTALS_KEYS |= {"param_bytes", "buffer_bytes", "input_bytes", "activation_bytes"}
LAYER_KEYS = {"index", "name", "type", "depth", "parent", "input_shapes", "output_shapes", "params"}
LAYER_KEYS |= {
    "trainable_params",
    "macs",
    "flops",
    "other_ops",
    "output_bytes",
    "call",
    "ran",
    "children",
    "folded",
    "rf",
}


def _ok(result: Any) -> str:
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def _top_level(doc: dict[str, Any]) -> list[tuple[str, list[int]]]:
    return [(layer["type"], layer["output_shapes"][0]) for layer in doc["layers"] if layer["depth"] == 1]


@pytest.mark.parametrize("symbol", ["net", "alexnet"])
def test_d2l_alexnet_user_file_gives_the_books_table(cli: Callable[..., Any], symbol: str) -> None:
    ref = f"{EXAMPLES / 'd2l_alexnet.py'}:{symbol}"
    doc = json.loads(_ok(cli("shapes", ref, "--input", "1,1,224,224", "--depth", "1", "--format", "json")))
    assert _top_level(doc) == D2L_ALEXNET
    assert doc["model"] == f"d2l_alexnet.py:{symbol}" and doc["depth"] == 1
    assert (doc["totals"]["params"], doc["totals"]["macs"]) == (46_764_746, 938_146_176)


@pytest.mark.parametrize(
    ("name", "table"),
    [("d2l-alexnet", D2L_ALEXNET), ("d2l-vgg11", D2L_VGG11), ("d2l-resnet18", D2L_RESNET18)],
)
def test_d2l_zoo_entries_give_the_books_tables(cli: Callable[..., Any], name: str, table: list) -> None:
    doc = json.loads(_ok(cli("shapes", name, "--depth", "1", "--format", "json")))
    assert doc["inputs"] == [{"shape": [1, 1, 224, 224], "dtype": "float32"}]
    assert _top_level(doc) == table


def _footer_numbers(text: str) -> dict[str, int]:
    params = re.search(r"^Params: ([\d,]+) \(trainable ([\d,]+), non-trainable ([\d,]+)\)$", text, re.M)
    macs = re.search(r"^MACs: [\d.]+ [KMGT]? ?\(([\d,]+)\) · FLOPs", text, re.M)
    assert params and macs, text
    values = [int(g.replace(",", "")) for g in (*params.groups(), macs.group(1))]
    return dict(zip(("params", "trainable_params", "non_trainable_params", "macs"), values, strict=True))


def test_json_round_trips_and_its_totals_are_the_tables(cli: Callable[..., Any]) -> None:
    table = _ok(cli("shapes", "resnet18", "--depth", "2"))
    doc = json.loads(_ok(cli("shapes", "resnet18", "--depth", "2", "--format", "json")))
    assert set(doc) == DOCUMENT_KEYS and set(doc["totals"]) == TOTALS_KEYS
    assert all(set(layer) == LAYER_KEYS for layer in doc["layers"])
    footer = _footer_numbers(table)
    assert footer == {k: doc["totals"][k] for k in footer}
    assert footer == {
        "params": 11_689_512,
        "trainable_params": 11_689_512,
        "non_trainable_params": 0,
        "macs": 1_814_073_344,
    }
    assert doc["totals"]["flops"] == 2 * doc["totals"]["macs"]
    assert sum(layer["params"] for layer in doc["layers"]) == doc["totals"]["params"]
    assert sum(layer["macs"] for layer in doc["layers"]) == doc["totals"]["macs"]
    assert sum(op["macs"] for op in doc["ops"]) == doc["totals"]["macs"]
    body = [line for line in table.splitlines() if line.startswith("│")]
    assert len(body) == len(doc["layers"]) == 1 + 10 + 8  # model, its 10 children, 8 BasicBlocks
    assert "Device: meta (nothing allocated) · mode eval · depth 2" in table
    assert "FLOPs = 2 × MACs" in table


def test_csv_and_markdown_carry_the_same_rows(cli: Callable[..., Any]) -> None:
    args = ("shapes", "densenet-bc", "--input", "2,3,32,32", "--depth", "3")
    doc = json.loads(_ok(cli(*args, "--format", "json")))
    rows = list(csv.DictReader(io.StringIO(_ok(cli(*args, "--format", "csv")))))
    layers = doc["layers"]
    assert len(rows) == len(layers) > 100
    for row, layer in zip(rows, layers, strict=True):
        assert (row["name"], row["type"], int(row["depth"])) == (layer["name"], layer["type"], layer["depth"])
        own = (int(row["params_own"]), int(row["macs_own"]), int(row["other_ops"]), int(row["output_bytes"]))
        assert own == (layer["params"], layer["macs"], layer["other_ops"], layer["output_bytes"])
        assert row["output_shape"] == ", ".join("×".join(map(str, s)) for s in layer["output_shapes"])
    markdown = _ok(cli(*args, "--format", "markdown"))
    lines = markdown.splitlines()
    assert lines[0] == "**densenet-bc-100 · input 2,3,32,32**"
    header = lines.index("| Layer | Type | Input shape | Output shape | Params | MACs | Share | Output size |")
    md_rows = [line for line in lines[header + 2 :] if line.startswith("| ")]
    assert [r.split(" | ")[1] for r in md_rows] == [layer["type"] for layer in layers]
    assert _footer_numbers(markdown.replace("  \n", "\n"))["params"] == doc["totals"]["params"] == 769_162


def test_design_card_example_and_footer(cli: Callable[..., Any]) -> None:
    out = _ok(cli("shapes", "densenet-bc", "--input", "1,3,32,32"))
    assert "densenet-bc-100 · input 1,3,32,32" in out
    assert "Params: 769,162 (trainable 769,162, non-trainable 0)" in out
    assert "MACs: 287.930 M (287,929,692) · FLOPs: 575.859 M" in out


def test_output_save_device_mode_and_dtype(cli: Callable[..., Any], tmp_path: Path) -> None:
    target, picture = tmp_path / "r.json", tmp_path / "r.svg"
    result = cli(
        "shapes",
        "d2l-lenet-bn",
        "-f",
        "json",
        "-o",
        str(target),
        "--save",
        str(picture),
        "--mode",
        "train",
        "-i",
        "2,1,28,28",
    )
    assert _ok(result) == ""
    assert result.stderr == f"wrote {target}\nsaved {picture}\n"
    doc = json.loads(target.read_text())
    assert doc["mode"] == "train" and doc["device"] == "meta"
    assert picture.read_text().startswith("<svg")
    out = _ok(cli("shapes", "d2l-lenet-bn", "--device", "cpu", "--dtype", "float16", "--depth", "0"))
    assert "Device: cpu · mode eval · depth 0" in out
    half = json.loads(_ok(cli("shapes", "d2l-lenet-bn", "--dtype", "float16", "-f", "json", "-i", "2,1,28,28")))
    assert half["totals"]["param_bytes"] * 2 == doc["totals"]["param_bytes"]


def test_meta_fallback_is_one_note_on_stderr(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(
        """
        from torch import nn

        class Needs(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return self.fc(x) * float(x.abs().sum().item() >= 0)
        """
    )
    result = cli("shapes", f"{path}:Needs", "--input", "2,4", "-f", "json")
    doc = json.loads(_ok(result))
    assert doc["device"] == "cpu" and doc["totals"]["macs"] == 32
    assert result.stderr == (
        "note: an operator has no meta kernel (Tensor.item() cannot be called on meta tensors); ran on the model "
        "rebuilt on CPU instead\n"
    )


def test_several_inputs_and_integer_inputs(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(
        """
        from torch import nn

        class Two(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(100, 8)
                self.fc = nn.Linear(8, 3)

            def forward(self, ids, extra):
                return self.fc(self.emb(ids).mean(1) + extra)
        """
    )
    doc = json.loads(_ok(cli("shapes", f"{path}:Two", "-i", "long:2,7", "-i", "2,8", "-f", "json")))
    assert doc["inputs"] == [{"shape": [2, 7], "dtype": "int64"}, {"shape": [2, 8], "dtype": "float32"}]
    assert [(layer["name"], layer["output_shapes"]) for layer in doc["layers"]] == [
        ("", [[2, 3]]),
        ("emb", [[2, 7, 8]]),
        ("fc", [[2, 3]]),
    ]
    assert doc["totals"]["macs"] == 2 * 8 * 3
