"""What a newcomer notices: the first command, the shape they type, footers, notes, widths."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.core.inputs import parse_input

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str, timeout: int = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``archinspect ARGS`` in a fresh process from ``cwd`` (default: the repository root), stdout and stderr
    captured."""
    return subprocess.run(
        [sys.executable, "-m", "archinspect", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_bare_command_prints_a_short_usage() -> None:
    done = _run()
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0] == "usage: archinspect COMMAND [ARGS]..."
    assert "  shapes   every layer's input and output shapes, params and MACs" in lines  # as wide as 'profile'
    assert "  profile  per-layer device time against the measured roofs" in lines
    assert lines[-1] == "archinspect COMMAND -h shows a command's options and examples."
    assert max(len(line) for line in lines) <= 80 and "error" not in done.stderr


@pytest.mark.parametrize(
    ("text", "shape"),
    [("(1,3,224,224)", (1, 3, 224, 224)), ("[1, 3, 8, 8]", (1, 3, 8, 8)), ("1 3 8 8", (1, 3, 8, 8))]
    + [(" 1, 3 ,8,8", (1, 3, 8, 8)), ("scalar", ()), ("()", ()), ("long:scalar", ())],
)
def test_input_forms(text: str, shape: tuple[int, ...]) -> None:
    assert parse_input(text).shape == shape


def test_input_hints(cli: Callable[..., Any]) -> None:
    result = cli("shapes", "resnet20", "--input", "224,224")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --input '224,224' has neither batch nor channel dimension: the first layer conv1 (Conv2d, "
        "in_channels=3) takes 4-d input, batch first; did you mean --input '1,3,224,224'?"
    )
    split = cli("shapes", "resnet20", "--input", "1", "3", "32", "32")
    assert split.exit_code == 2
    assert split.stderr.strip() == (
        "error: unexpected extra arguments 3 32 32: a shape is one word, sizes separated by commas "
        "(--input 1,3,224,224 or --input '1 3 224 224')"
    )


def test_a_scalar_input_from_the_command_line(cli: Callable[..., Any], user_file: Callable[[str, str], Path]) -> None:
    path = user_file(
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(1, 2)

            def forward(self, x):
                return self.fc(x.reshape(1))
        """
    )
    result = cli("shapes", f"{path}:Net", "--input", "scalar", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1] == ",Net,0,scalar,2,0,0,0,8"


def test_footer_is_one_short_line_with_units_spaced(cli: Callable[..., Any]) -> None:
    result = cli("shapes", "d2l-lenet-bn", "--input", "4,1,28,28")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "Convention: FLOPs = 2 × MACs (conv/linear/attention); other ops apart; see -h"
    assert sum("Convention" in line for line in lines) == 1
    assert "per sample 281.640 KMACs" in result.stdout


def test_per_sample_small_counts_have_a_space(cli: Callable[..., Any], user_file: Callable[[str, str], Path]) -> None:
    path = user_file("import torch.nn as nn\n\ndef net():\n    return nn.Linear(5, 11)\n")
    result = cli("shapes", f"{path}:net", "--input", "2,5")
    assert result.exit_code == 0, result.stderr
    assert "per sample 55 MACs" in result.stdout


RF_MODEL = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.roll(self.conv(x), 1, dims=3)
"""


def test_receptive_field_note_only_when_asked(cli: Callable[..., Any], user_file: Callable[[str, str], Path]) -> None:
    ref = f"{user_file(RF_MODEL)}:Net"
    plain = cli("shapes", ref, "--input", "1,3,8,8")
    flops = cli("flops", ref, "--input", "1,3,8,8")
    asked = cli("shapes", ref, "--input", "1,3,8,8", "--rf")
    as_json = cli("shapes", ref, "--input", "1,3,8,8", "--format", "json")
    for result in (plain, flops, asked, as_json):
        assert result.exit_code == 0, result.stderr
    note = "receptive fields are upper bounds after operators without an exact rule: roll"
    assert note not in plain.stdout + plain.stderr and note not in flops.stdout + flops.stderr
    assert (asked.stdout + asked.stderr).count(note) == 1  # once: in the footer, not again on stderr
    assert note in as_json.stdout


def _pty(columns: int) -> tuple[int, int]:
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    return leader, follower


def test_output_redirected_to_a_file_is_laid_out_at_120(tmp_path: Path) -> None:
    """From an 80-column terminal (stderr and stdin are the terminal), `> file` gets the piped width, 120."""
    leader, follower = _pty(80)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    try:
        with open(tmp_path / "out.txt", "w") as out:
            done = subprocess.run(
                [sys.executable, "-m", "archinspect", "shapes", "resnet18", "--depth", "1"],
                stdout=out,
                stderr=follower,
                stdin=follower,
                timeout=120,
                cwd=ROOT,
                env={**env, "PYTHONPATH": str(ROOT)},
            )
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    lines = (tmp_path / "out.txt").read_text(encoding="utf-8").splitlines()
    assert 80 < max(len(line) for line in lines) <= 120  # laid out for 120, not for the 80-column terminal
    assert "hidden at" not in "\n".join(lines)


PEER_FAILS = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return {"y": self.fc(x), "n": 3}
"""


def test_compare_shows_a_failed_peers_reason(cli: Callable[..., Any], user_file: Callable[[str, str], Path]) -> None:
    pytest.importorskip("fvcore")
    result = cli("flops", f"{user_file(PEER_FAILS)}:Net", "--input", "1,4", "--compare", "--wide")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ fvcore"))
    reason = row.split("│")[-2].strip()
    assert reason.startswith("failed: RuntimeError") or reason.startswith("see note"), row
    if reason.startswith("see note"):
        assert f"note {reason.split()[-1]}: fvcore: failed: RuntimeError" in result.stdout


def test_bench_busy_warning_said_once() -> None:
    """The busy-machine warning printed on stderr before timing is not repeated under the table on the same
    screen; written to a file (or as Markdown) the output keeps it."""
    from test_golden import bench_result

    from archinspect.render.bench import BenchView, table_data

    result = bench_result()
    busy = [line for line in table_data(result).footer if line.startswith("warning: machine busy")]
    assert len(busy) == 1
    assert not [line for line in table_data(result, busy_said=True).footer if line.startswith("warning: machine")]
    said = BenchView(result, busy_said=True).rich()
    assert "warning: machine busy" not in str(said[-1])
    assert "warning: machine busy" in BenchView(result).markdown()


def test_bench_keeps_throughput_columns_longest() -> None:
    from test_golden import bench_result

    from archinspect.render.bench import table_data

    data = table_data(bench_result())
    layout = data.layout(100)
    shown = [data.columns[i].header for i in layout.shown]
    assert "TFLOP/s" in shown and "% peak" in shown
    assert data.drop_order[-2:] == ("achieved_tflops", "peak_fraction")


@pytest.mark.parametrize(
    "args",
    [
        ["shapes", "resnet20", "--input", "1,3,999999999999,999999999999"],  # archinspect's own error line
        ["shapes", "resnet20", "--format", "yaml-but-a-much-longer-name-than-any-format-there-is"],  # Click's
    ],
)
def test_error_lines_wrap_between_words_at_80(args: list[str]) -> None:
    leader, follower = _pty(80)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "archinspect", *args],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            timeout=120,
            cwd=ROOT,
            env={**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "PYTHONPATH": str(ROOT)},
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert done.returncode == 2
    lines = b"".join(chunks).decode().replace("\r\n", "\n").strip().splitlines()
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    piped = _run(*args).stderr.strip()  # piped: one line, the same words
    assert len(piped.splitlines()) == 1 and " ".join(" ".join(lines).split()) == " ".join(piped.split())
