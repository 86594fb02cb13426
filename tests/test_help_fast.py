"""`archinspect --help` (and every command's --help) answers without importing torch."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

PROBE = """
import sys
from typer.testing import CliRunner
from archinspect.cli.app import app

args = sys.argv[1:]
result = CliRunner().invoke(app, args)
assert result.exit_code == 0, (result.exit_code, result.output)
assert "Usage:" in result.output, result.output
heavy = sorted(m for m in ("torch", "torchinfo", "fvcore", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def _heavy_modules_after(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_top_level_help_does_not_import_torch() -> None:
    assert _heavy_modules_after("--help") == "none"


@pytest.mark.parametrize("command", ["list", "shapes", "flops", "fit", "bench", "diff"])
def test_command_help_does_not_import_torch(command: str) -> None:
    from archinspect.cli.app import app

    names = {c.name for c in app.registered_commands}
    if command not in names:
        pytest.skip(f"`{command}` is not registered yet")
    assert _heavy_modules_after(command, "--help") == "none"


def test_help_is_quick() -> None:
    """The console script answers --help in well under a second (0.1 s on an idle machine; torch takes 2+)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "archinspect", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.perf_counter() - start
    assert done.returncode == 0 and "shapes" in done.stdout
    assert elapsed < 1.0, f"--help took {elapsed:.2f} s"
