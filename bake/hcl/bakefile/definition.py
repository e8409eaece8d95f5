"""The merged bake definition, evaluated lazily: variables, globals, functions, groups, targets.

All files are merged into one namespace first (last ``variable``/global/``function``/``group``
wins; ``target`` blocks accumulate), then names resolve on demand. An in-progress set detects
cycles; each value is computed once.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import ChainMap
from collections.abc import Mapping

from bake._record import record
from bake.errors import DefinitionError, SourceRange, ValidationError
from bake.hcl.bakefile.decode import decode_target
from bake.hcl.bakefile.references import GroupsObject, TargetsObject
from bake.hcl.engine import ast
from bake.hcl.engine.eval import Evaluator, MapScope, Scope
from bake.hcl.engine.functions import STDLIB
from bake.hcl.engine.types import from_override, parse_type
from bake.hcl.engine.userfunc import UserFunction
from bake.hcl.engine.values import ConversionError, Type, convert, type_label
from bake.model import Group, Target

NAME_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
MAX_MATRIX = 10_000
"""How many targets one ``matrix`` may make (the product of its value lists' lengths)."""
RESERVED = frozenset({"BAKE_CMD_CONTEXT", "BAKE_LOCAL_PLATFORM", "target", "group"})


@record
class SourceBody:
    file: str
    dir: str
    body: ast.Body


@record
class Instance:
    """One target block, after matrix expansion: its name, the scope its attributes see (the matrix
    values over the root scope) and the attribute values computed so far."""

    name: str
    block: ast.Block
    dir: str
    scope: Scope
    values: dict[str, object]


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
        self.env = env if env_lookup else {}
        self.overrides = overrides
        self.builtins = dict(builtins)
        self.variables: dict[str, ast.Block] = {}
        self.globals: dict[str, ast.Attribute] = {}
        self.function_blocks: dict[str, ast.Block] = {}
        self.target_blocks: dict[str, list[tuple[ast.Block, str]]] = {}
        self.group_blocks: dict[str, ast.Block] = {}
        for src in sources:
            self._collect(src)
        self._values: dict[tuple[str, ...], object] = {}
        self._in_progress: set[tuple[str, ...]] = set()
        self.user_functions = {name: UserFunction(self, name, block) for name, block in self.function_blocks.items()}
        self.evaluator = Evaluator(ChainMap(self.user_functions, STDLIB))  # type: ignore[arg-type]
        self.scope = _RootScope(self)
        self._instances: dict[str, list[Instance]] | None = None
        self._matrix_groups: dict[str, list[str]] = {}

    def _collect(self, src: SourceBody) -> None:
        for a in src.body.attributes:
            if a.name not in RESERVED:
                self.globals[a.name] = a
        for b in src.body.blocks:
            if b.type in ("target", "group") and len(b.labels) != 1:
                raise DefinitionError("Invalid block", f"invalid block label: [{' '.join(b.labels)}]", b.rng)
            label = b.labels[0] if b.labels else None
            if b.type == "variable" and label and label not in RESERVED:
                self.variables[label] = b
            elif b.type == "function" and label and label not in RESERVED:
                self.function_blocks[label] = b
            elif b.type == "group" and label:
                for bad in ("name", "matrix"):
                    if b.body.attribute(bad):
                        raise DefinitionError(f"{bad} is not supported for groups", rng=b.body.attribute(bad).rng)  # type: ignore[union-attr]
                self.group_blocks[label] = b
            elif b.type == "target" and label:
                self.target_blocks.setdefault(label, []).append((b, src.dir))

    # --- lazy values with cycle detection -------------------------------------------------------

    def _memo(self, key: tuple[str, ...], compute: object, rng: SourceRange | None, cycle: str) -> object:
        if key in self._values:
            return self._values[key]
        if key in self._in_progress:
            raise DefinitionError(cycle, rng=rng)
        self._in_progress.add(key)
        try:
            value = compute()  # type: ignore[operator]
        finally:
            self._in_progress.discard(key)
        self._values[key] = value
        return value

    def variable(self, name: str) -> object:
        block = self.variables[name]
        return self._memo(("var", name), lambda: self._compute_variable(name, block), block.rng,
                          f"variable cycle not allowed for {name}")

    def variable_type(self, name: str) -> Type | None:
        t = self.variables[name].body.attribute("type")
        return parse_type(t.expr) if t else None

    def _lookup_override(self, name: str) -> str | None:
        """``--var`` beats the environment (unless env lookup is disabled)."""
        if name in self.overrides:
            return self.overrides[name]
        return self.env.get(name)

    def _override(self, name: str, favor_json: bool) -> tuple[str | None, bool]:
        """(override text, is JSON): ``NAME_JSON`` counts when ``NAME`` is unset or the variable is typed,
        unless a variable or built-in is itself called ``NAME_JSON``."""
        text = self._lookup_override(name)
        json_name = name + "_JSON"
        if (text is None or favor_json) and json_name not in self.variables and json_name not in self.builtins:
            json_text = self._lookup_override(json_name)
            if json_text is not None:
                return json_text, True
        return text, False

    def _compute_variable(self, name: str, block: ast.Block) -> object:
        # A global attribute of the same name is the default, untyped (buildx); env still overrides.
        default_expr: ast.Expr | None
        if name in self.globals:
            t, default_expr = None, self.globals[name].expr
        else:
            t = self.variable_type(name)
            default_attr = block.body.attribute("default")
            default_expr = default_attr.expr if default_attr is not None else None
        text, is_json = self._override(name, t is not None)
        if default_expr is None and text is None:
            return None if t is not None else ""
        value: object = None
        if default_expr is not None:
            value = self.evaluator.eval(default_expr, self.scope)
            if t is not None:
                try:
                    value = convert(value, t)
                except ConversionError as err:
                    raise DefinitionError(
                        f"invalid type {type_label(t)} for variable {name} default value", str(err), default_expr.rng
                    ) from None
        if text is not None:
            try:
                value = from_override(name, text, t, default_expr is not None, value, is_json)
            except DefinitionError as err:
                raise err.located(block.rng) from None
        return value

    def validate_variables(self) -> None:
        """Run every ``validation`` block, after all variables resolved (as buildx does)."""
        for name in self.variables:
            self._validate(name, self.variables[name])

    def _validate(self, name: str, block: ast.Block) -> None:
        for v in block.body.blocks:
            if v.type != "validation":
                continue
            cond_attr = v.body.attribute("condition")
            if cond_attr is None:
                continue
            scope = self.scope
            cond = self.evaluator.eval(cond_attr.expr, scope)
            if cond is None:
                raise ValidationError("Invalid condition result", "Condition expression must return either true or false, not null.", cond_attr.rng)
            if not isinstance(cond, bool):
                raise ValidationError("Invalid condition result value", "a bool is required", cond_attr.rng)
            if cond:
                continue
            msg_attr = v.body.attribute("error_message")
            message = "This check failed, but has an invalid error message."
            if msg_attr is not None:  # an error in the message itself is reported, as buildx does
                m = self.evaluator.eval(msg_attr.expr, scope)
                if isinstance(m, str):
                    message = m
            raise ValidationError("Validation failed", message, cond_attr.rng)

    def global_value(self, name: str) -> object:
        attr = self.globals[name]
        return self._memo(("global", name), lambda: self.evaluator.eval(attr.expr, self.scope), attr.rng,
                          f"variable cycle not allowed for {name}")

    def check(self) -> None:
        """buildx evaluates eagerly: every variable, its validations, every function and global."""
        for name in self.variables:
            self.variable(name)
        self.validate_variables()
        for fn in self.user_functions.values():
            fn.check()
        for name in self.globals:
            self.global_value(name)

    # --- targets and groups -------------------------------------------------------------------

    def instances(self) -> dict[str, list[Instance]]:
        """Every target name after matrix expansion → its blocks, in definition order."""
        if self._instances is None:
            out: dict[str, list[Instance]] = {}
            for label, blocks in self.target_blocks.items():
                for block, dir_ in blocks:
                    for inst in self._expand(label, block, dir_):
                        out.setdefault(inst.name, []).append(inst)
            self._instances = out
        return self._instances

    def matrix_groups(self) -> dict[str, list[str]]:
        self.instances()
        return self._matrix_groups

    def _expand(self, label: str, block: ast.Block, dir_: str) -> list[Instance]:
        if not NAME_RE.match(label):
            raise DefinitionError("Invalid name", 'only "[a-zA-Z0-9_-]+" are allowed', block.rng)
        matrix_attr = block.body.attribute("matrix")
        name_attr = block.body.attribute("name")
        if matrix_attr is None:
            if name_attr is not None:
                raise DefinitionError("name requires matrix", rng=name_attr.rng)
            return [Instance(label, block, dir_, self.scope, {})]
        matrix = self.evaluator.eval(matrix_attr.expr, self.scope)
        if not isinstance(matrix, dict):
            raise DefinitionError("matrix must be a map", rng=matrix_attr.rng)
        keys = sorted(matrix)
        for k in keys:
            if not isinstance(matrix[k], list):
                raise DefinitionError("matrix values must be a list", rng=matrix_attr.rng)
        count = math.prod(len(matrix[k]) for k in keys)
        if count > MAX_MATRIX:
            sizes = " × ".join(f"{k} ({len(matrix[k])})" for k in keys)
            raise DefinitionError("Matrix too large", f"{sizes} make {count} targets; a matrix may make at most "
                                  f"{MAX_MATRIX} (bake's limit).", matrix_attr.rng)
        combos = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(matrix[k] for k in keys))]
        out: list[Instance] = []
        seen: set[str] = set()
        for combo in combos:
            if name_attr is None:
                name = label
            else:
                value = self.evaluator.eval(name_attr.expr, MapScope(combo, self.scope))
                if not isinstance(value, str):
                    raise DefinitionError("Invalid name", "name must be a string", name_attr.rng)
                name = value
            if not NAME_RE.match(name):
                raise DefinitionError("Invalid name", f'"{name}": only "[a-zA-Z0-9_-]+" are allowed', (name_attr or matrix_attr).rng)
            if name in seen:
                raise DefinitionError(f'duplicate name "{name}"', rng=(name_attr or matrix_attr).rng)
            seen.add(name)
            out.append(Instance(name, block, dir_, MapScope(combo, self.scope), {}))
        names = [i.name for i in out]
        if names != [label]:
            self._matrix_groups.setdefault(label, []).extend(names)
        return out

    def attribute(self, inst: Instance, attr: ast.Attribute) -> object:
        """An attribute of one target block, evaluated once (also for ``target.NAME.ATTR``)."""
        values = inst.values
        if attr.name in values:
            return values[attr.name]
        key = ("target", str(id(inst)), attr.name)
        if key in self._in_progress:
            raise DefinitionError(f"reference cycle not allowed for target.{inst.name}.{attr.name}", rng=attr.rng)
        self._in_progress.add(key)
        try:
            value = values[attr.name] = self.evaluator.eval(attr.expr, inst.scope)
        finally:
            self._in_progress.discard(key)
        return value

    def target(self, inst: Instance) -> Target:
        values = {}
        for attr in inst.block.body.attributes:
            if attr.name in ("matrix", "name"):
                continue
            values[attr.name] = (self.attribute(inst, attr), attr.rng)
        return decode_target(inst.name, values, inst.dir)

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


_UNSET = object()


class _RootScope:
    __slots__ = ("defn", "groups", "targets")

    def __init__(self, defn: Definition) -> None:
        self.defn = defn
        self.targets = TargetsObject(defn)
        self.groups = GroupsObject(defn)

    def lookup(self, name: str, rng: SourceRange) -> object:
        d = self.defn
        if name in d.builtins:
            return d.builtins[name]
        if name in d.variables:
            value = d._values.get(("var", name), _UNSET)  # resolved already: skip the memo machinery
            return d.variable(name) if value is _UNSET else value
        if name in d.globals:
            return d.global_value(name)
        if name == "target":
            return self.targets
        if name == "group":
            return self.groups
        raise KeyError(name)
