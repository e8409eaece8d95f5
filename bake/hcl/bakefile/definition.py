"""The bake definition: ``target`` and ``group`` blocks on top of the engine's namespace.

The engine (``bake.hcl.engine.namespace``) merges and evaluates variables, globals and functions;
this layer collects the blocks bake adds (``target`` blocks accumulate, the last ``group`` of a name
wins), expands matrices, and hands the engine its hooks: the built-in variables and the ``target``
and ``group`` root objects (``references``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bake._record import record
from bake.errors import DefinitionError, SourceRange
from bake.hcl.bakefile.decode import decode_target
from bake.hcl.bakefile.matrix import Instance, expand
from bake.hcl.bakefile.references import GroupsObject, TargetsObject
from bake.hcl.engine import ast
from bake.hcl.engine.namespace import Namespace
from bake.model import Group, Target


@record
class SourceBody:
    file: str
    dir: str
    body: ast.Body


class Definition:
    """Evaluates a merged set of bake file bodies.

    ``overrides``: ``--var`` values; ``env``: the environment (for variable overrides);
    ``builtins``: ``BAKE_CMD_CONTEXT`` and ``BAKE_LOCAL_PLATFORM``.
    """

    def __init__(
        self,
        sources: list[SourceBody],
        env: Mapping[str, str],
        overrides: Mapping[str, str],
        builtins: Mapping[str, object],
        env_lookup: bool = True,
    ) -> None:
        self.namespace = Namespace(
            (src.body for src in sources), env, overrides, builtins,
            roots={"target": TargetsObject(self), "group": GroupsObject(self)}, env_lookup=env_lookup,
        )
        self.evaluator = self.namespace.evaluator
        self.scope = self.namespace.scope
        self.target_blocks: dict[str, list[tuple[ast.Block, str]]] = {}
        self.group_blocks: dict[str, ast.Block] = {}
        for src in sources:
            self._collect(src)
        self._instances: dict[str, list[Instance]] | None = None
        self._matrix_groups: dict[str, list[str]] = {}

    def _collect(self, src: SourceBody) -> None:
        for b in src.body.blocks:
            if b.type not in ("target", "group"):
                continue
            if len(b.labels) != 1:
                raise DefinitionError("Invalid block", f"invalid block label: [{' '.join(b.labels)}]", b.rng)
            label = b.labels[0]
            if not label:
                continue
            if b.type == "group":
                for bad in ("name", "matrix"):
                    if b.body.attribute(bad):
                        raise DefinitionError(f"{bad} is not supported for groups", rng=b.body.attribute(bad).rng)  # type: ignore[union-attr]
                self.group_blocks[label] = b
            else:
                self.target_blocks.setdefault(label, []).append((b, src.dir))

    def check(self) -> None:
        """buildx evaluates eagerly: every variable, its validations, every function and global."""
        self.namespace.check()

    # --- targets --------------------------------------------------------------------------------

    def instances(self) -> dict[str, list[Instance]]:
        """Every target name after matrix expansion → its blocks, in definition order."""
        if self._instances is None:
            out: dict[str, list[Instance]] = {}
            for label, blocks in self.target_blocks.items():
                for block, dir_ in blocks:
                    insts = expand(label, block, dir_, self.evaluator, self.scope)
                    names = [i.name for i in insts]
                    if names != [label]:
                        self._matrix_groups.setdefault(label, []).extend(names)
                    for inst in insts:
                        out.setdefault(inst.name, []).append(inst)
            self._instances = out
        return self._instances

    def matrix_groups(self) -> dict[str, list[str]]:
        self.instances()
        return self._matrix_groups

    def attribute(self, inst: Instance, attr: ast.Attribute) -> object:
        """An attribute of one target block, evaluated once (also for ``target.NAME.ATTR``)."""
        values = inst.values
        if attr.name in values:
            return values[attr.name]
        key = ("target", str(id(inst)), attr.name)
        in_progress = self.namespace.in_progress
        in_progress.enter(key, f"reference cycle not allowed for target.{inst.name}.{attr.name}", attr.rng)
        try:
            value = values[attr.name] = self.evaluator.eval(attr.expr, inst.scope)
        finally:
            in_progress.leave(key)
        return value

    def target(self, inst: Instance) -> Target:
        values = {}
        for attr in inst.block.body.attributes:
            if attr.name in ("matrix", "name"):
                continue
            values[attr.name] = (self.attribute(inst, attr), attr.rng)
        return decode_target(inst.name, values, inst.dir)

    # --- groups ---------------------------------------------------------------------------------

    def group_names(self) -> Collection[str]:
        return self.group_blocks.keys()

    def group_once(self, name: str, rng: SourceRange) -> Group:
        g = self.namespace.memo(("group", name), lambda: self.group(name), rng,
                                f"reference cycle not allowed for group.{name}")
        assert isinstance(g, Group)
        return g

    def group(self, name: str) -> Group:
        block = self.group_blocks[name]
        targets: list[str] = []
        desc = None
        t_attr = block.body.attribute("targets")
        if t_attr is not None:
            v = self.evaluator.eval(t_attr.expr, self.scope)
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise DefinitionError("Incorrect attribute value type", 'Inappropriate value for attribute "targets": list of string required.', t_attr.rng)
            targets = [x for x in v if isinstance(x, str)]
        d_attr = block.body.attribute("description")
        if d_attr is not None:
            dv = self.evaluator.eval(d_attr.expr, self.scope)
            desc = dv if isinstance(dv, str) else None
        return Group(name, tuple(targets), desc)

