"""The ``list`` view: the zoo with its default inputs, parameter counts and MACs."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.zoo_summary import ZooSummary
from archinspect.render.table import Column, TableData
from archinspect.text import CONVENTION, CONVENTION_LINE, fmt_count, fmt_int

# Columns hidden when the width cannot hold them all, least important first (--wide shows every one).
DROP_ORDER = ("aliases", "source", "family")


class ZooView:
    """The zoo table (``archinspect list``): one row per :class:`ZooSummary`."""

    def __init__(self, rows: list[ZooSummary], figures: bool = False, *, counted: bool | None = None) -> None:
        self.rows = rows
        self.counted = figures if counted is None else counted  # counted now (--count), or counted ahead

    def table(self) -> TableData:
        how = "counted now on the meta device" if self.counted else "counted ahead (--count counts again)"
        data = TableData(
            title=f"archinspect zoo · {len(self.rows)} models",
            columns=[
                Column("Name", "name", style="bold", shrink=False),
                Column("Family", "family"),
                Column("Default input", "default_input", fmt=lambda v: ",".join(map(str, v))),
                Column("Params", "params", "right", fmt=fmt_int),
                Column("MACs", "macs", "right", fmt=fmt_count),
                Column("Source", "source", min_width=16),
            ],
            drop_order=DROP_ORDER,
            footer=[f"Params and MACs for one sample at the default input, {how}.", CONVENTION_LINE],
        )
        if any(row.aliases for row in self.rows):
            data.columns.insert(1, Column("Also", "aliases", fmt=", ".join, shrink=True))
        for row in self.rows:
            data.add(**row.to_dict())
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        return {"models": [r.to_dict() for r in self.rows], "convention": CONVENTION}

    def csv(self) -> str:
        return self.table().to_csv()

    def markdown(self) -> str:
        return self.table().to_markdown()
