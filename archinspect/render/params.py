"""A parameter summary for a module that has no ``forward`` (``nn.ModuleList``, a holder of submodules):
nothing can run, but its parameters can still be counted, as torchinfo's ``summary(model)`` does without
an input. Shapes and MACs need a forward and are not shown."""

from __future__ import annotations

from typing import Any

from archinspect.render.table import Column, TableData, cut_middle
from archinspect.text import fmt_int


def has_forward(model: Any) -> bool:
    """False for a module whose class keeps ``nn.Module``'s unimplemented ``forward`` (TorchScript modules
    always have one)."""
    import torch
    import torch.nn as nn

    return isinstance(model, torch.jit.ScriptModule) or getattr(type(model), "forward", None) is not nn.Module.forward


class ParamsView:
    """Every module of ``model`` (tree-indented) with its own parameters and, for a container, the total
    below it in brackets; shared parameters counted once in the totals."""

    def __init__(self, model: Any, label: str, depth: int = 2) -> None:
        self.model = model
        self.label = label
        self.depth = depth

    def _module_rows(self) -> list[tuple[str, Any, int, int, int]]:
        """(name, module, depth, own params, params below it) for every module down to ``depth``."""
        rows = []
        for name, module in self.model.named_modules():
            depth = 0 if not name else name.count(".") + 1
            if depth > self.depth:
                continue
            own = sum(p.numel() for p in module.parameters(recurse=False))
            total = sum(p.numel() for p in module.parameters())
            rows.append((name, module, depth, own, total))
        return rows

    def totals(self) -> tuple[int, int]:
        params = {id(p): p for p in self.model.parameters()}.values()
        return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)

    def table(self) -> TableData:
        total, trainable = self.totals()
        data = TableData(
            title=f"{self.label} · parameters only (no forward)",
            columns=[
                Column("Layer", "layer", min_width=12, cut=cut_middle),
                Column("Type", "type", min_width=13),
                Column("Params", "params", "right"),
            ],
            footer=[
                f"Params: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})",
                f"{type(self.model).__name__} has no forward(): shapes and MACs need one; inspect a module whose "
                "forward calls these",
            ],
        )
        for name, module, depth, own, below in self._module_rows():
            label = "  " * depth + (name.rsplit(".", 1)[-1] if name else type(module).__name__)
            children = any(True for _ in module.children())
            own_text = fmt_int(own) if own else ""
            shown = f"{own_text} ({below:,})".lstrip() if children else (own_text or "—")
            data.add(layer=label, name=name, type=type(module).__name__, depth=depth, params=shown, params_own=own)
        return data

    def rich(self) -> list[Any]:
        from rich.text import Text

        data = self.table()
        return [data.to_rich(), Text("\n".join(data.footer))]

    def json(self) -> dict[str, Any]:
        total, trainable = self.totals()
        return {
            "model": self.label,
            "forward": False,
            "totals": {"params": total, "trainable_params": trainable},
            "layers": [
                {"name": n, "type": type(m).__name__, "depth": d, "params": own, "params_below": below}
                for n, m, d, own, below in self._module_rows()
            ],
        }

    def csv(self) -> str:
        data = self.table()
        data.columns = [Column("name", "name"), Column("type", "type"), Column("depth", "depth")]
        data.columns.append(Column("params_own", "params_own"))
        return data.to_csv()

    def markdown(self) -> str:
        data = self.table()
        for row in data.rows:
            row["layer"] = row["layer"].replace("  ", "\u00a0\u00a0")
        return data.to_markdown()
