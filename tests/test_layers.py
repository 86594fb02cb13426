"""The package's folders are its layers, and every import points downward (docs/architecture.md).

Every ``import`` in every module — at the top, inside functions, under ``TYPE_CHECKING`` — is parsed;
an import of a higher layer, or any cycle between modules, fails the test with the offending edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archinspect"

# Lowest first. A module may import its own layer and the layers below it, never above.
LAYERS = {
    "archinspect.errors": 0,
    "archinspect.text": 0,
    "archinspect.display": 0,
    "archinspect.core": 1,
    "archinspect.models": 2,
    "archinspect.analyses": 3,
    "archinspect.bench": 4,
    "archinspect.render": 5,
    "archinspect.cli": 6,
    "archinspect.__main__": 7,
}
# The package itself holds only the version and the lazy public API (names as strings, no imports).
PACKAGE_NAMES_IMPORTABLE = {"__version__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int | None:
    for prefix, rank in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def _resolve(importer: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str) -> list[tuple[str, int]]:
    """(imported archinspect module, line) for every import statement in ``module``."""
    path = MODULES[module]
    return imports_in(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    tree = ast.parse(source)
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names if alias.name.startswith("archinspect")]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, is_package)
            if not target.startswith("archinspect"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from archinspect.core import engine` imports the submodule
                    out.append((sub, node.lineno))
                elif target == "archinspect" and alias.name not in PACKAGE_NAMES_IMPORTABLE:
                    out.append(("archinspect (lazy API)", node.lineno))
                elif target != "archinspect":
                    out.append((target, node.lineno))
    return out


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in MODULES if m != "archinspect" and _layer(m) is None]
    assert not unplaced, f"modules outside every layer: {unplaced}"


def test_imports_point_downward() -> None:
    upward = []
    for module in MODULES:
        if module == "archinspect":
            continue
        mine = _layer(module)
        for target, line in imports(module):
            theirs = _layer(target) if target in MODULES or _layer(target) is not None else None
            if target == "archinspect (lazy API)" or (theirs is not None and mine is not None and theirs > mine):
                upward.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = {m: sorted({t for t, _ in imports(m) if t in MODULES and t != m}) for m in MODULES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt])
            elif state.get(nxt) is None:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    real = [c for c in cycles if not all(c[0] == x or x.startswith(c[0] + ".") for x in c)]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from archinspect.cli.common import emit\n", ["archinspect.cli.common"]),
        ("def f():\n    from archinspect.render import table\n", ["archinspect.render.table"]),
        ("import archinspect.analyses.flops\n", ["archinspect.analyses.flops"]),
        ("from ..models import loading\n", ["archinspect.models.loading"]),
        ("from archinspect import inspect\n", ["archinspect (lazy API)"]),
        ("from archinspect import __version__\n", []),
    ],
)
def test_the_parser_sees_in_function_relative_and_submodule_imports(source: str, expected: list[str]) -> None:
    assert [t for t, _ in imports_in(source, "archinspect.core.engine")] == expected
