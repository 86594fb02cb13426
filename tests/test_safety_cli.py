"""Issue 23, in-process: the user's files are never overwritten, every numeric option has a bound, the memory
guard sees every build and peer run, and hostile paths, names and values get one line (docs/safety.md)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.cli.app import app
from archinspect.core.limits import OPTION_BOUNDS, cpu_limit
from archinspect.errors import one_line

SMALL = """
    import os
    from pathlib import Path

    from torch import nn

    if os.environ.get("ARCHINSPECT_TEST_MARK"):
        Path(os.environ["ARCHINSPECT_TEST_MARK"]).write_text("loaded")

    class Small(nn.Module):
        def __init__(self, c: int = 4):
            super().__init__()
            self.conv = nn.Conv2d(3, c, 3)

        def forward(self, x):
            return self.conv(x)
"""


def _error(result: Any, code: int) -> str:
    """The one stderr line of a refused run: the exit code, nothing on stdout, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0].removeprefix("error: ")


# --- data loss: no output path is a file the command reads ---------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["shapes", "{m}:Small", "--input", "1,3,8,8"],
        ["shapes", "{m}:Small", "--input", "1,3,8,8", "--format", "json"],
        ["flops", "{m}:Small", "--input", "1,3,8,8"],
        ["memory", "{m}:Small", "--input", "1,3,8,8"],
        ["fit", "{m}:Small", "--input", "1,3,8,8"],
        ["diff", "{m}:Small", "{other}:Small", "--input", "1,3,8,8"],
        ["diff", "{other}:Small", "{m}:Small", "--input", "1,3,8,8"],
        ["bench", "{m}:Small", "--input", "1,3,8,8", "--device", "cpu"],
    ],
)
def test_output_over_the_model_file_is_refused_before_any_work(
    cli: Callable[..., Any], user_file: Callable[..., Path], tmp_path: Path, monkeypatch: Any, command: list[str]
) -> None:
    victim, other = user_file(SMALL, "victim.py"), user_file(SMALL, "other.py")
    source = victim.read_text()
    mark = tmp_path / "loaded"
    monkeypatch.setenv("ARCHINSPECT_TEST_MARK", str(mark))
    args = [a.format(m=victim, other=other) for a in command]
    message = _error(cli(*args, "--output", str(victim)), 2)
    assert message == (
        f"--output '{victim}' is the model file '{victim}' this command reads; write the output to another file"
    )
    assert victim.read_text() == source
    assert not mark.exists()  # refused before the file was even loaded


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_through_a_link_to_the_model_file_is_refused(
    cli: Callable[..., Any], user_file: Callable[..., Path], tmp_path: Path, link: str
) -> None:
    victim = user_file(SMALL, "victim.py")
    source = victim.read_text()
    alias = tmp_path / "report.md"
    (alias.symlink_to if link == "symlink" else alias.hardlink_to)(victim)
    message = _error(cli("shapes", f"{victim}:Small", "--input", "1,3,8,8", "-f", "markdown", "-o", str(alias)), 2)
    assert message.startswith(f"--output '{alias}' is the model file '{victim}' this command reads")
    assert victim.read_text() == source


def test_save_over_the_model_file_is_refused(
    cli: Callable[..., Any], user_file: Callable[..., Path], tmp_path: Path
) -> None:
    victim = user_file(SMALL, "victim.py")
    picture = tmp_path / "picture.svg"
    picture.symlink_to(victim)
    message = _error(cli("shapes", f"{victim}:Small", "--input", "1,3,8,8", "--save", str(picture)), 2)
    assert message.startswith(f"--save '{picture}' is the model file '{victim}'")


def test_save_with_a_type_it_cannot_draw_is_refused_before_the_pass(
    cli: Callable[..., Any], user_file: Callable[..., Path], tmp_path: Path, monkeypatch: Any
) -> None:
    victim = user_file(SMALL, "victim.py")
    mark = tmp_path / "loaded"
    monkeypatch.setenv("ARCHINSPECT_TEST_MARK", str(mark))
    message = _error(cli("shapes", f"{victim}:Small", "--input", "1,3,8,8", "--save", "x.png"), 2)
    assert message == "--save 'x.png': accepted file types are .svg and .html"
    assert not mark.exists()


def test_writes_that_fail_exit_non_zero(cli: Callable[..., Any], tmp_path: Path) -> None:
    full = _error(cli("shapes", "resnet20", "--depth", "0", "--output", "/dev/full"), 2)
    assert full == "--output '/dev/full': cannot write (No space left on device)"
    picture = tmp_path / "full.svg"
    picture.symlink_to("/dev/full")
    result = cli("shapes", "resnet20", "--depth", "0", "--save", str(picture))
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines()[-1] == f"error: --save '{picture}': cannot write (No space left on device)"


def test_an_output_file_is_written_whole_and_no_temporary_is_left(cli: Callable[..., Any], tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("old")
    os.chmod(out, 0o640)
    result = cli("shapes", "resnet20", "--depth", "0", "-f", "json", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text().startswith("{") and out.read_text().endswith("}\n")
    assert oct(out.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


# --- machine harm: every numeric option has a bound -------------------------------------------------------


def _numeric_options() -> list[tuple[str, str, str]]:
    """(command, parameter, 'int'|'float') for every numeric option of every command, from the commands'
    own type hints (``int``, ``float``, ``int | None`` under ``Annotated``)."""
    import typing

    found = []
    for info in app.registered_commands:
        hints = typing.get_type_hints(info.callback, include_extras=True)
        for name, hint in hints.items():
            base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
            kinds = set(typing.get_args(base)) or {base}
            for kind in (int, float):
                if kind in kinds and bool not in kinds:
                    found.append((info.name, name, kind.__name__))
    return found


def test_every_numeric_option_has_a_bound() -> None:
    options = _numeric_options()
    assert len(options) == 20  # profile: depth, batch, repeats, threads, max_time; graph: depth, repeats
    missing = sorted({name for _, name, _ in options} - set(OPTION_BOUNDS))
    assert missing == []


@pytest.mark.parametrize(("command", "name", "kind"), _numeric_options())
def test_numeric_options_past_their_bound_are_refused_before_work(
    cli: Callable[..., Any], command: str, name: str, kind: str
) -> None:
    bound = OPTION_BOUNDS[name]
    flag = "--" + name.replace("_", "-")
    model = [] if command in ("bench", "list") else ["d2l-lenet"]
    if command == "diff":
        model = ["d2l-lenet", "d2l-lenet"]
    too_big = int(bound.top()) + 1 if kind == "int" else "inf"
    message = _error(cli(command, *model, flag, str(too_big)), 2)
    assert message.startswith(f"{flag} {too_big}: accepted: a")
    if kind == "float":  # refused by the option's parser or by the bound
        assert _error(cli(command, *model, flag, "nan"), 2).startswith((f"{flag} nan: accepted", f"{flag} 'nan': "))


def test_threads_are_bounded_by_the_machine(cli: Callable[..., Any]) -> None:
    message = _error(cli("bench", "d2l-lenet", "--device", "cpu", "--threads", "100000"), 2)
    limit = cpu_limit()
    assert (
        message
        == f"--threads 100000: accepted: a whole number from 1 to {limit:,} threads (the machine's logical CPUs)"
    )
    assert _error(cli("bench", "--max-time", "inf"), 2) == "--max-time inf: accepted: a number from 0 to 3600 seconds"
    assert _error(cli("bench", "--warmup-time", "1e400"), 2) == (
        "--warmup-time inf: accepted: a number from 0 to 3600 seconds"
    )


# --- the memory guard sees every build and every real run --------------------------------------------------

WIDE = """
    from torch import nn

    class Wide(nn.Module):
        def __init__(self, c: int = 4):
            super().__init__()
            self.lin = nn.Linear(c, c)

        def forward(self, x):
            return self.lin(x)

    class Valued(Wide):
        '''Its builder computes with values: built on CPU even with --device auto.'''

        def __init__(self, c: int = 4):
            super().__init__(c)
            self.scale = float(self.lin.weight.sum().item()) * 0 + 1

    def factory(c: int = 4):
        return nn.Sequential(nn.Linear(c, c))
"""


@pytest.mark.parametrize(("symbol", "device"), [("Wide", "cpu"), ("Valued", "auto"), ("factory", "cpu")])
def test_a_user_build_too_big_for_memory_is_refused_before_it_allocates(
    cli: Callable[..., Any], user_file: Callable[..., Path], symbol: str, device: str
) -> None:
    path = user_file(WIDE, "wide.py")
    message = _error(cli("shapes", f"{path}:{symbol}", "--arg", "c=100000000", "--input", "1,4", "-d", device), 1)
    assert message.startswith(f"not enough memory on cpu: building wide.py:{symbol} allocates more than ")
    assert message.endswith(
        "free; use --device 'meta' (shapes and FLOPs need no memory), smaller constructor "
        "arguments, or --force to try anyway"
    )


def test_a_size_past_int64_is_one_line(cli: Callable[..., Any], user_file: Callable[..., Path]) -> None:
    path = user_file(WIDE, "wide.py")
    message = _error(cli("shapes", f"{path}:Wide", "--arg", "c=10000000000000000000", "--input", "1,4", "-d", "cpu"), 1)
    assert message.startswith("wide.py:Wide(...) raised ")
    assert "Exception raised from" not in message and "frame #" not in message


def test_flops_compare_with_a_huge_input_is_refused(cli: Callable[..., Any]) -> None:
    result = cli("flops", "resnet20", "--input", "1000,3,2048,2048", "--compare")
    assert result.exit_code == 1, result.stderr
    message = result.stderr.splitlines()[-1].removeprefix("error: ")
    assert message.startswith("not enough memory on cpu: comparing with the other tools (they run on CPU) needs about ")
    assert message.endswith("free; use a smaller input, or --force to try anyway")


def test_one_line_drops_cpp_frames() -> None:
    text = "\nboom: bad size\nException raised from check at aten/src/x.cpp:12\nframe #0: c10::Error"
    assert one_line(text) == "boom: bad size"


# --- plumbing: model files, names, devices, shapes ----------------------------------------------------------


def test_a_model_file_imports_its_sibling_module(
    cli: Callable[..., Any], user_file: Callable[..., Path], tmp_path: Path
) -> None:
    import sys

    user_file(
        "from torch import nn\n\nclass Block(nn.Linear):\n    def __init__(self):\n        super().__init__(4, 4)\n",
        "blocks_sibling.py",
    )
    path = user_file(
        """
        from torch import nn
        from blocks_sibling import Block

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.b = Block()

            def forward(self, x):
                return self.b(x)
        """,
        "uses_sibling.py",
    )
    before = list(sys.path)
    result = cli("shapes", f"{path}:Net", "--input", "1,4", "-f", "csv")
    assert result.exit_code == 0, result.stderr
    assert "b,Block,1,1×4,1×4,20,16," in result.stdout
    assert sys.path == before  # the file's folder is on sys.path only while it loads
    sys.modules.pop("blocks_sibling", None)


GETATTR = """
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.table = {}

        def __getattr__(self, name):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return self.__dict__["table"][name]  # KeyError for any other name

        def forward(self, x):
            return self.conv(x)
"""


@pytest.mark.parametrize("command", ["shapes", "flops", "fit"])
def test_a_getattr_raising_keyerror_does_not_break_the_pass(
    cli: Callable[..., Any], user_file: Callable[..., Path], command: str
) -> None:
    path = user_file(GETATTR, "getattr_net.py")
    result = cli(command, f"{path}:Net", "--input", "1,3,8,8")
    assert result.exit_code == 0, result.stderr


def test_hostile_model_references(cli: Callable[..., Any], tmp_path: Path) -> None:
    folder = tmp_path / "x.py"
    folder.mkdir()
    text_file = tmp_path / "model.txt"
    text_file.write_text("from torch import nn\nNet = nn.ReLU\n")
    cases = {
        f"{folder}:Net": f"model file '{folder}' is a directory; expected FILE.py:Symbol naming a Python file",
        "/dev/null:Net": "model file '/dev/null' is not a regular file (a device or pipe); expected FILE.py:Symbol",
        f"{text_file}:Net": f"model file '{text_file}' is not a .py file; expected FILE.py:Symbol naming a Python file",
        ":Net": "MODEL ':Net' names no file or module before ':'; expected FILE.py:Symbol or pkg.mod:Symbol",
    }
    for ref, expected in cases.items():
        assert _error(cli("shapes", ref, "--input", "1,4"), 2) == expected, ref
    long_path = str(tmp_path / ("a" * 6000)) + ".py:Net"
    message = _error(cli("shapes", long_path, "--input", "1,4"), 2)
    assert (
        message == f"MODEL {long_path[:80]!r}… is {len(long_path):,} characters long; at most 4,096 are read "
        "(the longest path Linux opens)"
    )
    too_long_part = str(tmp_path / ("b" * 300)) + ".py:Net"
    assert _error(cli("shapes", too_long_part, "--input", "1,4"), 2).endswith(
        "cannot be read (File name too long); expected FILE.py:Symbol"
    )
    name = "n" * 100_000
    message = _error(cli("shapes", name), 2)
    assert (
        message == f"MODEL {name[:80]!r}… is 100,000 characters long; at most 4,096 are read "
        "(the longest path Linux opens)"
    )
    assert len(message) < 200
    unknown = "z" * 3000
    assert _error(cli("shapes", unknown), 2).startswith(f"unknown model {unknown[:80]!r}…")


def test_empty_device_and_full_width_digits(cli: Callable[..., Any]) -> None:
    assert _error(cli("shapes", "resnet20", "--device", ""), 2) == (
        "--device '' is empty; accepted: auto, meta, cpu, cuda, cuda:N"
    )
    message = _error(cli("shapes", "resnet20", "--input", "1,3,３２,32"), 2)
    assert message.startswith("--input '1,3,３２,32': '３２' is not a whole number; expected comma- or x-separated")
