"""Private torch APIs are used in one module only, ``archinspect/core/compat.py``.

Every module's source is parsed: an import of a private torch module or name (``torch.utils._pytree``,
``from torch.nn.modules.conv import _ConvNd``), an attribute path through a private name from a torch
import (``torch._C._len_torch_dispatch_stack``, ``nn.modules.conv._ConvNd``), nn.Module's private stores
(``mod._parameters``) and torch's private class hooks (``_should_skip_dynamo``) fail the test outside compat.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archinspect"
COMPAT = PACKAGE / "core" / "compat.py"
# nn.Module's and Tensor's private attributes archinspect needs (reached through compat's functions).
PRIVATE_ATTRIBUTES = {"_parameters", "_buffers", "_modules", "_base", "_forward_hooks", "_forward_pre_hooks"}
# torch's private class hooks a subclass may define (compat.DispatchMode does).
PRIVATE_HOOKS = {"_should_skip_dynamo"}


def _private(name: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in name.split("."))


def private_torch_uses(source: str) -> list[str]:
    """``line: what`` for every private torch name the source reaches for."""
    tree = ast.parse(source)
    torch_names: set[str] = set()  # local names bound to torch or something imported from it
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "torch":
                    torch_names.add(alias.asname or "torch")
                    if _private(alias.name):
                        found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "torch":
            for alias in node.names:
                torch_names.add(alias.asname or alias.name)
                if _private(f"{node.module}.{alias.name}"):
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
    inside: set[ast.AST] = set()  # attribute nodes already seen as part of a longer path
    for node in ast.walk(tree):  # breadth first: a path's outermost attribute comes first
        if isinstance(node, ast.Attribute) and node not in inside:
            parts = [node.attr]
            inner = node.value
            while isinstance(inner, ast.Attribute):
                inside.add(inner)
                parts.append(inner.attr)
                inner = inner.value
            stores = [p for p in reversed(parts) if p in PRIVATE_ATTRIBUTES]
            if stores:
                found += [f"{node.lineno}: .{p}" for p in stores]
            elif isinstance(inner, ast.Name) and inner.id in torch_names and _private(".".join(parts)):
                found.append(f"{node.lineno}: {inner.id}.{'.'.join(reversed(parts))}")
        elif isinstance(node, ast.FunctionDef) and node.name in PRIVATE_HOOKS:
            found.append(f"{node.lineno}: def {node.name}")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


def _offenders(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        for use in private_torch_uses(path.read_text(encoding="utf-8")):
            out.append(f"{path.relative_to(PACKAGE.parent)}:{use}")
    return out


def test_no_module_outside_compat_uses_a_private_torch_name() -> None:
    offenders = _offenders([p for p in sorted(PACKAGE.rglob("*.py")) if p != COMPAT])
    assert not offenders, "private torch names outside archinspect/core/compat.py:\n" + "\n".join(offenders)


def test_compat_is_where_they_are() -> None:
    uses = private_torch_uses(COMPAT.read_text(encoding="utf-8"))
    assert any("_python_dispatch" in u for u in uses) and any("_should_skip_dynamo" in u for u in uses)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from torch.utils._python_dispatch import TorchDispatchMode\n", ["1: from torch.utils._python_dispatch"]),
        ("from torch.nn.modules.conv import _ConvNd\n", ["1: from torch.nn.modules.conv import _ConvNd"]),
        ("import torch._dynamo\n", ["1: import torch._dynamo"]),
        ("import torch\nn = torch._C._len_torch_dispatch_stack()\n", ["2: torch._C._len_torch_dispatch_stack"]),
        ("from torch import nn\nx = nn.modules.batchnorm._NormBase\n", ["2: nn.modules.batchnorm._NormBase"]),
        ("def f(m):\n    from torch import nn\n    return m._parameters\n", ["3: ._parameters"]),
        ("class M:\n    @classmethod\n    def _should_skip_dynamo(cls):\n        return False\n", ["3: def"]),
        ("import torch\nfrom torch import nn\nx = torch.ops.aten.mm\ny = nn.Linear(2, 2).__class__\n", []),
        ("from archinspect.core.compat import ConvNd\nclass A:\n    def _own(self):\n        return self._x\n", []),
    ],
)
def test_the_checker_sees_imports_attribute_paths_stores_and_hooks(source: str, expected: list[str]) -> None:
    uses = private_torch_uses(source)
    assert len(uses) == len(expected), uses
    assert all(u.startswith(e) for u, e in zip(uses, expected, strict=True)), uses


def test_dispatch_modes_never_import_dynamo() -> None:
    """compat.DispatchMode opts out of torch's dynamo wrapper: counting an operator imports no torch._dynamo."""
    code = (
        "import sys, torch\n"
        "from archinspect.core.counter import OpCounter\n"
        "from archinspect.core.memtrack import StorageTracker\n"
        "with OpCounter(lambda cost: None), StorageTracker(('meta',)):\n"
        "    torch.ones(2, 3, device='meta') @ torch.ones(3, 2, device='meta')\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
