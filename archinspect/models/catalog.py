"""The zoo as data known ahead: what ``archinspect list`` prints, without importing torch.

``archinspect list`` used to build every zoo entry on the meta device and count it (5.7 s, most of it importing
torch). The figures never change between runs of one version, so they are kept here as constants
(:mod:`archinspect.models.catalog_data`, written from a real count), and ``tests/test_zoo_catalog.py`` checks
every row against the registry and against a real count from building each model: a zoo change that is not
reflected here fails the suite (``ARCHINSPECT_REGEN_CATALOG=1`` rewrites the data from a fresh count).

Base of the models layer: imports nothing of torch, nor of the registry.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogRow:
    """One zoo entry: names, family, the dataset its default input is shaped for, counted figures
    (params, MACs for one sample at the default input) and the reference figures of docs/reference/zoo.md."""

    name: str
    family: str
    dataset: str
    default_input: tuple[int, ...]
    params: int
    macs: int
    source: str
    reference_params: int
    reference_gmacs: float
    aliases: tuple[str, ...] = ()


def dataset_of(family: str) -> str:
    """The dataset a family's default input and classes are shaped for: ``ImageNet``, ``CIFAR-10`` or
    ``Fashion-MNIST`` (the Dive-into-Deep-Learning variants)."""
    if family.endswith("-CIFAR"):
        return "CIFAR-10"
    return "Fashion-MNIST" if family == "D2L" else "ImageNet"


def _canonical(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


def matches(pattern: str | None, name: str, aliases: tuple[str, ...], dataset: str) -> bool:
    """The rule of ``archinspect list PATTERN`` and ``list_models(pattern)``: a shell-style wildcard
    (``resnet*``, ``*cifar*``; plain text matches anywhere), case-insensitive, ``_`` for ``-``, tried on the
    model's name, its aliases and its dataset (``ImageNet``, ``CIFAR-10``, ``Fashion-MNIST``) —
    ``list '*cifar*'`` lists the CIFAR networks, ``list mnist`` the D2L ones."""
    if not pattern:
        return True
    pat = _canonical(pattern)
    if not any(ch in pat for ch in "*?["):
        pat = f"*{pat}*"
    return any(fnmatch.fnmatchcase(_canonical(text), pat) for text in (name, *aliases, dataset))


def natural_key(name: str) -> list[object]:
    """resnet18 < resnet101: digits compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def catalog(pattern: str | None = None, family: str | None = None) -> list[CatalogRow]:
    """The rows matching ``pattern`` (see :func:`matches`) and ``family`` (case-insensitive), natural order.
    An unknown family is ValueError naming the families."""
    from archinspect.models.catalog_data import ROWS

    rows = [CatalogRow(*fields) for fields in ROWS]
    if family:
        names = sorted({r.family for r in rows}, key=str.lower)
        if family.lower() not in {f.lower() for f in names}:
            raise ValueError(f"family={family!r}: no such family; families: {', '.join(names)}")
        rows = [r for r in rows if r.family.lower() == family.lower()]
    rows = [r for r in rows if matches(pattern, r.name, r.aliases, r.dataset)]
    return sorted(rows, key=lambda r: natural_key(r.name))
