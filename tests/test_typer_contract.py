"""What the command line relies on in Typer, pinned on whichever Typer is installed.

archinspect uses Typer's public API only (``archinspect/cli/params.py``) and has no upper bound on Typer; CI
runs this file and the CLI message tests on Typer 0.27, 0.28 and the newest release. Each test below is
one thing relied on, exercised through a tiny app rather than by looking at Typer's insides.
"""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from archinspect.cli.params import Choice, Command, Group, choice_option, whole_option
from archinspect.errors import UsageError

VERSION = typer.__version__


class Colour(Choice):
    red = "red"
    green = "green"


def _app(seen: dict[str, Any]) -> typer.Typer:
    app = typer.Typer(cls=Group, rich_markup_mode=None, add_completion=False)

    @app.command("paint", cls=Command)
    def paint(
        thing: Annotated[str, typer.Argument(metavar="THING", help="What to paint.")],
        colour: Annotated[Colour, choice_option("--colour", "-c", kind=Colour, help="The colour.")] = Colour.red,
        coats: Annotated[int, whole_option("--coats", minimum=1, help="Coats.")] = 2,
        shiny: Annotated[bool, typer.Option("--shiny", help="Gloss.")] = False,
    ) -> None:
        """Paint THING."""
        seen.update(thing=thing, colour=colour, coats=coats, shiny=shiny)

    @app.callback()
    def _root() -> None:
        """Tools."""

    return app


def _run(*words: str) -> tuple[Any, dict[str, Any]]:
    seen: dict[str, Any] = {}
    result = CliRunner().invoke(_app(seen), list(words), catch_exceptions=True)
    return result, seen


def test_parsed_values_and_defaults_reach_the_command_as_typed() -> None:
    """``parser=`` converts each word; an enum default stays the member (Typer 0.27-0.28 map it back by str())."""
    result, seen = _run("paint", "door")
    assert result.exit_code == 0, (VERSION, result.output)
    assert seen == {"thing": "door", "colour": Colour.red, "coats": 2, "shiny": False}
    assert type(seen["colour"]) is Colour
    _, seen = _run("paint", "-c", "green", "--coats=3", "--shiny", "wall")
    assert seen == {"thing": "wall", "colour": Colour.green, "coats": 3, "shiny": True}


def test_a_parser_error_of_ours_passes_through_unchanged() -> None:
    """A UsageError raised in ``parser=`` reaches the caller as raised (neither wrapped nor reworded)."""
    result, _ = _run("paint", "door", "--colour", "blue")
    assert isinstance(result.exception, UsageError), (VERSION, result.exception)
    assert str(result.exception) == "--colour 'blue': accepted: red, green"
    result, _ = _run("paint", "door", "--coats", "0")
    assert str(result.exception) == "--coats '0': not in the range x>=1"


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["paint", "door", "--color", "red"], "unknown option --color; did you mean --colour? (… paint -h)"),
        (["paint"], "missing argument THING (… paint -h)"),
        (["paint", "door", "window"], "unexpected argument 'window' (… paint -h)"),
        (["paint", "door", "--coats"], "option --coats needs a value: N (… paint -h)"),
        (["paint", "door", "--shiny=yes"], "option --shiny takes no value: '--shiny=yes' (… paint -h)"),
        (["pain", "door"], "unknown command 'pain'; did you mean 'paint'? (commands: paint)"),
    ],
)
def test_words_are_checked_from_the_parameters_public_attributes(words: list[str], message: str) -> None:
    result, seen = _run(*words)
    assert isinstance(result.exception, UsageError), (VERSION, result.exception)
    head = message.partition(" (")[0]
    assert str(result.exception).startswith(head + " (")  # then the command path, as the program was called
    assert not seen


def test_help_shows_plain_argument_names_and_our_metavars() -> None:
    text = CliRunner().invoke(_app({}), ["paint", "--help"]).stdout
    assert "paint [OPTIONS] THING\n" in text, (VERSION, text)
    assert "\nArguments:\n  THING  What to paint.  [required]\n" in text
    assert "-c, --colour <red|green>" in text and "--coats N" in text
    assert "{THING}" not in text and "<str>" not in text and "<int" not in text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("archinspect shapes x --format j", "json"),
        ("archinspect shapes x --mo", "--mode"),
        ("archinspect sh", "shapes"),
    ],
)
def test_choices_options_and_commands_complete_in_the_shell(line: str, expected: str) -> None:
    from archinspect.cli.app import app

    env = {"_ARCHINSPECT_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(line.split()) - 1)}
    result = CliRunner().invoke(app, [], env=env, prog_name="archinspect")
    assert result.exit_code == 0 and result.stdout.split() == [expected], (VERSION, result.output)
