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

