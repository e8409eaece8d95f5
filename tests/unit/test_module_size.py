"""STYLE.md's size habit, kept: no module of bake is over 400 lines (split by feature when one
grows); the generated protobuf modules are not written by hand and do not count."""

from __future__ import annotations

from pathlib import Path

import bake

LIMIT = 400


def test_no_module_is_over_the_limit() -> None:
    root = Path(bake.__file__).parent
    over = {str(p.relative_to(root)): n for p in sorted(root.rglob("*.py"))
            if "proto" not in p.relative_to(root).parts and (n := len(p.read_text().splitlines())) > LIMIT}
    assert over == {}
