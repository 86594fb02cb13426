"""Which view displays which result type, and the one line each result's ``repr()`` shows.

``render/__init__.py`` registers :func:`display_of` for every name in :data:`RESULT_TYPES` with
:func:`archinspect.display.register_display`; the views are imported when a result is first displayed.
"""

from __future__ import annotations

from typing import Any

from archinspect.render.notebook import ViewDisplay
from archinspect.text import fmt_bytes, fmt_count


def _report(r: Any) -> ViewDisplay:
    from archinspect.render.shapes import ShapesView

    view = ShapesView(r)
    t = r.totals
    line = (
        f"{r.model_name} · input {r.input_text()} · {len(r.records)} module calls · params {t.params:,} · "
        f"MACs {fmt_count(t.macs)}"
    )
    return ViewDisplay(view, line, frame=view.frame_table)


def _flops(r: Any) -> ViewDisplay:
    from archinspect.render.flops import FlopsView

    t = r.totals
    line = f"{r.model_name} · input {r.report.input_text()} · MACs {fmt_count(t.macs)} · FLOPs {fmt_count(t.flops)}"
    return ViewDisplay(FlopsView(r), line)


def _fit(r: Any) -> ViewDisplay:
    from archinspect.render.fit import FitView

    verdict = "consistent" if r.consistent else f"{len(r.mismatches)} mismatch{'es' if len(r.mismatches) > 1 else ''}"
    line = f"{r.model_name} · input {', '.join(str(s) for s in r.inputs)} · {verdict}"
    return ViewDisplay(FitView(r, api=True), line)


def _solve(r: Any) -> ViewDisplay:
    from archinspect.render.fit import SolveView

    nearest = r.nearest_shape
    near = ",".join(map(str, nearest)) if nearest else "none"
    line = f"input {r.input} · {r.probes} probes · nearest valid input {near}"
    return ViewDisplay(SolveView(r), line)


def _memory(r: Any) -> ViewDisplay:
    from archinspect.render.memory import MemoryView

    peak = fmt_bytes(r.peak_bytes)
    line = f"{r.model_name} · {r.mode} · batch {r.batch_size} · peak {peak} during the {r.peak_phase}"
    return ViewDisplay(MemoryView(r), line)


def _batch_fit(r: Any) -> ViewDisplay:
    from archinspect.render.memory import BatchFitView

    line = f"largest batch {r.batch} within {fmt_bytes(r.budget_bytes)} (peak {fmt_bytes(r.peak_bytes)})"
    return ViewDisplay(BatchFitView(r), line)


def _bench(r: Any) -> ViewDisplay:
    from archinspect.render.bench import BenchView

    models = sorted({row.model for row in r.rows})
    line = f"{', '.join(models) or 'no models'} · {len(r.rows)} rows · {r.environment.device}"
    return ViewDisplay(BenchView(r), line)


def _diff(r: Any) -> ViewDisplay:
    from archinspect.render.diff import DiffView

    ratio = r.total.macs_ratio if r.total is not None else None
    line = f"A = {r.report_a.model_name} · B = {r.report_b.model_name} · {len(r.stages)} stages" + (
        f" · MACs A/B {ratio:.3f}" if ratio is not None else ""
    )
    return ViewDisplay(DiffView(r), line)


def _fields(r: Any) -> ViewDisplay:
    from archinspect.render.receptive import FieldsView

    last = r[0] if len(r) else None
    line = f"{len(r)} rows" + (f" · output field {'×'.join(map(str, last.size))}" if last is not None else "")
    return ViewDisplay(FieldsView(r), line)


def _explanation(r: Any) -> ViewDisplay:
    from archinspect.render.explain import ExplainView

    line = f"{r.model_name} · input {r.input_text} · {len(r.layers)} layers explained"
    return ViewDisplay(ExplainView(r), line, frame=ExplainView(r).table)


def _profile(r: Any) -> ViewDisplay:
    from archinspect.render.profile import ProfileView

    rec = r.reconciliation
    line = (
        f"{r.model_name} · {r.settings['device']} · {len(r.records)} module calls · module sum "
        f"{rec.module_sum_s * 1e3:.3f} ms vs plain forward {rec.plain.median * 1e3:.3f} ms"
    )
    return ViewDisplay(ProfileView(r), line)


def _train_step(r: Any) -> ViewDisplay:
    from archinspect.render.profile import TrainStepView

    line = f"{r.model_name} · training step {r.step.median * 1e3:.3f} ms · {r.samples_per_s:.2f} samples/s"
    return ViewDisplay(TrainStepView(r), line)


RESULT_TYPES: dict[str, Any] = {
    "Report": _report,
    "FlopReport": _flops,
    "FitReport": _fit,
    "SolveResult": _solve,
    "MemoryReport": _memory,
    "BatchFit": _batch_fit,
    "BenchResult": _bench,
    "ModelDiff": _diff,
    "FieldRows": _fields,
    "Explanation": _explanation,
    "ProfileReport": _profile,
    "TrainStepReport": _train_step,
}


def display_of(result: Any) -> ViewDisplay:
    """The display of ``result`` (one of :data:`RESULT_TYPES`)."""
    for cls in type(result).__mro__:
        if cls.__name__ in RESULT_TYPES:
            return RESULT_TYPES[cls.__name__](result)
    raise TypeError(f"no view for {type(result).__name__}")
