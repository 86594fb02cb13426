"""The ``--explain`` view: per layer, the arithmetic behind its output shape, parameters and MACs, then
which layers dominate parameters, MACs and activation memory (and time, when measured). Lines stay short
(readable at 80 columns)."""

from __future__ import annotations

from typing import Any

from archinspect.analyses.explain import Explanation
from archinspect.analyses.explain_rules import LayerExplanation
from archinspect.render.table import Column, TableData
from archinspect.text import fmt_bytes, fmt_count, fmt_int, fmt_shape

LABELS = (("shape", "shape"), ("params", "params_rule"), ("MACs", "macs_rule"))
FIGURES = {
    "params": ("Parameters", fmt_int),
    "macs": ("MACs", fmt_count),
    "activations": ("Activations", fmt_bytes),
    "time": ("Time", lambda s: f"{s * 1e3:.3f} ms"),
}


def layer_lines(entry: LayerExplanation) -> list[str]:
    """``0 (Conv2d) 1×1×224×224 → 1×96×54×54`` then ``  shape   H, W: …`` lines."""
    head = entry.label
    if entry.input_shape is not None and entry.output_shape is not None:
        head += f" {fmt_shape(entry.input_shape)} → {fmt_shape(entry.output_shape)}"
    lines = [head]
    for label, attr in LABELS:
        for i, text in enumerate(getattr(entry, attr)):
            lines.append(f"  {label if i == 0 else '':<7} {text}")
    return lines


class ExplainView:
    """Renders an :class:`Explanation`: the layers as text blocks, the leaders as a table."""

    def __init__(self, result: Explanation) -> None:
        self.result = result

    def title(self) -> str:
        return f"{self.result.model_name} · input {self.result.input_text} · the arithmetic behind each layer"

    def lines(self) -> list[str]:
        out: list[str] = []
        for entry in self.result.layers:
            out.extend(layer_lines(entry))
            out.append("")
        if self.result.kept:
            kinds = ", ".join(f"{t} ×{n}" for t, n in sorted(self.result.kept.items(), key=lambda kv: -kv[1]))
            out.append(f"Not listed (shape kept, no parameters, no MACs): {kinds}")
        return out

    def leaders_table(self) -> TableData:
        data = TableData(
            title="Which layers dominate",
            columns=[
                Column("Figure", "figure", shrink=False),
                Column("Layer", "layer", min_width=10),
                Column("Type", "type", min_width=8),
                Column("Value", "value", "right"),
                Column("Share", "share", "right", fmt=lambda v: f"{v:.1%}"),
            ],
            drop_order=("type",),
        )
        for key, rows in self.result.dominant.items():
            label, fmt = FIGURES[key]
            for i, leader in enumerate(rows):
                data.add(
                    figure=label if i == 0 else "",
                    layer=leader.name,
                    type=leader.type,
                    value=fmt(leader.value),
                    share=leader.share,
                )
        data.footer = [
            "Share: of the leaf layers' total; activations: each layer's output, of all leaf outputs.",
        ]
        if self.result.timed:
            data.footer.append(
                f"Time: each layer's own time (its children's excluded), {self.result.timed}; "
                "share of all modules' own times."
            )
        return data

    def table(self) -> TableData:
        """One row per explained layer (``Explanation.to_dataframe()``)."""
        data = TableData(
            title=self.title(),
            columns=[
                Column("Layer", "layer"),
                Column("Type", "type"),
                Column("Output shape", "output_shape", fmt=fmt_shape),
                Column("Params", "params", "right"),
                Column("MACs", "macs", "right"),
                Column("Shape rule", "shape_rule"),
                Column("Params rule", "params_rule"),
                Column("MACs rule", "macs_rule"),
            ],
        )
        for e in self.result.layers:
            data.add(
                layer=e.name,
                type=e.type,
                output_shape=e.output_shape,
                params=e.params,
                macs=e.macs,
                shape_rule="; ".join(e.shape),
                params_rule="; ".join(e.params_rule),
                macs_rule="; ".join(e.macs_rule),
            )
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        leaders = self.leaders_table()
        return [
            Text(self.title() + "\n", style="bold"),
            Text("\n".join(self.lines())),
            leaders.to_rich(),
            Text("\n".join(leaders.footer), style="dim"),
        ]

    def json(self) -> dict[str, Any]:
        return self.result.to_dict()

    def csv(self) -> str:
        return self.table().to_csv()

    def markdown(self) -> str:
        lines = [f"**{self.title()}**", "", "```text", *self.lines(), "```", ""]
        return "\n".join(lines) + self.leaders_table().to_markdown()
