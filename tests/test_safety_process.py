"""Issue 23, as a person's shell sees it (subprocesses): Ctrl-C, closed pipes, closed stdout, an ASCII
terminal, a thread the model leaves running (docs/safety.md, "Signals, pipes and the process")."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FOREVER = """
import os
from pathlib import Path

import torch
from torch import nn


class Net(nn.Module):
    '''A forward that never returns: a Python loop of Linear calls.'''

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        Path(os.environ["MARK"]).write_text("running")
        while True:
            x = self.lin(x)


class Kernel(Net):
    '''A forward that never returns, in long C++ kernels (Python's own handler cannot run meanwhile).'''

    def forward(self, x):
        a = torch.ones(1500, 1500, device=x.device)
        Path(os.environ["MARK"]).write_text("running")
        while True:
            a = a @ a


class Lingering(Net):
    '''Leaves a non-daemon thread running after its forward.'''

    def forward(self, x):
        import threading
        import time

        threading.Thread(target=lambda: time.sleep(3600), name="lingerer").start()
        return self.lin(x)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONIOENCODING"}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "120", **extra}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "archinspect", *args]


@pytest.fixture
def forever(tmp_path: Path) -> Path:
    path = tmp_path / "forever.py"
    path.write_text(FOREVER)
    return path


@pytest.mark.parametrize(
    ("symbol", "device", "output"),
    [
        ("Net", "meta", False),
        ("Net", "meta", True),
        ("Net", "cpu", False),
        ("Net", "cpu", True),
        ("Kernel", "cpu", True),
    ],
)
def test_one_ctrl_c_stops_a_forward_that_never_returns(
    forever: Path, tmp_path: Path, symbol: str, device: str, output: bool
) -> None:
    mark, out = tmp_path / "mark", tmp_path / "out.txt"
    args = ["shapes", f"{forever}:{symbol}", "--input", "1,4", "--device", device]
    if output:
        args += ["--output", str(out)]
    proc = subprocess.Popen(_cli(*args), env=_env(MARK=str(mark)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), proc.communicate(timeout=5)
        time.sleep(0.3)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=15)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert took < 5, took  # 1.5 s grace at most, plus the exit, on a loaded machine
    assert b"Traceback" not in stderr
    assert stdout == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forever.py", "mark"]  # no output, no temporary


def test_a_closed_pipe_exits_141_in_silence() -> None:
    # the reader is gone before anything is written: `archinspect shapes resnet20 | true`
    read, write = os.pipe()
    os.close(read)
    done = subprocess.run(
        _cli("shapes", "resnet20", "--depth", "0"),
        env=_env(),
        stdout=write,
        capture_output=False,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    os.close(write)
    assert done.returncode == 141
    assert done.stderr == b""


def _shell(line: str) -> subprocess.CompletedProcess[str]:
    """``line`` run by bash, ``archinspect`` standing for this interpreter's ``python -m archinspect``."""
    command = line.replace("archinspect", f"{sys.executable} -m archinspect", 1)
    return subprocess.run(["bash", "-c", command], env=_env(), capture_output=True, text=True, timeout=120)


def test_list_into_head_prints_one_line_and_no_error() -> None:
    done = _shell("archinspect list --no-figures | head -1")
    assert done.stdout.strip().startswith("archinspect zoo")
    assert done.stderr == ""


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_closed_stdout_is_one_line_and_exit_1(fmt: str) -> None:
    done = _shell(f"archinspect shapes resnet20 --depth 0 -f {fmt} >&-")
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output: stdout is closed; give --output FILE\n"


def test_a_full_stdout_is_one_line_and_exit_1() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            _cli("shapes", "resnet20", "--depth", "0"),
            env=_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output to stdout (No space left on device); give --output FILE\n"


def test_an_ascii_stream_gets_an_ascii_table() -> None:
    done = subprocess.run(
        _cli("shapes", "resnet20", "--depth", "0"), env=_env(PYTHONIOENCODING="ascii"), capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode("ascii")  # every byte is ASCII
    assert "| CifarResNet | CifarResNet | 1x3x32x32   | 1x10 " in text
    assert "FLOPs = 2 x MACs" in text


def test_a_thread_left_running_does_not_hold_the_exit(forever: Path) -> None:
    start = time.monotonic()
    done = subprocess.run(
        _cli("shapes", f"{forever}:Lingering", "--input", "1,4", "-f", "csv", "-d", "cpu"),
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - start < 100
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("name,type,")
    # one thread per forward call (the memory guard's meta pass, then the CPU pass)
    assert re.fullmatch(
        r"note: the model's code left \d thread\(s\) running \(lingerer\); exiting without waiting",
        done.stderr.splitlines()[-1],
    )
