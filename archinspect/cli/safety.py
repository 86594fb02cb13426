"""What keeps a command from harming the user's files, the terminal or the shell it runs in.

- :func:`preflight`: before any work, every command's options are checked — no output file may be a
  file the command reads (the model's source, either side of a diff: compared by device and inode, so a
  symlink or a hard link is caught), ``--save`` must be ``.svg``/``.html``, every numeric option within
  :data:`archinspect.core.limits.OPTION_BOUNDS` and finite. Exit 2.
- :func:`install_interrupt`: Ctrl-C stops any command within :data:`GRACE` seconds with exit 130, even
  when a forward runs in a C++ kernel or swallows ``KeyboardInterrupt``; a file being written is never
  left half written (:func:`write_atomic`).
- :func:`finish`: the process ends after the output even when the model's code left a thread running.
- :func:`ascii_fallback`: a terminal or pipe that cannot encode Unicode gets ASCII, not a crash.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from archinspect.errors import UsageError, UserInterrupt

GRACE = 1.5  # seconds between Ctrl-C and a forced exit, for a forward that does not return
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell shows for a command stopped by Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell shows for `yes | head -1`'s yes
MODEL_PARAMS = ("model", "models", "model_a", "model_b")  # the commands' MODEL arguments
WRITTEN_PARAMS = {"output": "--output", "save": "--save"}
SAVE_SUFFIXES = (".svg", ".html", ".htm")

_interrupted = threading.Event()
_pending: set[str] = set()  # temporary files being written: removed on a forced exit


def _shown(text: str, limit: int = 80) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


# --- before any work ----------------------------------------------------------------------------------


def model_files(refs: list[str]) -> list[Path]:
    """The files MODEL references read: ``path.py:Symbol`` and ``path.py`` (zoo and library names read none)."""
    out = []
    for ref in refs:
        text = ref.strip()
        path = text.rpartition(":")[0] if ".py:" in text else text if text.endswith(".py") else ""
        if path:
            out.append(Path(path))
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # device and inode: symlinks and hard links too
    except (OSError, ValueError):
        try:
            return os.path.realpath(a) == os.path.realpath(b)
        except (OSError, ValueError):
            return False


def check_written_paths(params: dict[str, Any]) -> None:
    """UsageError when ``--output``/``--save`` is a file the command reads, or both name one file, or
    ``--save`` has a type it cannot draw."""
    refs: list[str] = []
    for name in MODEL_PARAMS:
        value = params.get(name)
        refs.extend([value] if isinstance(value, str) else value or [])
    reads = model_files(refs)
    written = [(flag, Path(params[name])) for name, flag in WRITTEN_PARAMS.items() if params.get(name) is not None]
    for flag, path in written:
        if flag == "--save" and path.suffix.lower() not in SAVE_SUFFIXES:
            raise UsageError(f"--save {_shown(str(path))}: accepted file types are .svg and .html")
        for source in reads:
            if _same_file(path, source):
                raise UsageError(
                    f"{flag} {_shown(str(path))} is the model file {_shown(str(source))} this command reads; "
                    "write the output to another file"
                )
    if len(written) == 2 and _same_file(written[0][1], written[1][1]):
        raise UsageError(f"--output and --save name the same file {_shown(str(written[0][1]))}; give two files")


def check_numbers(command: Any, params: dict[str, Any]) -> None:
    """Every int/float option of ``command`` within its bound (:mod:`archinspect.core.limits`), finite."""
    from archinspect.core.limits import check_bound

    for param in command.params:
        value = params.get(param.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and param.opts:
            check_bound(param.name, value)  # the message names param.name=: the CLI writes it as its flag


def preflight(ctx: Any) -> None:
    """The checks every command passes before any work (``ctx``: the running click context, or None)."""
    if ctx is None:
        return
    check_written_paths(ctx.params)
    check_numbers(ctx.command, ctx.params)


# --- writing --------------------------------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all: a regular file (or a new one) is written beside it and
    renamed over it (through a symlink: over its target), so Ctrl-C or a full disk leaves the old file (or
    none), never half an output. A device or pipe (``/dev/stdout``, ``/dev/full``), or a file in a folder
    this process may not create files in, is written directly. Raises OSError."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode if target.exists() else None
    except OSError:
        mode = None
    if target.exists() and not target.is_file():
        _write_direct(path, text)
        return
    if mode is not None and not os.access(target, os.W_OK):  # a rename would replace a file one may not write
        raise PermissionError(13, "Permission denied", str(path))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _pending.add(str(tmp))
    try:
        try:
            handle = open(tmp, "x", encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except (PermissionError, FileExistsError):
            _write_direct(path, text)
            return
        with handle:
            handle.write(text)
        if mode is not None:
            os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, target)
    finally:
        _pending.discard(str(tmp))
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_direct(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# --- Ctrl-C ---------------------------------------------------------------------------------------------


def interrupted() -> bool:
    """Whether the person pressed Ctrl-C during this command."""
    return _interrupted.is_set()


def _force_exit() -> None:
    for tmp in list(_pending):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)


def _on_sigint(signum: int, frame: Any) -> None:
    """Python's handler (main thread, between bytecodes): Ctrl-C raises :class:`UserInterrupt`."""
    _interrupted.set()
    raise UserInterrupt


_signalled_at: list[float] = []


def _watch(read_fd: int) -> None:
    """A daemon thread woken by the C-level signal handler (``signal.set_wakeup_fd``) the moment SIGINT
    arrives — even while the main thread is inside a long C++ kernel, where Python's handler cannot run.
    A second Ctrl-C exits at once; otherwise the process exits :data:`GRACE` seconds after the first."""
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT not in data:
            continue
        if _signalled_at:
            _force_exit()  # a second Ctrl-C
        _signalled_at.append(time.monotonic())
        _interrupted.set()
        timer = threading.Timer(GRACE, _force_exit)
        timer.daemon = True
        timer.start()


def install_interrupt() -> None:
    """Make Ctrl-C stop the command (main thread only; the command line's ``main`` calls it)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, _on_sigint)
    except (OSError, ValueError):
        return
    threading.Thread(target=_watch, args=(read_fd,), name="archinspect-sigint", daemon=True).start()


# --- the end of the process -----------------------------------------------------------------------------


def stray_threads() -> list[threading.Thread]:
    """Non-daemon threads still running besides the main one: left by the model's code."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and t.is_alive() and not t.daemon]


def finish(code: int) -> None:
    """End the process with ``code``. When the model's code left a non-daemon thread running, Python would
    wait for it after the output (for ever, for a thread that loops): flush, say so, and exit without
    waiting (``os._exit``)."""
    stray = stray_threads()
    if not stray:
        sys.exit(code)
    names = ", ".join(sorted({t.name for t in stray}))[:120]
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        print(
            f"note: the model's code left {len(stray)} thread(s) running ({names}); exiting without waiting",
            file=sys.stderr,
        )
        sys.stderr.flush()
    os._exit(code)


# --- terminals that cannot encode Unicode -----------------------------------------------------------------

ASCII_FOR = {
    "×": "x", "…": "...", "·": "-", "—": "-", "–": "-", "−": "-", "→": "->", "←": "<-", "≈": "~", "≤": "<=",
    "≥": ">=", "█": "#", "▏": "|", "▎": "|", "▍": "|", "▌": "|", "▋": "|", "▊": "|", "▉": "|", "•": "*",
    "µ": "u", "✓": "ok", "✗": "x", "‘": "'", "’": "'", "“": '"', "”": '"', "Δ": "d", "±": "+/-",
}  # fmt: skip


def _ascii_replace(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(ASCII_FOR.get(ch, "?") for ch in bad), exc.end


codecs.register_error("archinspect-ascii", _ascii_replace)


def ascii_fallback() -> None:
    """A stream whose encoding cannot write what tables draw (``PYTHONIOENCODING=ascii``, a C locale without
    UTF-8) writes ``x`` for ``×``, ``...`` for ``…`` (``?`` for the rest) instead of raising
    UnicodeEncodeError; rich sees the stream's encoding and draws ASCII borders."""
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None)
        if not encoding or not hasattr(stream, "reconfigure"):
            continue
        try:
            "×…┃━".encode(encoding)
        except UnicodeEncodeError:
            with contextlib.suppress(Exception):
                stream.reconfigure(errors="archinspect-ascii")
        except LookupError:
            continue
