"""`archinspect list`: the zoo's rows, filters, formats and errors, as a person sees them."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from archinspect.cli.app import app

runner = CliRunner()


@pytest.mark.slow
def test_list_json_counts_every_model_on_meta() -> None:
    result = runner.invoke(app, ["list", "--format", "json"])
    assert result.exit_code == 0, result.output
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert len(models) == 46
    assert all(m["matches_reference"] for m in models.values())
    bc = models["densenet-bc-100"]
    assert (bc["params"], bc["macs"], bc["default_input"], bc["aliases"]) == (
        769_162,
        287_929_692,
        [1, 3, 32, 32],
        ["densenet-bc"],
    )
    assert models["resnet50"]["gmacs"] == 4.089


def test_list_pattern_family_and_csv() -> None:
    result = runner.invoke(app, ["list", "vgg1?-bn", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["name"] for r in rows] == ["vgg11-bn", "vgg13-bn", "vgg16-bn", "vgg19-bn"]
    assert rows[2]["params"] == "138365992" and rows[2]["macs"] == "15470264320"
    d2l = runner.invoke(app, ["list", "--family", "d2l", "--no-figures", "--format", "csv"])
    assert d2l.exit_code == 0
    assert len(list(csv.DictReader(io.StringIO(d2l.stdout)))) == 7


def test_list_table_names_the_alias_and_the_convention() -> None:
    result = runner.invoke(app, ["list", "densenet-bc*"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "densenet-bc-100" in result.stdout and "densenet-bc " in result.stdout
    assert "769,162" in result.stdout and "287.930 M" in result.stdout
    assert "FLOPs = 2 × MACs" in result.stdout


def test_list_with_no_match_is_a_usage_error() -> None:
    result = runner.invoke(app, ["list", "nosuchnet*"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no zoo model matches 'nosuchnet*'"
    assert "Traceback" not in result.output
