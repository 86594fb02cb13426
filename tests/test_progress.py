"""Long calls show their progress where someone watches (a bar on a terminal's stderr, a line in a notebook)
and nothing when output is piped or the caller says ``progress=False``: ``profile``, ``time_train_step``,
``memory``, the zoo's counting (``archinspect list --count``); a call inside another shows nothing of its own."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from torch import nn

import archinspect
import archinspect.display as display
from archinspect.models.loading import create_model


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


class Shown:
    """What a progress display was asked to show: its title, total, and each ``advance``."""

    def __init__(self, what: str, total: int | None) -> None:
        self.what, self.total, self.steps, self.done = what, total, [], 0

    def __enter__(self) -> Any:
        return self.advance

    def advance(self, description: str = "", steps: int = 1) -> None:
        self.done += steps
        self.steps.append(description)

    def __exit__(self, *exc: Any) -> None:
        return None


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Shown]:
    """Every progress display opened during the test, in order (the real ones replaced by recorders)."""
    opened: list[Shown] = []

    def factory(what: str, total: int | None, notebook: bool) -> Shown:
        opened.append(Shown(what, total))
        return opened[-1]

    monkeypatch.setattr(display, "_PROGRESS", [factory])
    return opened


def test_profile_counts_its_steps_then_its_timed_passes(shown: list[Shown], monkeypatch: pytest.MonkeyPatch) -> None:
    first = archinspect.profile(_tiny(), (1, 3, 8, 8), device="cpu", repeats=3, warmup_passes=1, progress=True)
    (bar,) = shown
    assert (bar.what, bar.total, bar.done) == ("profile Sequential", 4 + 1 + 3, 8)
    assert bar.steps[:5] == [
        "measuring the device's roofs",
        "counting FLOPs and bytes",
        "warming up",
        "measuring the instrumentation's cost",
        "timing each module",
    ]
    assert bar.steps[-3:] == [f"timing each module: {n}/3 passes" for n in (1, 2, 3)]
    monkeypatch.setattr("archinspect.bench.profile.measure_ceilings", lambda *a, **k: first.ceilings)  # faster
    for quiet in (False, None):  # None: stderr is no terminal under pytest, and this is no notebook
        archinspect.profile(_tiny(), (1, 3, 8, 8), device="cpu", repeats=1, warmup_passes=0, progress=quiet)
    assert len(shown) == 1


def test_training_step_and_memory_show_their_phases(shown: list[Shown]) -> None:
    archinspect.time_train_step(
        _tiny(), (2, 3, 8, 8), device="cpu", max_time=0.2, min_time=0.1, warmup=1, warmup_time=0.0,
        predict=False, progress=True,
    )  # fmt: skip
    step = shown[0]
    assert step.what == "training step Sequential" and step.total is None
    assert step.steps[0] == "warm-up step 1" and step.steps[1] == "step 1 sampled"
    assert step.steps[-1] == "measuring the peak memory" and step.done == len(step.steps) - 1
    archinspect.memory(create_model("resnet20", device="meta"), [(8, 3, 32, 32)], mode="train", progress=True)
    assert (shown[1].what, shown[1].steps) == ("memory CifarResNet", ["forward", "backward", "optimizer"])
    archinspect.memory(_tiny(), [(1, 3, 8, 8)], mode="train", progress=False)
    archinspect.memory(_tiny(), [(1, 3, 8, 8)], mode="train")  # piped: nothing
    assert len(shown) == 2


def test_a_call_inside_a_call_shows_nothing_of_its_own(shown: list[Shown]) -> None:
    fit = archinspect.largest_batch(_tiny(), [(1, 3, 8, 8)], 2**20, mode="train", progress=True)
    assert [s.what for s in shown] == ["largest batch within 1.00 MiB"]  # each probe's memory() is silent
    assert shown[0].done == len(fit.probes)


def test_counting_the_zoo(shown: list[Shown]) -> None:
    from archinspect.analyses.zoo_summary import zoo_summaries

    rows = zoo_summaries("resnet2*", progress=True)
    assert [r.name for r in rows] == ["resnet20"]
    assert (shown[0].what, shown[0].total, shown[0].steps) == ("counting the zoo", 1, ["resnet20", "resnet20"])
    told: list[str] = []
    zoo_summaries("resnet2*", progress=told.append)  # a caller's callback instead of the display
    zoo_summaries("resnet2*")  # piped
    assert told == ["resnet20"] and len(shown) == 1


def test_a_terminal_gets_a_bar_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

        def fileno(self) -> int:
            raise io.UnsupportedOperation("no descriptor")

    import archinspect.render.progress as progress

    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    err, out = Terminal(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(sys, "stdout", out)
    archinspect.memory(create_model("resnet20", device="meta"), [(8, 3, 32, 32)], mode="train")
    assert "memory CifarResNet" in err.getvalue() and out.getvalue() == ""


def test_cli_list_count_is_quiet_when_piped(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("list", "resnet2*", "--count")
    assert result.exit_code == 0 and result.stderr == "" and "resnet20" in result.stdout
