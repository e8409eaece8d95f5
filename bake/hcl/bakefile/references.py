"""``target.NAME.ATTR`` and ``group.NAME.ATTR``: the lazy objects bake adds to the engine's root scope.

They read the definition through ``Blocks``, so they never import it (the definition makes them).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from bake.errors import DefinitionError, SourceRange
from bake.hcl.bakefile.decode import decode_target
from bake.hcl.bakefile.matrix import Instance
from bake.hcl.engine import ast
from bake.hcl.engine.eval import LazyObject
from bake.model import Group


class Blocks(Protocol):
    """The bake definition as references see it: target instances with their own attributes
    (evaluated once each), and groups (evaluated once each, a cycle being an error at ``rng``)."""

    def instances(self) -> dict[str, list[Instance]]: ...

    def attribute(self, inst: Instance, attr: ast.Attribute) -> object: ...

    def group_names(self) -> Collection[str]: ...

    def group_once(self, name: str, rng: SourceRange) -> Group: ...


class TargetsObject(LazyObject):
    def __init__(self, blocks: Blocks) -> None:
        self.blocks = blocks

    def attr(self, name: str, rng: SourceRange) -> object:
        insts = self.blocks.instances().get(name)
        if not insts:
            raise DefinitionError("Unsupported attribute", f'This object does not have an attribute named "{name}".', rng)
        return _TargetRef(self.blocks, insts)


class GroupsObject(LazyObject):
    """``group.NAME.targets`` / ``group.NAME.description``."""

    def __init__(self, blocks: Blocks) -> None:
        self.blocks = blocks

    def attr(self, name: str, rng: SourceRange) -> object:
        if name not in self.blocks.group_names():
            raise DefinitionError("Unsupported attribute", f'This object does not have an attribute named "{name}".', rng)
        g = self.blocks.group_once(name, rng)
        return {"name": g.name, "targets": list(g.targets), "description": g.description}


class _TargetRef(LazyObject):
    """``target.NAME``: the target's own attributes (no inheritance, no overrides)."""

    def __init__(self, blocks: Blocks, insts: list[Instance]) -> None:
        self.blocks = blocks
        self.insts = insts

    def attr(self, name: str, rng: SourceRange) -> object:
        if name == "name":
            return self.insts[0].name
        for inst in reversed(self.insts):
            a = inst.block.body.attribute(name)
            if a is not None:
                value = self.blocks.attribute(inst, a)
                return _reference_form(name, value, a.rng)
        return None


def _reference_form(name: str, value: object, rng: SourceRange) -> object:
    """Composite attributes are seen through references as lists of objects, as buildx does."""
    if name not in ("output", "cache-from", "cache-to", "secret", "ssh", "attest") or not isinstance(value, list):
        return value
    from bake.hcl.bakefile.printer import entry_json

    t = decode_target("ref", {name: (value, rng)}, None)
    return [entry_json(e) for e in getattr(t, name.replace("-", "_")) or ()]
