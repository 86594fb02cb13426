"""The built-in model zoo. See ``_registry`` for the registry and one file per family for the models."""

from archinspect.models.zoo._registry import (
    ZooEntry,
    all_entries,
    canonical_name,
    closest_names,
    get_entry,
    is_zoo_name,
    list_models,
    register_model,
)

__all__ = [
    "ZooEntry",
    "all_entries",
    "canonical_name",
    "closest_names",
    "get_entry",
    "is_zoo_name",
    "list_models",
    "register_model",
]
