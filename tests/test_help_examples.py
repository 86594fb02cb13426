"""Every Examples line of every command's ``--help`` runs and exits 0 (from the repository root, where
``examples/`` is). Lines that need a GPU (``--device cuda``, ``--cuda-graph``) run only where CUDA is.
``fit`` on a model with a wrong layer exits 1 by contract (docs/fit.md: like a linter, 1 when a mismatch is
found): its examples of wrong models must exit 1 with the mismatch reported, and no other error."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from test_newcomer import ROOT, _run
from typer.testing import CliRunner

from archinspect.cli.app import COMMANDS, app

NEEDS_CUDA = ("--device cuda", "--cuda-graph", "bench --device cuda")


def _examples() -> list[str]:
    runner = CliRunner()
    found = []
    for command in COMMANDS:
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        block = text.split("Examples:", 1)[1] if "Examples:" in text else ""
        joined = block.replace(" \\\n", " ")  # a long example continues on the next line, shell style
        found += [" ".join(line.split()) for line in joined.splitlines() if line.strip().startswith("archinspect ")]
    return found


EXAMPLES = _examples()


def test_every_command_has_examples() -> None:
    commands = {line.split()[1] for line in EXAMPLES}
    assert commands == set(COMMANDS)
    assert "archinspect diff examples/factorized_conv.py:Conv5x5 examples/factorized_conv.py:TwoConv3x3 " in (
        " ".join(EXAMPLES)
    )


def test_help_never_breaks_a_word_at_80_columns() -> None:
    """Every --help line fits 80 columns (long examples continue with a shell ``\\``)."""
    runner = CliRunner()
    for command in COMMANDS:
        text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"}).stdout
        assert max(len(line) for line in text.splitlines()) <= 80, command


@pytest.mark.slow
@pytest.mark.parametrize("line", EXAMPLES)
def test_help_example_runs(line: str, tmp_path: Path) -> None:
    """Run where ``examples/`` resolves but the files an example writes (``--output x.svg``) land in a
    temporary folder, never in the checkout."""
    if any(flag in line for flag in NEEDS_CUDA):
        import torch

        if not torch.cuda.is_available():
            pytest.skip("needs CUDA")
    args = shlex.split(line)[1:]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    done = _run(*args, timeout=600, cwd=tmp_path)
    if args[0] == "fit" and done.returncode == 1:  # the example shows a mismatch found, as documented
        assert ("✗" in done.stdout or '"consistent": false' in done.stdout) and not done.stderr.startswith("error"), (
            f"{line}\n{done.stderr[-2000:]}"
        )
    else:
        assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
