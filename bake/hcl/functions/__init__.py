"""The function library of bake files: every function buildx v0.36 registers, by name."""

from __future__ import annotations

from bake.hcl.eval import Function
from bake.hcl.functions import collections, datetime, encoding, net, numeric, strings

STDLIB: dict[str, Function] = {}
for _module in (collections, datetime, encoding, net, numeric, strings):
    STDLIB.update(_module.lib.table)

__all__ = ["STDLIB"]
