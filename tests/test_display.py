"""Every result displays itself: ``print()`` shows the CLI's table as text, ``repr()`` one short line, a
notebook an HTML table holding the same rows and totals (names HTML-escaped)."""

from __future__ import annotations

import html
import re

import pytest
import torch
from torch import nn

import archinspect
from archinspect.models.loading import create_model

LENET_INPUT = (1, 1, 28, 28)


@pytest.fixture(scope="module")
def lenet() -> nn.Module:
    return create_model("d2l-lenet-bn", device="meta")


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


def _check(result: object, rows: list[str], totals: list[str], width: int = 120) -> None:
    """print() is the table at the width asked; repr is short; the HTML holds every row and total."""
    text = str(result)
    assert not text.startswith(type(result).__name__ + "(")  # not the dataclass dump
    for needle in rows + totals:
        assert needle in text, needle
    assert max(len(line) for line in text.splitlines()) <= width
    short = repr(result)
    assert short.startswith(f"<{type(result).__name__} ") and len(short) < 300 and "\n" not in short
    page = result._repr_html_()  # type: ignore[attr-defined]
    assert page == result._repr_mimebundle_()["text/html"]  # type: ignore[attr-defined]
    assert result._repr_mimebundle_()["text/plain"] == text  # type: ignore[attr-defined]
    cells = html.unescape(re.sub(r"<[^>]+>", "\n", page))
    for needle in rows + totals:
        assert needle in cells, needle
    assert "overflow-x:auto" in page and "white-space:pre" in page  # scrolls in its box, never wraps a row


def test_report_prints_as_the_shapes_table(lenet: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    report = archinspect.inspect(lenet, [LENET_INPUT])
    _check(report, ["1×6×24×24", "BatchNorm2d"], ["Params: 44,878", "MACs: 281.640 K"], width=100)
    assert report.to_dict()["totals"]["params"] == 44_878  # still data
    assert "records=[LayerRecord" not in repr(report)


def test_print_without_a_terminal_is_120_columns(lenet: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    from archinspect.display import plain_width

    text = str(archinspect.inspect(lenet, [LENET_INPUT]))
    assert plain_width() == 120 and 100 < max(len(line) for line in text.splitlines()) <= 120


def test_print_uses_the_rich_console_protocol(lenet: nn.Module) -> None:
    from rich.console import Console

    console = Console(width=80, record=True, color_system=None)
    console.print(archinspect.inspect(lenet, [LENET_INPUT]))
    shown = console.export_text()
    assert "Params: 44,878" in shown and "1×6×24×24" in shown


def test_flop_report(lenet: nn.Module) -> None:
    flops = archinspect.count_flops(lenet, [LENET_INPUT])
    _check(flops, ["BatchNorm1d", "The 10 heaviest layers"], ["281.640 KMACs (281,640)"])


def test_fit_report_and_its_solve() -> None:
    alexnet = create_model("d2l-alexnet", device="meta")
    fit = archinspect.fit(alexnet, (1, 1, 96, 96))
    _check(fit, ["What each Linear receives", "✗ needs 256"], ["square inputs 193–224"])
    solve = archinspect.valid_input_sizes(alexnet, (1, 1, 96, 96))
    _check(solve, ["square", "193", "224"], ["nearest valid input to 96×96: 193×193"])


def test_memory_report_and_batch_fit() -> None:
    model = create_model("resnet20", device="meta")
    mem = archinspect.memory(model, [(8, 3, 32, 32)], mode="train")
    _check(mem, ["layer1", "conv1"], [f"Peak: {mem.peak_bytes:,}"[:6], "during the"])
    fit = archinspect.largest_batch(model, [(1, 3, 32, 32)], 2**28, mode="train")
    _check(fit, ["layer1"], [f"largest batch {fit.batch}"])


def test_model_diff_and_field_rows() -> None:
    a, b = create_model("resnet20", device="meta"), create_model("resnet32", device="meta")
    diff = archinspect.diff(a, b, (1, 3, 32, 32))
    _check(diff, ["1×64×8×8", "0.579×"], ["total", "40,551,040 / 68,862,592"])
    page = diff._repr_html_()  # the HTML keeps every column the 120-column text hides
    assert "40.551 M" in page and "68.863 M" in page and "hidden at" not in page
    rows = archinspect.receptive_field(a, (1, 3, 32, 32), depth=1)
    assert rows[0].name == "" and isinstance(rows, list)  # still a list of FieldRow
    _check(rows, ["layer3", "1×64×8×8"], ["RF: pixels one output unit sees"])


def test_bench_result() -> None:
    result = archinspect.benchmark(_tiny(), [(1, 3, 8, 8)], device="cpu", batch_sizes=[1], peak=False,
                                   warmup=1, warmup_time=0.0, iters=3, min_time=0.0, max_time=0.3)
    _check(result, ["Sequential", "eager"], ["Median ms", "Latency = one forward call of the whole batch"])


def test_html_escapes_layer_names() -> None:
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.add_module("<b>x</b>", nn.Conv2d(1, 2, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return getattr(self, "<b>x</b>")(x)

    page = archinspect.inspect(Odd(), [(1, 1, 8, 8)])._repr_html_()
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_to_dataframe(lenet: nn.Module) -> None:
    import pandas  # in the [test] extra: this runs in CI, never skips
    frame = archinspect.inspect(lenet, [LENET_INPUT]).to_dataframe()
    assert isinstance(frame, pandas.DataFrame) and frame["params_own"].sum() == 44_878


def test_summary_is_one_call_like_torchinfo() -> None:
    report = archinspect.summary("d2l-alexnet", (1, 1, 224, 224), columns=["output_shape", "params"])
    assert report.model_name == "d2l-alexnet" and report.totals.params == 46_764_746
    text = str(report)
    assert "Output shape" in text and "Input shape" not in text and "1×256×5×5" in text and "1×6400" in text
    by_module = archinspect.summary(_tiny(), input_data=torch.zeros(2, 3, 8, 8), depth=1)
    assert by_module.batch_size == 2 and by_module.output_shapes == [(2, 10)]
    assert archinspect.summary("resnet20").inputs[0].shape == (1, 3, 32, 32)  # the zoo's default input


def test_summary_errors_name_its_parameters() -> None:
    with pytest.raises(archinspect.UsageError, match=r"input_size='1,224,224' has no batch dimension.*"
                       r"did you mean input_size='1,1,224,224'\?"):
        archinspect.summary("d2l-alexnet", (1, 224, 224))
    with pytest.raises(archinspect.UsageError, match="columns: 'size' is not a column; accepted: layer, type"):
        archinspect.summary("d2l-alexnet", columns="size")


def test_api_errors_are_one_line_naming_the_python_call() -> None:
    alexnet = create_model("d2l-alexnet", device="meta")
    with pytest.raises(archinspect.ModelRunError) as err:
        archinspect.inspect(alexnet, (1, 1, 96, 96))
    text = str(err.value)
    assert text.startswith("14 (Linear) expects 6400 input features but got 256 (input 1×256); ")
    assert "archinspect.fit(model, inputs) finds the in_features it needs" in text and "`archinspect fit`" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained internal traceback
    tb, frames = err.value.__traceback__, 0
    while tb is not None:
        frames, tb = frames + 1, tb.tb_next
    assert frames <= 2  # this test's frame and the API boundary that raised it


def test_debug_switch_keeps_the_chain() -> None:
    alexnet = create_model("d2l-alexnet", device="meta")
    archinspect.set_debug(True)
    try:
        with pytest.raises(archinspect.ModelRunError) as err:
            archinspect.inspect(alexnet, (1, 1, 96, 96))
    finally:
        archinspect.set_debug(False)
    assert err.value.__cause__ is not None


def test_cli_still_names_the_command(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("shapes", "d2l-alexnet", "--input", "1,1,96,96")
    assert result.exit_code == 1
    assert "`archinspect fit` finds the in_features it needs" in result.stderr
    assert "archinspect.fit(" not in result.stderr


def test_progress_is_silent_when_piped_or_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from archinspect.display import progress

    for enabled in (None, False):  # None: stderr is not a terminal here, and this is no notebook
        with progress("work", 3, enabled) as advance:
            advance("step", 1)
        fit = archinspect.largest_batch(_tiny(), [(1, 3, 8, 8)], 2**20, progress=enabled)
        assert len(fit.probes) >= 2  # a search ran, and said nothing
    assert capsys.readouterr() == ("", "")


def test_progress_in_a_notebook_is_one_line_updated_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display as display_module  # ipykernel's, in the [test] extra

    import archinspect.display as display
    import archinspect.render.progress as shown

    events: list[tuple[str, str]] = []

    class Handle:
        def update(self, obj: object) -> None:
            events.append(("update", repr(obj)))

    def fake_display(obj: object, display_id: bool = False) -> Handle:
        events.append(("display", repr(obj)))
        return Handle()

    monkeypatch.setattr(display, "in_notebook", lambda: True)
    monkeypatch.setattr(display_module, "display", fake_display)
    monkeypatch.setattr(shown, "DELAY_S", 0.0)
    with display.progress("benchmark resnet20", 2) as advance:
        advance("batch 1 eager", 1)
        advance("batch 8 eager", 1)
    assert [kind for kind, _ in events] == ["display", "update", "update"]
    assert events[0][1].startswith("benchmark resnet20: [██████████··········] 1/2 batch 1 eager · ")
    assert events[1][1].startswith("benchmark resnet20: [████████████████████] 2/2 batch 8 eager · ")
    assert events[2][1] == ""  # cleared when the call returns: the result is what stays


def test_profile_report() -> None:
    report = archinspect.profile(_tiny(), (1, 3, 8, 8), device="cpu", repeats=3, warmup_passes=1)
    _check(report, ["Sequential", "Verdict"], ["Where reaching the roof saves most"])


def test_train_step_report() -> None:
    step = archinspect.time_train_step(_tiny(), (2, 3, 8, 8), device="cpu", max_time=0.2, min_time=0.1, warmup=1,
                                       warmup_time=0.0, predict=False, progress=False)
    _check(step, ["zero_grad", "backward", "optimizer"], ["Throughput:", "Peak memory: measured"])
