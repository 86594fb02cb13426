"""``archinspect list`` prints figures counted ahead: the catalog is checked against the registry and against a
real count of each model, and listing imports no torch.

``ARCHINSPECT_REGEN_CATALOG=1 python -m pytest tests/test_zoo_catalog.py -m slow`` rewrites
archinspect/models/catalog_data.py from a fresh count of every model (then `ruff format` it and review the diff).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.models.catalog import catalog, dataset_of, matches

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ("alexnet", "d2l-lenet-bn", "densenet-bc-100", "resnet20", "googlenet")


def _catalog_rows() -> dict[str, Any]:
    return {row.name: row for row in catalog()}


def test_catalog_holds_every_registry_entry_as_registered() -> None:
    from archinspect.models.zoo import all_entries

    rows = _catalog_rows()
    entries = all_entries()
    assert sorted(rows) == sorted(entries)
    for name, entry in entries.items():
        row = rows[name]
        assert (row.family, row.default_input, row.source, row.aliases) == (
            entry.family,
            entry.default_input,
            entry.source,
            entry.aliases,
        )
        assert row.dataset == dataset_of(entry.family)
        assert (row.reference_params, row.reference_gmacs) == (entry.params, entry.reference_gmacs)
        assert row.params == entry.params  # the zoo's own exactness promise, restated on the catalog


def test_catalog_figures_equal_a_real_count_sample() -> None:
    from archinspect.analyses.zoo_summary import zoo_summaries

    rows = _catalog_rows()
    for name in SAMPLE:
        (counted,) = [r for r in zoo_summaries(name) if r.name == name]
        assert (rows[name].params, rows[name].macs) == (counted.params, counted.macs), name


@pytest.mark.slow
def test_catalog_figures_equal_a_real_count_of_every_model() -> None:
    from archinspect.analyses.zoo_summary import catalog_source, zoo_summaries

    counted = zoo_summaries()
    if os.environ.get("ARCHINSPECT_REGEN_CATALOG") == "1":
        (ROOT / "archinspect/models/catalog_data.py").write_text(catalog_source(counted), encoding="utf-8")
    rows = _catalog_rows()
    assert {r.name: (r.params, r.macs) for r in counted} == {n: (r.params, r.macs) for n, r in rows.items()}


def test_pattern_rule() -> None:
    cifar = [r.name for r in catalog("*cifar*")]
    assert cifar == [
        "densenet-40",
        "densenet-100",
        "densenet-100-24",
        "densenet-bc-100",
        "densenet-bc-190",
        "densenet-bc-250",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
        "resnet1202",
    ]
    assert [r.name for r in catalog("mnist")] == [r.name for r in catalog(family="d2l")]
    assert [r.name for r in catalog("inception-v1")] == ["googlenet"]  # an alias
    assert matches("RESNEXT50_32x4d", "resnext50-32x4d", (), "ImageNet")
    assert not matches("resnet*", "resnext50-32x4d", (), "ImageNet")
    from archinspect.models.zoo import list_models

    assert list_models("*cifar*") == cifar  # one rule for the CLI and the API


def test_list_imports_no_torch_and_is_quick() -> None:
    code = (
        "import sys, runpy; sys.argv = ['archinspect', 'list', '--format', 'csv'];\n"
        "try:\n    runpy.run_module('archinspect', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1 + len(catalog())
    assert time.perf_counter() - t0 < 60  # a sanity bound only; benchmarks/bench_list.py measures it


def test_list_cifar_and_unknown_columns(cli: Callable[..., Any]) -> None:
    result = cli("list", "*cifar*", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 13
    bad = cli("list", "--columns", "layer,output-shape")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("error: --columns 'layer,output-shape': unknown column 'layer'; accepted: also,")


def test_list_count_counts_again(cli: Callable[..., Any]) -> None:
    result = cli("list", "resnet20", "--count", "--format", "json")
    assert result.exit_code == 0, result.stderr
    import json

    (row,) = json.loads(result.stdout)["models"]
    assert (row["name"], row["params"], row["macs"], row["matches_reference"]) == (
        "resnet20",
        269_722,
        40_551_040,
        True,
    )
