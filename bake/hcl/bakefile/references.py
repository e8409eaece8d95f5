"""``target.NAME.ATTR`` and ``group.NAME.ATTR``: lazy objects the root scope hands out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bake.errors import DefinitionError, SourceRange
from bake.hcl.bakefile.decode import decode_target
from bake.hcl.engine.eval import LazyObject
from bake.model import Group

if TYPE_CHECKING:
    from bake.hcl.bakefile.definition import Definition, Instance


class TargetsObject(LazyObject):
    def __init__(self, defn: Definition) -> None:
        self.defn = defn

    def attr(self, name: str, rng: SourceRange) -> object:
        insts = self.defn.instances().get(name)
        if not insts:
            raise DefinitionError("Unsupported attribute", f'This object does not have an attribute named "{name}".', rng)
        return _TargetRef(self.defn, insts)


class GroupsObject(LazyObject):
    """``group.NAME.targets`` / ``group.NAME.description``."""

    def __init__(self, defn: Definition) -> None:
        self.defn = defn

    def attr(self, name: str, rng: SourceRange) -> object:
        if name not in self.defn.group_blocks:
            raise DefinitionError("Unsupported attribute", f'This object does not have an attribute named "{name}".', rng)
        g = self.defn._memo(("group", name), lambda: self.defn.group(name), rng,
                            f"reference cycle not allowed for group.{name}")
        assert isinstance(g, Group)
        return {"name": g.name, "targets": list(g.targets), "description": g.description}


class _TargetRef(LazyObject):
    """``target.NAME``: the target's own attributes (no inheritance, no overrides)."""

    def __init__(self, defn: Definition, insts: list[Instance]) -> None:
        self.defn = defn
        self.insts = insts

    def attr(self, name: str, rng: SourceRange) -> object:
        if name == "name":
            return self.insts[0].name
        for inst in reversed(self.insts):
            a = inst.block.body.attribute(name)
            if a is not None:
                value = self.defn.attribute(inst, a)
                return _reference_form(name, value, a.rng)
        return None


def _reference_form(name: str, value: object, rng: SourceRange) -> object:
    """Composite attributes are seen through references as lists of objects, as buildx does."""
    if name not in ("output", "cache-from", "cache-to", "secret", "ssh", "attest") or not isinstance(value, list):
        return value
    from bake.hcl.bakefile.printer import entry_json

    t = decode_target("ref", {name: (value, rng)}, None)
    return [entry_json(e) for e in getattr(t, name.replace("-", "_")) or ()]
