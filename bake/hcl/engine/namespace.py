"""The top level of merged HCL bodies: ``variable`` blocks, top-level attributes ("globals") and
``function`` blocks, evaluated lazily.

Every body is merged into one namespace first (the last ``variable``, global or ``function`` of a
name wins), then names resolve on demand, each once; an in-progress set detects cycles. Other
block types belong to the host language and are left to it (bake's ``target`` and ``group``).

The host reaches in through two hooks, as buildx's ``hclparser`` does:

- ``builtins``: plain values the root scope serves before anything else (``BAKE_CMD_CONTEXT``);
- ``roots``: ``LazyObject``s the root scope serves last (bake's ``target`` and ``group``), whose
  attributes the host computes on access.

Both kinds of names are reserved: a variable or global of the same name is ignored.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Hashable, Iterable, Mapping

from bake.errors import DefinitionError, SourceRange, ValidationError
from bake.hcl.engine import ast
from bake.hcl.engine.cycles import InProgress
from bake.hcl.engine.eval import Evaluator, Function, LazyObject
from bake.hcl.engine.functions import STDLIB
from bake.hcl.engine.types import from_override, parse_type
from bake.hcl.engine.userfunc import UserFunction
from bake.hcl.engine.values import ConversionError, Type, convert, type_label


class Namespace:
    """Variables, globals and functions of merged bodies, with the root scope that serves them.

    ``env``: the environment and ``overrides``: ``--var`` values, both overriding variables
    (``env_lookup=False`` ignores the environment); ``builtins`` and ``roots``: the host's hooks.
    """

    def __init__(
        self,
        bodies: Iterable[ast.Body],
        env: Mapping[str, str],
        overrides: Mapping[str, str],
        builtins: Mapping[str, object],
        roots: Mapping[str, LazyObject],
        env_lookup: bool = True,
    ) -> None:
        self.env = env if env_lookup else {}
        self.overrides = overrides
        self.builtins = dict(builtins)
        self.roots = dict(roots)
        reserved = self.builtins.keys() | self.roots.keys()
        self.variables: dict[str, ast.Block] = {}
        self.globals: dict[str, ast.Attribute] = {}
        self.function_blocks: dict[str, ast.Block] = {}
        for body in bodies:
            for a in body.attributes:
                if a.name not in reserved:
                    self.globals[a.name] = a
            for b in body.blocks:
                label = b.labels[0] if b.labels else None
                if not label or label in reserved:
                    continue
                if b.type == "variable":
                    self.variables[label] = b
                elif b.type == "function":
                    self.function_blocks[label] = b
        self._values: dict[Hashable, object] = {}
        self.in_progress = InProgress()
        self.scope = RootScope(self)
        self.user_functions = {name: UserFunction(name, block, self.scope, self.in_progress)
                               for name, block in self.function_blocks.items()}
        functions: Mapping[str, Function] = ChainMap(self.user_functions, STDLIB)  # type: ignore[arg-type]
        self.evaluator = Evaluator(functions)

    def memo(self, key: Hashable, compute: Callable[[], object], rng: SourceRange | None, cycle: str) -> object:
        """``compute()`` once per ``key``; re-entering it while it runs is the error ``cycle``."""
        if key in self._values:
            return self._values[key]
        self.in_progress.enter(key, cycle, rng)
        try:
            value = compute()
        finally:
            self.in_progress.leave(key)
        self._values[key] = value
        return value

    # --- variables ------------------------------------------------------------------------------

    def variable(self, name: str) -> object:
        block = self.variables[name]
        return self.memo(("var", name), lambda: self._compute_variable(name, block), block.rng,
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
            self._validate(self.variables[name])

    def _validate(self, block: ast.Block) -> None:
        for v in block.body.blocks:
            if v.type != "validation":
                continue
            cond_attr = v.body.attribute("condition")
            if cond_attr is None:
                continue
            scope = self.scope
            cond = self.evaluator.eval(cond_attr.expr, scope)
            if cond is None:
                raise ValidationError("Invalid condition result", "Condition expression must return either true or false, not null.", cond_attr.expr.rng)
            if not isinstance(cond, bool):
                raise ValidationError("Invalid condition result value", "a bool is required", cond_attr.expr.rng)
            if cond:
                continue
            msg_attr = v.body.attribute("error_message")
            message = "This check failed, but has an invalid error message."
            if msg_attr is not None:  # an error in the message itself is reported, as buildx does
                m = self.evaluator.eval(msg_attr.expr, scope)
                if isinstance(m, str):
                    message = m
            raise ValidationError("Validation failed", message, cond_attr.expr.rng)  # the condition, as buildx points at it

    # --- globals and the whole namespace ----------------------------------------------------------

    def global_value(self, name: str) -> object:
        attr = self.globals[name]
        return self.memo(("global", name), lambda: self.evaluator.eval(attr.expr, self.scope), attr.rng,
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


_UNSET = object()


class RootScope:
    """The top-level scope: builtins, then variables, then globals, then the host's roots."""

    __slots__ = ("ns",)

    def __init__(self, ns: Namespace) -> None:
        self.ns = ns

    def lookup(self, name: str, rng: SourceRange) -> object:
        ns = self.ns
        if name in ns.builtins:
            return ns.builtins[name]
        if name in ns.variables:
            value = ns._values.get(("var", name), _UNSET)  # resolved already: skip the memo machinery
            return ns.variable(name) if value is _UNSET else value
        if name in ns.globals:
            return ns.global_value(name)
        root = ns.roots.get(name)
        if root is not None:
            return root
        raise KeyError(name)
