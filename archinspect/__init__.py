"""archinspect: inspect convolutional network architectures.

Everything the CLI does is a function here first. Attributes are loaded lazily so that
``import archinspect`` (and ``archinspect --help``) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "inspect": "archinspect.analyses.shapes",
    "summary": "archinspect.analyses.summary",
    "explain": "archinspect.analyses.explain",
    "Explanation": "archinspect.analyses.explain",
    "set_debug": "archinspect.errors",
    "Report": "archinspect.core.report",
    "LayerRecord": "archinspect.core.report",
    "create_model": "archinspect.models.loading",
    "load_model": "archinspect.models.loading",
    "list_models": "archinspect.models.zoo",
    "count_flops": "archinspect.analyses.flops",
    "register_op_cost": "archinspect.core.counter",
    "CostCategory": "archinspect.core.counter",
    "OpCost": "archinspect.core.counter",
    "InputSpec": "archinspect.core.inputs",
    "FlopReport": "archinspect.analyses.flops",
    "fit": "archinspect.analyses.fitting",
    "FitReport": "archinspect.analyses.fitting",
    "valid_input_sizes": "archinspect.analyses.solve",
    "receptive_field": "archinspect.analyses.receptive",
    "FieldRow": "archinspect.analyses.receptive",
    "FieldRows": "archinspect.analyses.receptive",
    "SolveResult": "archinspect.analyses.solve",
    "diff": "archinspect.analyses.diff",
    "ModelDiff": "archinspect.analyses.diff",
    "memory": "archinspect.analyses.memory",
    "largest_batch": "archinspect.analyses.budget",
    "MemoryReport": "archinspect.analyses.memory_report",
    "BatchFit": "archinspect.analyses.memory_report",
    "benchmark": "archinspect.bench",
    "BenchResult": "archinspect.bench",
    "graph": "archinspect.render.graph",
    "GraphView": "archinspect.render.graph",
    "ArchGraph": "archinspect.analyses.graph_types",
    "profile": "archinspect.bench.profile",
    "ProfileReport": "archinspect.bench.profile_report",
    "time_train_step": "archinspect.bench.train",
    "TrainStepReport": "archinspect.bench.train",
    "ArchInspectError": "archinspect.errors",
    "UsageError": "archinspect.errors",
    "ModelRunError": "archinspect.errors",
    "ResourceError": "archinspect.core.guard",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'archinspect' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
