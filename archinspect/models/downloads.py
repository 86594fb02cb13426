"""Nothing is downloaded while archinspect builds a model — on the building thread only, and nothing patched.

Python's audit hooks (PEP 578) see every way out of the process that a builder can take: ``urlopen``
(``urllib.Request``), ``http.client``, a socket's DNS look-up or connect (``socket.getaddrinfo``,
``socket.connect``: requests, urllib3, httpx, ``hf_hub_download`` and torch.hub all end there, whatever name
they were imported under) and a ``curl``/``wget``/``git clone`` subprocess. One hook is added to the process
the first time :func:`no_downloads` is entered and stays (Python cannot remove one); it is idle — one
integer compared — unless some thread is building, and then refuses only on the threads that are inside
:func:`no_downloads`. Another thread's ``urlopen`` at the same moment goes through, a ``file://`` or
``data:`` URL and a Unix socket are always allowed, and no module attribute is ever replaced.

The refusal is raised from the hook as :class:`_DownloadRefused`, a ``BaseException``, so that a library's
``except Exception`` retry loop (requests, urllib3, huggingface_hub's back-off) does not catch and retry it;
:func:`no_downloads` turns it into :class:`DownloadBlocked` (a ``ModelRunError``: exit 1, one line) when the
build ends. Known limitation: a download a builder hands to a thread *it* starts (a thread pool) runs on a
thread that is not building and is not stopped (Python 3.11 has no audit event for a new thread).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import sys
import sysconfig
import threading
import urllib.parse
from collections.abc import Callable
from types import TracebackType
from typing import Any

from archinspect.errors import ModelRunError

__all__ = ["DownloadBlocked", "no_downloads", "weights_hint"]


class DownloadBlocked(ModelRunError):
    """A model's builder tried to download something; archinspect never does."""


class _DownloadRefused(BaseException):  # noqa: N818 - not an error a caller handles: no_downloads translates it
    """Raised inside the builder by the audit hook; a BaseException so that ``except Exception`` lets it through."""


_INET = (socket.AF_INET, socket.AF_INET6)
_DOWNLOADERS = {"curl", "wget", "aria2c"}
_GIT_NETWORK = {"clone", "fetch", "pull", "ls-remote", "submodule"}
_HUB = f"{os.sep}torch{os.sep}hub.py"


def _url(args: tuple[Any, ...]) -> str | None:
    url = str(args[0])
    return None if url.split(":", 1)[0].lower() in ("file", "data") else f"download {url}"


def _host(args: tuple[Any, ...]) -> str | None:
    host, port = args[0], args[1]
    if host is None:  # getaddrinfo(None, port): an address to bind, no look-up
        return None
    host = host.decode() if isinstance(host, bytes) else str(host)
    return f"connect to {host}:{port}" if port else f"look up {host}"


def _socket(args: tuple[Any, ...]) -> str | None:
    sock, address = args[0], args[1]
    if getattr(sock, "family", None) not in _INET:  # a Unix socket stays on this machine
        return None
    return f"connect to {address[0]}:{address[1]}" if isinstance(address, tuple) else f"connect to {address}"


def _command(argv: list[str]) -> str | None:
    if not argv:
        return None
    tool = os.path.basename(str(argv[0]))
    if tool in _DOWNLOADERS or (tool == "git" and _GIT_NETWORK & {str(a) for a in argv[1:]}):
        return f"run {' '.join(str(a) for a in argv)[:120]}"
    return None


def _popen(args: tuple[Any, ...]) -> str | None:
    argv = args[1]
    if isinstance(argv, (str, bytes)):
        argv = [argv.decode() if isinstance(argv, bytes) else argv]
        argv = shlex.split(argv[0]) if args[0] is None or " " in argv[0] else argv
    return _command([os.fsdecode(a) if isinstance(a, (bytes, os.PathLike)) else str(a) for a in argv or []])


def _system(args: tuple[Any, ...]) -> str | None:
    command = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    try:
        return _command(shlex.split(command))
    except ValueError:
        return None


def _hub_weights(args: tuple[Any, ...]) -> str | None:
    """torch.hub's ``load_state_dict_from_url`` makes its cache folder before it prints "Downloading" and
    fetches: refused there (the URL read from its frame), unless the file is already in the cache."""
    frame = sys._getframe(2)
    while frame is not None and not (
        frame.f_code.co_name == "load_state_dict_from_url" and frame.f_code.co_filename.endswith(_HUB)
    ):
        frame = frame.f_back
    if frame is None:
        return None
    url, model_dir, name = (frame.f_locals.get(k) for k in ("url", "model_dir", "file_name"))
    name = name or os.path.basename(urllib.parse.urlparse(str(url)).path)
    if model_dir and os.path.exists(os.path.join(str(model_dir), name)):
        return None  # already on disk: read, not downloaded
    return f"download {url}"


# audit event -> what the call would do (None: allowed); https://docs.python.org/3/library/audit_events.html
_WATCHED: dict[str, Callable[[tuple[Any, ...]], str | None]] = {
    "urllib.Request": _url,
    "http.client.connect": lambda a: f"connect to {a[1]}:{a[2]}",
    "socket.getaddrinfo": _host,
    "socket.gethostbyname": lambda a: f"look up {a[0]}",
    "socket.gethostbyaddr": lambda a: f"look up {a[0]}",
    "socket.connect": _socket,
    "socket.sendto": _socket,
    "subprocess.Popen": _popen,
    "os.system": _system,
    "os.mkdir": _hub_weights,
}

_local = threading.local()  # .guards: the no_downloads blocks this thread is inside, innermost last
_active = 0  # no_downloads blocks open on all threads together: the hook does nothing while it is 0
_state_lock = threading.Lock()
_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    describe = _WATCHED.get(event)
    if describe is None:
        return
    guards = getattr(_local, "guards", None)
    if not guards:
        return
    what = describe(args)
    if what is not None:
        guards[-1].refuse(what)


def _install() -> None:
    global _installed
    with _state_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


def _count(step: int) -> None:
    global _active
    with _state_lock:
        _active += step


_STDLIB = sysconfig.get_paths()["stdlib"]
# packages that carry a request to the network (httpx2 and httpcore2 included): a refusal names their caller
_NETWORK = {"urllib3", "requests", "httpx", "httpcore", "huggingface_hub", "hf_xet", "aiohttp", "fsspec", "anyio"}


def _skipped(path: str) -> bool:
    if path.startswith("<") or path == __file__ or path.endswith(_HUB):
        return True
    folders = path.split(os.sep)[:-1]
    if any(folder.rstrip("0123456789") in _NETWORK for folder in folders):
        return True
    return path.startswith(_STDLIB) and not any(f.endswith("-packages") for f in folders)  # not site-packages


def _caller() -> str:
    """``segmentation_models_pytorch/encoders/_base.py:93``: the innermost frame outside the network libraries."""
    frame = sys._getframe(1)
    while frame is not None:
        path = frame.f_code.co_filename
        if not _skipped(path):
            return f"{path.replace(os.sep, '/').split('/site-packages/')[-1]}:{frame.f_lineno}"
        frame = frame.f_back
    return "the builder"


class no_downloads:  # noqa: N801 - used as a function: ``with no_downloads(...):``
    """While the block runs, this thread's downloads raise; :class:`DownloadBlocked` (one line) when it ends.

    ``label`` names the model in the message; ``hint`` says what to change (see :func:`weights_hint`).
    ``refused`` lists what was refused, also when the builder caught the refusal and went on.
    """

    def __init__(self, label: str = "the model", hint: str = "") -> None:
        self.label = label
        self.hint = hint
        self.refused: list[str] = []

    def refuse(self, what: str) -> None:
        self.refused.append(f"{_caller()} tried to {what}")
        raise _DownloadRefused(self.refused[-1])

    def message(self) -> str:
        fix = self.hint or "build it without pretrained weights, or load the weights yourself"
        return f"{self.label}: {self.refused[0]} while building; archinspect never downloads: {fix}"

    def __enter__(self) -> no_downloads:
        _install()
        guards = getattr(_local, "guards", None)
        if guards is None:
            guards = _local.guards = []
        guards.append(self)
        _count(1)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        _local.guards.remove(self)
        _count(-1)
        # a builder that caught the refusal and failed otherwise failed because of it (not a Ctrl-C, though)
        if exc is not None and self.refused and not isinstance(exc, KeyboardInterrupt | DownloadBlocked):
            error = DownloadBlocked(self.message())
            remedy = re.match(r"pass (\w+)=", self.hint)  # a constructor argument: --arg NAME=VALUE on the CLI
            if remedy:
                error.cli_words = ((remedy.group(0), f"pass --arg {remedy.group(1)}="),)
            raise error from None


_WEIGHT_WORDS = ("weight", "pretrain", "checkpoint", "ckpt")


def weights_hint(builder: Any, kwargs: dict[str, Any]) -> str:
    """``pass encoder_weights=None; its default encoder_weights='imagenet' asks for weights``: the argument to
    change, as the API says it (the command line says ``pass --arg encoder_weights=None``), or ''.

    Looks for arguments named like weights (``weights``, ``encoder_weights``, ``pretrained``,
    ``checkpoint``) that are set, by the caller or by default, to something that asks for a download.
    """
    import inspect as pyinspect

    try:
        params = pyinspect.signature(builder).parameters.values()
    except (TypeError, ValueError):
        return ""
    for p in params:
        if not any(word in p.name.lower() for word in _WEIGHT_WORDS):
            continue
        given = p.name in kwargs
        value = kwargs[p.name] if given else p.default
        if value is p.empty or value is None or value is False or value == "":
            continue
        off = "False" if isinstance(value, bool) else "None"
        why = f"{p.name}={value!r} was given" if given else f"its default {p.name}={value!r} asks for weights"
        return f"pass {p.name}={off}; {why}"
    return ""
