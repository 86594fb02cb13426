"""What a narrow table keeps: MACs and Params are never hidden for a row listing several maps (the shape cell
lists fewer), and a cut name keeps what tells rows apart (its tail)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from archinspect.render.table import Column, TableData, cut_middle, cut_names, cut_shapes

ENCODER = """
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.ModuleList(nn.Conv2d(c, c * 2, 3, stride=2, padding=1) for c in (3, 6, 12, 24, 48, 96))

    def forward(self, x):
        feats = [x]
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Conv2d(192, 2, 1)

    def forward(self, x):
        return self.head(self.encoder(x)[-1])
"""


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("width", [100, 120])
def test_several_output_maps_never_hide_macs_or_params(
    cli: Callable[..., Any], user_file: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("shapes", f"{user_file(ENCODER, 'enc.py')}:Net", "--input", "1,3,256,256")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert max(len(line) for line in out.splitlines()) <= width
    header = next(line for line in out.splitlines() if line.startswith("┃"))
    assert "Params" in header and "MACs" in header and "Output shape" in header
    hidden = re.search(r"hidden at \d+ columns: (.*) \(", out)
    assert hidden is None or not {"MACs", "Params"} & set(hidden.group(1).split(", "))
    encoder = next(row for row in _rows(out) if row[0] == "encoder")
    assert re.fullmatch(r"1×3×256×256(, \S+)* \(\+\d more\)", encoder[3]), encoder  # whole shapes, the rest counted
    assert "(15.925 M)" in encoder and "(221,508)" in encoder


def test_cut_names_keep_their_tails() -> None:
    names = [f"features.denseblock{b}.denselayer{n}.conv2" for b in (1, 2) for n in range(1, 7)]
    cut = cut_names(names, 14)
    assert len(set(cut)) == len(names) and all(len(c) <= 14 for c in cut)
    assert cut_middle("features.denseblock1.denselayer3", 20) == "featur…1.denselayer3"
    assert cut_middle("    denseblock1", 12) == "    de…lock1"  # indentation kept, the tail kept
    assert cut_shapes("1×64×56×56, 1×128×28×28, 1×256×14×14", 30) == "1×64×56×56 (+2 more)"
    assert cut_shapes("1×64×56×56, 1×128×28×28, 1×256×14×14", 34) == "1×64×56×56, 1×128×28×28 (+1 more)"


def test_narrow_table_rows_stay_distinct() -> None:
    data = TableData(title="", columns=[Column("Layer", "layer", min_width=12, cut=cut_middle), Column("n", "n")])
    for b in range(1, 5):
        data.add(layer=f"features.denseblock{b}", n=str(b))
    from rich.console import Console

    console = Console(width=20, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(data.to_rich())
    cells = [row[0] for row in _rows(console.export_text())]
    assert len(set(cells)) == 4 and all("…" in c for c in cells), cells


def test_diff_shows_stage_names_at_120(cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = cli("diff", "resnet18", "resnet34")
    assert result.exit_code == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.startswith("┃"))
    assert "┃ A " in header and "┃ B " in header
    assert next(r[1:3] for r in _rows(result.stdout) if r[1] == "layer1") == ["layer1", "layer1"]
