"""`archinspect --help` (and every command's --help) answers without importing torch; start-up runs without GC."""

from __future__ import annotations

import subprocess
import sys

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


@pytest.mark.parametrize("command", ["list", "shapes", "flops", "fit", "bench", "profile", "diff", "graph"])
def test_command_help_does_not_import_torch(command: str) -> None:
    from archinspect.cli.app import app

    names = {c.name for c in app.registered_commands}
    if command not in names:
        pytest.skip(f"`{command}` is not registered yet")
    assert _heavy_modules_after(command, "--help") == "none"


GC_PROBE = """
import gc
import sys
from archinspect.cli.app import main

sys.argv = ["archinspect", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("torch" in sys.modules, gc.isenabled(), gc.get_freeze_count(), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["shapes", "resnet20", "--format", "json"], ["list", "--count", "resnet20"]])
def test_start_up_runs_without_gc_then_collection_is_back_on(args: list[str]) -> None:
    """The console script pauses cyclic GC while torch and the library import (each full collection walks
    torch's 170,000 tracked objects), then freezes what start-up made and turns GC back on for the command."""
    done = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    torch_loaded, enabled, frozen = done.stderr.split()[-3:]
    assert torch_loaded == "True" and enabled == "True"
    assert int(frozen) > 100_000, frozen  # torch imported before the freeze: its objects are never walked again


def test_the_library_leaves_gc_alone() -> None:
    import gc

    from archinspect.cli.common import settle_heap

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    settle_heap()  # not paused by the console script: nothing to do
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_list_turns_collection_back_on_without_importing_torch() -> None:
    done = subprocess.run([sys.executable, "-c", GC_PROBE, "list"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    torch_loaded, enabled, _ = done.stderr.split()[-3:]
    assert (torch_loaded, enabled) == ("False", "True")
