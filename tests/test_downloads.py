"""Nothing is downloaded while a model is built: every route stopped, on the building thread only, nothing patched.

The guard is an audit hook (:mod:`archinspect.models.downloads`): a download function imported by name, a raw
socket, urllib, torch.hub and a ``curl`` subprocess are all refused with one line; another thread's ``urlopen``
and sockets go through, and afterwards every function is the very object it was.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.hub
from torch import nn

from archinspect.models import downloads
from archinspect.models.downloads import DownloadBlocked, no_downloads, weights_hint
from archinspect.models.loading import load_model

BY_NAME = """
    import socket
    from urllib.request import urlopen
    from torch import nn



    class Net(nn.Module):
        def __init__(self, encoder_weights="imagenet"):
            super().__init__()
            self.fc = nn.Linear(4, 2)
            if encoder_weights == "imagenet":  # a library's retry loop: `except Exception` must not hide the refusal
                for _ in range(20):
                    try:
                        open(__file__ + ".attempts", "a").write("x")
                        urlopen("http://example.invalid/resnet.pth", timeout=30)
                    except Exception:
                        continue
            elif encoder_weights == "raw":
                socket.create_connection(("example.invalid", 443), timeout=30)

        def forward(self, x):
            return self.fc(x)
"""


def _one_line(result: Any, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_download_function_imported_by_name_stops_the_build_with_one_line(
    cli: Callable[..., Any], user_file: Callable[..., Path]
) -> None:
    path = user_file(BY_NAME, "bynames.py")
    line = _one_line(cli("shapes", f"{path}:Net", "--input", "1,4"), 1)
    assert line == (
        f"error: bynames.py:Net: {path}:15 tried to download http://example.invalid/resnet.pth while building; "
        "archinspect never downloads: pass --arg encoder_weights=None; "
        "its default encoder_weights='imagenet' asks for weights"
    )
    assert Path(f"{path}.attempts").read_text() == "x"  # refused once: the loop's `except Exception` did not retry
    line = _one_line(cli("shapes", f"{path}:Net", "--input", "1,4", "--arg", "encoder_weights=raw"), 1)
    assert line == (
        f"error: bynames.py:Net: {path}:19 tried to connect to example.invalid:443 while building; "
        "archinspect never downloads: pass --arg encoder_weights=None; "
        "encoder_weights='raw' was given"
    )
    result = cli("shapes", f"{path}:Net", "--input", "1,4", "--arg", "encoder_weights=None")
    assert result.exit_code == 0 and "Linear" in result.stdout


def test_the_api_raises_download_blocked(user_file: Callable[..., Path]) -> None:
    path = user_file(BY_NAME, "api_dl.py")
    with pytest.raises(DownloadBlocked, match=r"^api_dl.py:Net: .*api_dl.py:15 tried to download http://ex") as err:
        load_model(f"{path}:Net", device="meta")
    assert str(err.value).endswith(  # the API's words: the argument to pass, not the command line's --arg
        "archinspect never downloads: pass encoder_weights=None; its default encoder_weights='imagenet' asks for "
        "weights"
    )


def test_torch_hub_is_refused_before_it_prints_or_makes_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    with pytest.raises(DownloadBlocked) as err, no_downloads("hubnet"):
        torch.hub.load_state_dict_from_url("https://download.example.org/w.pth")
    line = _line_of("torch.hub.load_state_dict_from_url(" + '"https')
    assert str(err.value) == (
        f"hubnet: {__file__}:{line} tried to download "
        "https://download.example.org/w.pth while building; archinspect never downloads: "
        "build it without pretrained weights, or load the weights yourself"
    )
    assert capsys.readouterr() == ("", "")  # torch's "Downloading: ..." never printed
    assert not (tmp_path / "home").exists()
    # weights already in the cache are read from disk, not downloaded: allowed
    cached = tmp_path / "home" / "hub" / "checkpoints"
    cached.mkdir(parents=True)
    torch.save(nn.Linear(2, 2).state_dict(), cached / "w.pth")
    with no_downloads("hubnet"):
        state = torch.hub.load_state_dict_from_url("https://download.example.org/w.pth")
    assert sorted(state) == ["bias", "weight"]


def _line_of(text: str) -> int:
    return next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("call", "refused"),
    [
        (lambda: subprocess.run(["curl", "-sO", "https://example.org/w.pth"], check=False), "run curl -sO https:"),
        (lambda: os.system("wget -q https://example.org/w.pth"), "run wget -q https:"),
        (lambda: subprocess.run(["git", "clone", "https://example.org/r.git"], check=False), "run git clone https:"),
        (lambda: socket.getaddrinfo("example.org", 80), "connect to example.org:80"),
        (lambda: socket.socket().connect(("127.0.0.1", 9)), "connect to 127.0.0.1:9"),
        (lambda: urllib.request.urlretrieve("ftp://example.org/w.pth"), "download ftp://example.org/w.pth"),
    ],
)
def test_every_route_out_is_refused(call: Callable[[], Any], refused: str) -> None:
    with pytest.raises(DownloadBlocked, match=f"tried to {refused}"), no_downloads():
        call()


def test_local_files_and_local_commands_are_allowed(tmp_path: Path) -> None:
    (tmp_path / "w.txt").write_text("weights")
    with no_downloads() as guard:
        assert urllib.request.urlopen((tmp_path / "w.txt").as_uri()).read() == b"weights"
        assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0
        left, right = socket.socketpair()  # a Unix socket stays on this machine
        left.close(), right.close()
    assert guard.refused == []


def test_a_builder_that_swallows_the_refusal_is_built_with_a_note(user_file: Callable[..., Path]) -> None:
    path = user_file(
        """
        from urllib.request import urlopen
        from torch import nn

        def net():
            try:
                urlopen("https://example.invalid/w.pth")
            except BaseException:
                pass  # "no weights, random init"
            return nn.Linear(2, 2)
        """,
        "swallow.py",
    )
    loaded = load_model(f"{path}:net", device="meta")
    assert loaded.notes == [
        f"{path}:6 tried to download https://example.invalid/w.pth while building; "
        "refused, and the builder went on without it"
    ]


def _download_functions() -> tuple[Any, ...]:
    return (
        urllib.request.urlopen,
        urllib.request.urlretrieve,
        torch.hub.load_state_dict_from_url,
        torch.hub.download_url_to_file,
        socket.create_connection,
        socket.socket.connect,
        socket.getaddrinfo,
    )


def test_other_threads_are_never_blocked_and_nothing_is_patched(tmp_path: Path, user_file: Callable[..., Path]) -> None:
    before = _download_functions()
    path = user_file(
        """
        import time
        from urllib.request import urlopen
        from torch import nn

        def net():
            time.sleep(0.05)  # a slow builder: the other thread keeps reading meanwhile
            urlopen("https://example.invalid/w.pth")
            return nn.Linear(2, 2)
        """,
        "slow_dl.py",
    )
    page = tmp_path / "page.txt"
    page.write_text("local")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:  # accepts every connection, so the reader never waits on a full backlog
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                server.accept()[0].close()

    reads: list[bytes] = []
    during: list[int] = []  # reads made while some thread was building
    failures: list[BaseException] = []

    def read_locally() -> None:  # a program's own thread, busy while archinspect builds on others
        while not stop.is_set():
            try:
                reads.append(urllib.request.urlopen(page.as_uri()).read())
                socket.create_connection(server.getsockname(), timeout=5).close()
                if downloads._active:
                    during.append(1)
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
                failures.append(exc)
                return

    outcomes: list[BaseException | None] = []

    def build() -> None:
        try:
            load_model(f"{path}:net", device="meta")
            outcomes.append(None)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            outcomes.append(exc)

    helpers = [threading.Thread(target=serve), threading.Thread(target=read_locally)]
    for t in helpers:
        t.start()
    builders = [threading.Thread(target=build) for _ in range(5)]
    for t in builders:
        t.start()
    for t in builders:
        t.join()
    stop.set()
    for t in helpers:
        t.join()
    server.close()
    assert failures == []
    assert len(during) > 0 and set(reads) == {b"local"}
    assert len(outcomes) == 5 and all(isinstance(o, DownloadBlocked) for o in outcomes), outcomes
    assert downloads._active == 0
    after = _download_functions()
    assert all(a is b for a, b in zip(before, after, strict=True))  # the very same objects: nothing patched
    with pytest.raises(OSError):  # and the guard is idle: this thread's request reaches the network layer
        socket.create_connection(("127.0.0.1", 9), timeout=5)


def test_the_argument_that_asks_for_weights() -> None:
    def unet(encoder_name: str = "resnet34", encoder_weights: str | None = "imagenet") -> None: ...

    def resnet(pretrained: bool = True, checkpoint_path: str = "") -> None: ...

    assert weights_hint(unet, {}) == (
        "pass encoder_weights=None; "
        "its default encoder_weights='imagenet' asks for weights"
    )
    assert weights_hint(unet, {"encoder_weights": None}) == ""
    assert weights_hint(resnet, {}) == (
        "pass pretrained=False; its default pretrained=True asks for weights"
    )
    assert weights_hint(resnet, {"pretrained": False, "checkpoint_path": "ckpt.pth"}) == (
        "pass checkpoint_path=None; checkpoint_path='ckpt.pth' was given"
    )
    assert weights_hint(len, {}) == ""
