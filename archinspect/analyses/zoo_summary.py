"""Figures for ``archinspect list``: each zoo entry built on the meta device and counted by the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from archinspect.display import progress as show_progress
from archinspect.models.zoo._registry import get_entry, list_models


@dataclass(frozen=True)
class ZooSummary:
    name: str
    family: str
    default_input: tuple[int, ...]
    params: int  # counted from the built model
    macs: int  # counted by the engine for one sample at the default input
    source: str
    reference_params: int
    reference_gmacs: float
    aliases: tuple[str, ...] = ()

    @property
    def matches_reference(self) -> bool:
        return self.params == self.reference_params and round(self.macs / 1e9, 3) == round(self.reference_gmacs, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "default_input": list(self.default_input),
            "params": self.params,
            "macs": self.macs,
            "gmacs": round(self.macs / 1e9, 3),
            "source": self.source,
            "aliases": list(self.aliases),
            "matches_reference": self.matches_reference,
        }


def zoo_summaries(
    pattern: str | None = None,
    family: str | None = None,
    *,
    figures: bool = True,
    progress: bool | Callable[[str], None] | None = None,
) -> list[ZooSummary]:
    """One row per matching zoo entry; with ``figures`` the model is built on meta and counted (no memory).

    ``progress``: a callable is told each entry's name before it is counted; otherwise whether to show the
    counting's progress (None: on a terminal or in a notebook, not when output is piped; False: never)."""
    from archinspect.core.options import PassOptions

    totals_only = PassOptions.check(device="meta", depth=0, per_module=False)
    names = list_models(pattern, family)
    shown = False if callable(progress) or not figures else progress
    with show_progress("counting the zoo", len(names), shown) as advance:
        rows = []
        for name in names:
            if callable(progress):
                progress(name)
            advance(name, 0)
            rows.append(_summary(get_entry(name), totals_only if figures else None))
            advance(name, 1)
    return rows


def _summary(entry: Any, totals_only: Any) -> ZooSummary:
    """The entry's row: counted now with ``totals_only`` (pass options), else its figures counted ahead."""
    from archinspect.core.engine import run_pass
    from archinspect.core.target import Target
    from archinspect.models.loading import create_model

    params, macs = entry.params, int(entry.reference_gmacs * 1e9) if entry.macs is None else entry.macs
    if totals_only is not None:
        model = create_model(entry.name, device="meta")  # initialisers skipped: nothing to write on meta
        report = run_pass(Target.of(model, [entry.default_input]), totals_only)
        params, macs = report.totals.params, report.totals.macs // report.batch_size
    return ZooSummary(
        entry.name,
        entry.family,
        entry.default_input,
        params,
        macs,
        entry.source,
        entry.params,
        entry.reference_gmacs,
        entry.aliases,
    )


def catalog_source(rows: list[ZooSummary]) -> str:
    """``archinspect/models/catalog_data.py`` for these rows (counted figures): what the catalog test writes
    with ``ARCHINSPECT_REGEN_CATALOG=1``. Plain tuples in :data:`archinspect.models.catalog.FIELDS` order
    (the data module imports nothing)."""
    from archinspect.models.catalog import dataset_of

    lines = [
        '"""The zoo\'s figures, counted ahead: written by tests/test_zoo_catalog.py from a real count."""',
        "",
        "# name, family, dataset, default input, params, MACs per sample, source, reference params, GMACs, aliases",
        "ROWS = (",
    ]
    for r in rows:
        fields = [
            repr(r.name),
            repr(r.family),
            repr(dataset_of(r.family)),
            repr(tuple(r.default_input)),
            f"{r.params:_}",
            f"{r.macs:_}",
            repr(r.source),
            f"{r.reference_params:_}",
            repr(r.reference_gmacs),
            repr(tuple(r.aliases)),
        ]
        lines.append(f"    ({', '.join(fields)}),")
    lines.append(")")
    return "\n".join(lines) + "\n"


def catalog_summaries(pattern: str | None = None, family: str | None = None) -> list[ZooSummary]:
    """The zoo's rows from the catalog (figures counted ahead; no torch imported)."""
    from archinspect.models.catalog import catalog

    try:
        rows = catalog(pattern, family)
    except ValueError as exc:
        from archinspect.errors import UsageError

        raise UsageError(str(exc), param="family") from None
    return [
        ZooSummary(
            r.name,
            r.family,
            r.default_input,
            r.params,
            r.macs,
            r.source,
            r.reference_params,
            r.reference_gmacs,
            r.aliases,
        )
        for r in rows
    ]
