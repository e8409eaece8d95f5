"""A leading underscore means "this module's own": no module of bake imports another's private name
(a helper two modules need gets a public name in the module that owns it)."""

from __future__ import annotations

import ast
from pathlib import Path

import bake


def test_no_module_imports_another_modules_private_name() -> None:
    root = Path(bake.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bake"):
                found += [f"{path.relative_to(root)}:{node.lineno}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []
