"""What the command line asks of Typer and Click, in one file, through their public API only.

Typer parses the words into option values, writes ``--help`` and completes in the shell. Everything a
person reads when a word is wrong is ours, so it is the same on every Typer release (Typer 0.29 moved
value checks to pydantic, with other words; earlier releases carry Click's):

- a value is converted by our own parser (Typer's public ``parser=``), which raises a one-line
  :class:`~archinspect.errors.UsageError`: ``--format 'yaml': accepted: table, json, csv, markdown``;
- unknown options, a missing or an extra argument, an option without its value and an unknown command
  are found before Click parses (:meth:`Command.parse_args`, :meth:`Group.resolve_command`, both public
  Click methods), from the parameters' public attributes (``opts``, ``is_flag``, ``required``, ``nargs``);
- the usage line and the Arguments section of ``--help`` are written here (``collect_usage_pieces``,
  ``format_options``), so an argument reads ``MODEL``, never ``{MODEL}`` or ``MODEL <str>``.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from archinspect.errors import UsageError

E = TypeVar("E", bound=enum.Enum)


class Choice(str, enum.Enum):
    """The values of a choice option. ``str()`` is the value itself (``'json'``, not ``'OutputFormat.json'``):
    Typer 0.27-0.28 map a parsed value back to its member by ``str()``."""

    def __str__(self) -> str:
        return str(self.value)


def choices_metavar(kind: type[enum.Enum]) -> str:
    return "<" + "|".join(str(member.value) for member in kind) + ">"


def choice(flag: str, kind: type[E]) -> Callable[[Any], E]:
    """A parser for ``flag`` whose values are ``kind``'s members (also completed in the shell)."""

    def parse(value: Any) -> E:
        if isinstance(value, kind):
            return value
        for member in kind:
            if str(value) == member.value:
                return member
        accepted = ", ".join(str(member.value) for member in kind)
        raise UsageError(f"{flag} {str(value)!r}: accepted: {accepted}")

    return parse


def completer(kind: type[enum.Enum]) -> Callable[[str], list[str]]:
    def complete(incomplete: str) -> list[str]:
        return [str(m.value) for m in kind if str(m.value).startswith(incomplete)]

    return complete


def whole(flag: str, minimum: int | None = None) -> Callable[[Any], int]:
    """A parser for ``flag``: a whole number, at least ``minimum``."""

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value).strip())
            except ValueError:
                raise UsageError(f"{flag} {str(value)!r}: not a valid integer") from None
        if minimum is not None and number < minimum:
            raise UsageError(f"{flag} {str(value)!r}: not in the range x>={minimum}")
        return number

    return parse


def number(flag: str, minimum: float | None = None) -> Callable[[Any], float]:
    """A parser for ``flag``: a number (``0.5``, ``2``), at least ``minimum``."""

    def parse(value: Any) -> float:
        try:
            result = float(value) if isinstance(value, int | float) else float(str(value).strip())
        except ValueError:
            raise UsageError(f"{flag} {str(value)!r}: not a valid number") from None
        if result != result:  # NaN
            raise UsageError(f"{flag} {str(value)!r}: not a valid number")
        if minimum is not None and result < minimum:
            raise UsageError(f"{flag} {str(value)!r}: not in the range x>={minimum:g}")
        return result

    return parse


def choice_option(*decls: str, kind: type[enum.Enum], help: str, **extra: Any) -> Any:  # noqa: A002 - Typer's name
    """``typer.Option`` for a choice among ``kind``'s values: our parser, the choices as metavar and completion."""
    return typer.Option(
        *decls,
        parser=choice(_long(decls), kind),
        metavar=choices_metavar(kind),
        autocompletion=completer(kind),
        help=help,
        **extra,
    )


def whole_option(*decls: str, minimum: int | None = None, metavar: str = "N", help: str, **extra: Any) -> Any:  # noqa: A002
    return typer.Option(*decls, parser=whole(_long(decls), minimum), metavar=metavar, help=help, **extra)


def number_option(*decls: str, minimum: float | None = None, metavar: str, help: str, **extra: Any) -> Any:  # noqa: A002
    return typer.Option(*decls, parser=number(_long(decls), minimum), metavar=metavar, help=help, **extra)


def _long(decls: Sequence[str]) -> str:
    return max(decls, key=len)


# --- the words on the command line, checked before Click parses them -----------------------------------------


def _options(params: Sequence[Any], help_names: Sequence[str]) -> dict[str, Any]:
    """Every option word (``--depth``, ``-d``, ``--no-peak``, the help options) to its parameter (None: help)."""
    words: dict[str, Any] = dict.fromkeys(help_names)
    for param in params:
        if param.param_type_name == "option":
            for word in [*param.opts, *param.secondary_opts]:
                words[word] = param
    return words


def _takes_value(param: Any) -> bool:
    return param is not None and not (getattr(param, "is_flag", False) or getattr(param, "count", False))


def _metavar(param: Any) -> str:
    return param.metavar or (param.name or "").upper()


def scan(words: Sequence[str], params: Sequence[Any], help_names: Sequence[str], where: str) -> list[str]:
    """The positional words among ``words``; a :class:`UsageError` for an option that does not exist or that
    lacks its value. ``where``: the command, for the hint (``archinspect shapes``)."""
    known = _options(params, help_names)
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            positional += words[i:]
            break
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        if word.startswith("--"):
            name, has_value, _ = word.partition("=")
            if name not in known:
                guess = difflib.get_close_matches(name, [w for w in known if w.startswith("--")], n=2)
                hint = f"; did you mean {' or '.join(guess)}?" if guess else ""
                raise UsageError(f"unknown option {name}{hint} ({where} -h lists the options)")
            if _takes_value(known[name]) and not has_value:
                i = _need_value(words, i, name, known[name], where)
            elif has_value and not _takes_value(known[name]):
                raise UsageError(f"option {name} takes no value: {word!r} ({where} -h lists the options)")
            continue
        for k, letter in enumerate(word[1:], start=1):  # -w, -wf json, -i1,3,32,32
            name = f"-{letter}"
            if name not in known:
                raise UsageError(f"unknown option {name} in {word!r} ({where} -h lists the options)")
            if _takes_value(known[name]):
                if k == len(word) - 1:
                    i = _need_value(words, i, name, known[name], where)
                break
    return positional


def _need_value(words: Sequence[str], i: int, name: str, param: Any, where: str) -> int:
    if i >= len(words):
        raise UsageError(f"option {name} needs a value: {_metavar(param)} ({where} -h shows examples)")
    return i + 1


def check_arguments(positional: Sequence[str], params: Sequence[Any], where: str) -> None:
    """A :class:`UsageError` for a missing required argument or one argument too many."""
    arguments = [p for p in params if p.param_type_name == "argument"]
    required = [p for p in arguments if p.required]
    if len(positional) < len(required):
        missing = required[len(positional)]
        raise UsageError(f"missing argument {_metavar(missing)} ({where} -h shows examples)")
    if all(p.nargs >= 0 for p in arguments) and len(positional) > sum(p.nargs for p in arguments):
        extras = positional[sum(p.nargs for p in arguments) :]
        if all(word.isdigit() for word in extras):  # --input 1 3 224 224: the shell split the shape
            raise UsageError(
                f"unexpected extra arguments {' '.join(extras)}: a shape is one word, sizes separated by commas "
                f"(--input 1,3,224,224 or --input '1 3 224 224')"
            )
        raise UsageError(f"unexpected argument {extras[0]!r} ({where} -h shows examples)")


def _help_asked(words: Sequence[str], help_names: Sequence[str]) -> bool:
    before = words[: words.index("--")] if "--" in words else words
    return any(w in help_names for w in before)


class Command(TyperCommand):
    """Every archinspect command: its words checked before Click parses them (one-line errors of our own)
    and plain argument names in the usage line and ``--help``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing and not _help_asked(args, ctx.help_option_names):
            params = self.get_params(ctx)
            positional = scan(args, params, ctx.help_option_names, ctx.command_path)
            check_arguments(positional, params, ctx.command_path)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        """Before the command's body, the checks that keep it from harming anything
        (:func:`archinspect.cli.safety.preflight`: output paths, numeric bounds): a one-line error, exit 2."""
        from archinspect.cli.safety import preflight

        preflight(ctx)
        return super().invoke(ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _metavar(param)
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                text = getattr(param, "help", None) or ""
                arguments.append((_metavar(param), f"{text}  [required]" if param.required else text))
            elif param.param_type_name == "option":
                record = param.get_help_record(ctx)
                if record is not None:
                    options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(TyperGroup):
    """The command group: an unknown command or group option is one ``error:`` line; every error the
    commands raise (ours, or Click's own in a case not checked above) is one line on stderr."""

    commands_in_order: Sequence[str] = ()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        first = next((i for i, w in enumerate(args) if not w.startswith("-")), len(args))
        if not ctx.resilient_parsing and not _help_asked(args[:first], ctx.help_option_names):
            scan(args[:first], self.get_params(ctx), ctx.help_option_names, ctx.command_path)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name is not None and not ctx.resilient_parsing and self.get_command(ctx, name) is None:
            names = list(self.commands_in_order) or sorted(self.list_commands(ctx))
            guess = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            raise UsageError(f"unknown command {name!r}{hint} (commands: {', '.join(names)})")
        return super().resolve_command(ctx, args)


def click_error_line(exc: Exception) -> str | None:
    """One line for an error Click raised itself (a case the checks above do not foresee), from its public
    ``format_message()``; None when ``exc`` is not one of Click's."""
    message = getattr(exc, "format_message", None)
    if not callable(message) or not isinstance(getattr(exc, "exit_code", None), int):
        return None
    text = " ".join(str(message()).split())
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path} -h" if ctx is not None else "archinspect -h"
    return f"{text[:1].lower()}{text[1:]} ({where} for help)"

