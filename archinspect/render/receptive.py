"""The view of :func:`archinspect.receptive_field`'s rows: one row per module call with a field."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.receptive import FieldRow
from archinspect.render.table import Column, TableData
from archinspect.text import dims_text, fmt_shape


class FieldsView:
    """Rows of :class:`FieldRow` as a table: name, type, output shape, field size, jump, start, centre."""

    def __init__(self, rows: list[FieldRow]) -> None:
        self.rows = rows

    def table(self) -> TableData:
        data = TableData(
            title="Receptive fields (input pixels per spatial axis)",
            columns=[
                Column("Layer", "layer", min_width=12),
                Column("Type", "type", min_width=10),
                Column("Output shape", "output_shape", fmt=fmt_shape),
                Column("RF", "size", "right"),
                Column("Jump", "jump", "right"),
                Column("Start", "start", "right"),
                Column("Centre", "centre", "right"),
            ],
            drop_order=("centre", "type"),
        )
        for row in self.rows:
            data.add(
                layer="  " * row.depth + (row.name or row.type),
                type=row.type,
                output_shape=row.output_shape,
                size=("≤" if row.bound else "") + dims_text(row.size),
                jump=dims_text(row.jump),
                start=",".join(map(str, row.start)),
                centre=",".join(map(str, row.centre)),
            )
        data.footer = ["RF: pixels one output unit sees (padding included); jump: pixels between neighbouring "
                       "units; start/centre: of unit 0 (negative: in the padding); ≤ an upper bound."]
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer), style="dim")]
