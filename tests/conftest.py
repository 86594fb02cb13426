"""Shared fixtures: running the CLI in-process and writing throwaway user model files."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli() -> Callable[..., object]:
    """``cli("shapes", "resnet18", "--depth", "1")`` runs the app in-process; stdout and stderr apart."""
    from archinspect.cli.app import app

    runner = CliRunner()

    def run(*args: str) -> object:
        return runner.invoke(app, list(args), catch_exceptions=True)

    return run


@pytest.fixture
def user_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """``user_file(source, "net.py")`` writes a dedented Python file under tmp_path and returns its path."""

    def write(source: str, name: str = "net.py") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
        return path

    return write


# The zoo's heaviest entries (thousands of layers or 10+ GMACs): their cases of the zoo-wide tests take
# seconds each on 2 cores, so they run in the slow step (`python -m pytest -m slow`), not by default.
HEAVY_ZOO = frozenset(
    {"resnet1202", "densenet-bc-250", "densenet-bc-190", "inception-resnet-v2", "inception-v4", "densenet201",
     "densenet161", "densenet169", "resnet152"}
)  # fmt: skip


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every case parametrised with ``name`` = a heavy zoo model."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("name") in HEAVY_ZOO:
            item.add_marker(pytest.mark.slow)
