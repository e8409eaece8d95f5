"""The expression evaluator: ``ast.Expr`` + ``Scope`` → value, with HCL's semantics and messages."""

from __future__ import annotations

import decimal
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from bake.errors import DefinitionError, SourceRange
from bake.hcl.engine import ast
from bake.hcl.engine.values import (
    CTX,
    MAX_STRING_LENGTH,
    ConversionError,
    equal,
    is_number,
    normalize_number,
    remainder,
    to_bool,
    to_number,
    to_string,
    too_large,
    type_name,
    unify_with,
)


class Function(Protocol):
    """A callable bake function; raises ``FunctionError`` for bad arguments."""

    def __call__(self, ctx: Evaluator, args: list[object], rng: SourceRange) -> object: ...


class FunctionError(Exception):
    """A function rejected its arguments; ``arg`` is the index of the argument at fault, if any.

    Bodies raise it with a bare message; the registry in ``functions/`` rewraps it with HCL's
    summary (``Error in function call``) and detail (``Call to function "f" failed: …``).
    """

    def __init__(self, message: str, arg: int | None = None, summary: str = "") -> None:
        super().__init__(message)
        self.arg = arg
        self.summary = summary


class Scope(Protocol):
    """Resolves a bare name; raises ``KeyError`` when unknown."""

    def lookup(self, name: str, rng: SourceRange) -> object: ...


class LazyObject(ABC):
    """An object whose attributes are computed on access (``target.NAME.ATTR``)."""

    @abstractmethod
    def attr(self, name: str, rng: SourceRange) -> object:
        """The attribute ``name``; raises ``DefinitionError`` (at ``rng``) when there is none."""


class MapScope:
    """Names from a mapping, falling back to ``parent``."""

    __slots__ = ("parent", "values")

    def __init__(self, values: Mapping[str, object], parent: Scope | None = None) -> None:
        self.values = values
        self.parent = parent

    def lookup(self, name: str, rng: SourceRange) -> object:
        if name in self.values:
            return self.values[name]
        if self.parent is None:
            raise KeyError(name)
        return self.parent.lookup(name, rng)


def _err(summary: str, detail: str, rng: SourceRange) -> DefinitionError:
    return DefinitionError(summary, detail, rng)


class Evaluator:
    """Evaluates expressions against a scope and a function table."""

    def __init__(self, functions: Mapping[str, Function]) -> None:
        self.functions = functions
        self._dispatch: dict[type, Callable[[object, Scope], object]] = {
            ast.Literal: lambda e, s: e.value,  # type: ignore[attr-defined]
            ast.Var: self._var,  # type: ignore[dict-item]
            ast.Template: self._template,  # type: ignore[dict-item]
            ast.TupleExpr: lambda e, s: [self.eval(i, s) for i in e.items],  # type: ignore[attr-defined]
            ast.ObjectExpr: self._object,  # type: ignore[dict-item]
            ast.GetAttr: self._getattr,  # type: ignore[dict-item]
            ast.Index: self._index,  # type: ignore[dict-item]
            ast.Splat: self._splat,  # type: ignore[dict-item]
            ast.Call: self._call,  # type: ignore[dict-item]
            ast.Unary: self._unary,  # type: ignore[dict-item]
            ast.Binary: self._binary,  # type: ignore[dict-item]
            ast.Conditional: self._conditional,  # type: ignore[dict-item]
            ast.ForExpr: self._for,  # type: ignore[dict-item]
        }

    def eval(self, e: ast.Expr, scope: Scope) -> object:
        return self._dispatch[type(e)](e, scope)

    # --- names and traversal ----------------------------------------------------------------

    def _var(self, e: ast.Var, scope: Scope) -> object:
        try:
            return scope.lookup(e.name, e.rng)
        except KeyError:
            raise _err("Unknown variable", f'There is no variable named "{e.name}".', e.rng) from None

    def _getattr(self, e: ast.GetAttr, scope: Scope) -> object:
        return self.get_attr(self.eval(e.obj, scope), e.name, e.rng)

    def get_attr(self, obj: object, name: str, rng: SourceRange) -> object:
        if isinstance(obj, LazyObject):
            return obj.attr(name, rng)
        if isinstance(obj, dict):
            if name not in obj:
                raise _err("Unsupported attribute", f'This object does not have an attribute named "{name}".', rng)
            return obj[name]
        if isinstance(obj, list) and name.isdigit():
            return self.index(obj, int(name), rng)
        if obj is None:
            raise _err("Attempt to get attribute from null value", "This value is null, so it does not have any attributes.", rng)
        raise _err("Unsupported attribute", f"Can't access attributes on a primitive-typed value ({type_name(obj)}).", rng)

    def _index(self, e: ast.Index, scope: Scope) -> object:
        return self.index(self.eval(e.obj, scope), self.eval(e.key, scope), e.rng)

    def index(self, obj: object, key: object, rng: SourceRange) -> object:
        if isinstance(obj, LazyObject):
            return obj.attr(to_string(key), rng)
        if obj is None:
            raise _err("Attempt to index null value", "This value is null, so it does not have any indices.", rng)
        if isinstance(obj, list):
            try:
                n = to_number(key)
            except ConversionError:
                raise _err("Invalid index", "The given key does not identify an element in this collection value: a number is required.", rng) from None
            if not isinstance(n, int) or n < 0 or n >= len(obj):
                raise _err("Invalid index", "The given key does not identify an element in this collection value.", rng)
            return obj[n]
        if isinstance(obj, dict):
            try:
                k = to_string(key)
            except ConversionError:
                raise _err("Invalid index", "The given key does not identify an element in this collection value: string required.", rng) from None
            if k not in obj:
                raise _err("Invalid index", "The given key does not identify an element in this collection value.", rng)
            return obj[k]
        raise _err("Invalid index", f"This value does not have any indices ({type_name(obj)}).", rng)

    def _splat(self, e: ast.Splat, scope: Scope) -> object:
        src = self.eval(e.obj, scope)
        if src is None:
            return []
        items = src if isinstance(src, list) else [src]
        out = []
        for item in items:
            v = item
            for kind, arg in e.each:
                if kind == "attr":
                    v = self.get_attr(v, str(arg), e.rng)
                else:
                    v = self.index(v, self.eval(arg, scope), e.rng)  # type: ignore[arg-type]
            out.append(v)
        return out

    # --- constructors -----------------------------------------------------------------------

    def _object(self, e: ast.ObjectExpr, scope: Scope) -> object:
        out: dict[str, object] = {}
        for k, v in e.items:
            key = self.eval(k, scope)
            if key is None:
                raise _err("Invalid object key", "Key expression result must not be null.", k.rng)
            try:
                out[to_string(key)] = self.eval(v, scope)
            except ConversionError as err:
                raise _err("Incorrect key type", f"Can't use this value as a key: {err}.", k.rng) from None
        return out

    def _template(self, e: ast.Template, scope: Scope) -> object:
        parts = e.parts
        if len(parts) == 1 and isinstance(parts[0], ast.Interp):
            return self.eval(parts[0].expr, scope)  # HCL's template wrap: the raw value
        if len(parts) == 1 and isinstance(parts[0], str):
            return parts[0]
        buf: list[str] = []
        self._render(parts, scope, buf)
        size = sum(map(len, buf))
        if size > MAX_STRING_LENGTH:  # counted before joining: "${x}${x}" doubles per step
            raise _err("Value too large", f"This template makes {size} characters; a string may hold at most "
                       f"{MAX_STRING_LENGTH} (bake's limit on one value).", e.rng)
        return "".join(buf)

    def _render(self, parts: tuple[ast.TemplatePart, ...], scope: Scope, buf: list[str]) -> None:
        for p in parts:
            if isinstance(p, str):
                buf.append(p)
            elif isinstance(p, ast.Interp):
                v = self.eval(p.expr, scope)
                buf.append(v if type(v) is str else self.interpolate(v, p.rng))
            elif isinstance(p, ast.TemplateIf):
                cond = self.eval(p.cond, scope)
                try:
                    ok = to_bool(cond)
                except ConversionError:
                    raise _err("Invalid template if condition", f"The condition must be a bool, not {type_name(cond)}.", p.rng) from None
                self._render(p.then if ok else p.otherwise, scope, buf)
            else:
                coll = self.eval(p.collection, scope)
                for k, v in self.iterate(coll, p.rng):
                    names = {p.value_var: v}
                    if p.key_var:
                        names[p.key_var] = k
                    self._render(p.body, MapScope(names, scope), buf)

    def interpolate(self, v: object, rng: SourceRange) -> str:
        if v is None:
            raise _err("Invalid template interpolation value", "The expression result is null. Cannot include a null value in a string template.", rng)
        try:
            return to_string(v)
        except ConversionError as err:
            raise _err("Invalid template interpolation value", f"Cannot include the given value in a string template: {err}.", rng) from None

    # --- operators --------------------------------------------------------------------------

    def _unary(self, e: ast.Unary, scope: Scope) -> object:
        v = self.eval(e.operand, scope)
        if e.op == "!":
            return not self._operand(to_bool, v, e.operand.rng, "bool")
        n = self._operand(to_number, v, e.operand.rng, "number")
        assert isinstance(n, (int, Decimal))
        return normalize_number(-n)

    def _operand(self, conv: Callable[[object], object], v: object, rng: SourceRange, want: str) -> object:
        if v is None:
            raise _err("Invalid operand", f"Unsuitable value for operand: a {want} is required, but got null.", rng)
        try:
            return conv(v)
        except ConversionError:
            raise _err("Invalid operand", f"Unsuitable value for operand: a {want} is required.", rng) from None

    def _binary(self, e: ast.Binary, scope: Scope) -> object:
        op = e.op
        if op in ("&&", "||"):
            a = self._operand(to_bool, self.eval(e.left, scope), e.left.rng, "bool")
            b = self._operand(to_bool, self.eval(e.right, scope), e.right.rng, "bool")
            return (a and b) if op == "&&" else (a or b)
        left = self.eval(e.left, scope)
        right = self.eval(e.right, scope)
        if op == "==":
            return equal(left, right)
        if op == "!=":
            return not equal(left, right)
        x = self._operand(to_number, left, e.left.rng, "number")
        y = self._operand(to_number, right, e.right.rng, "number")
        assert is_number(x) and is_number(y)
        dx, dy = Decimal(x), Decimal(y)  # type: ignore[arg-type]
        if op == "<":
            return dx < dy
        if op == ">":
            return dx > dy
        if op == "<=":
            return dx <= dy
        if op == ">=":
            return dx >= dy
        if dy == 0 and op in ("/", "%"):
            raise _err("Operation failed", "Error during operation: can't divide by zero.", e.rng)
        try:
            if op == "+":
                return normalize_number(CTX.add(dx, dy))
            if op == "-":
                return normalize_number(CTX.subtract(dx, dy))
            if op == "*":
                return normalize_number(CTX.multiply(dx, dy))
            if op == "/":
                return normalize_number(CTX.divide(dx, dy))
            return remainder(dx, dy)
        except decimal.Overflow:
            raise _err("Operation failed", "Error during operation: the result is too large to represent "
                       f"(numbers range up to {CTX.Emax} decimal digits).", e.rng) from None
        except decimal.DecimalException:
            raise _err("Operation failed", "Error during operation: the result is not a number.", e.rng) from None

    def _conditional(self, e: ast.Conditional, scope: Scope) -> object:
        c = self.eval(e.cond, scope)
        if c is None:
            raise _err("Null condition", "The condition value is null. Conditions must either be true or false.", e.cond.rng)
        try:
            ok = to_bool(c)
        except ConversionError:
            raise _err("Incorrect condition type", f"The condition expression must be of type bool, not {type_name(c)}.", e.cond.rng) from None
        value = self.eval(e.if_true if ok else e.if_false, scope)
        if isinstance(value, (list, str, bool)) or is_number(value):
            try:  # HCL evaluates both branches and unifies their types; errors of the other are not reported
                other = self.eval(e.if_false if ok else e.if_true, scope)
            except DefinitionError:
                other = None
            return unify_with(value, other)
        return value

    # --- for expressions and calls ----------------------------------------------------------

    def iterate(self, coll: object, rng: SourceRange) -> list[tuple[object, object]]:
        if isinstance(coll, list):
            return list(enumerate(coll))
        if isinstance(coll, dict):
            return sorted(coll.items())
        if coll is None:
            raise _err("Iteration over null value", "A null value cannot be used as the collection in a 'for' expression.", rng)
        raise _err("Iteration over non-iterable value", f"A value of type {type_name(coll)} cannot be used as the collection in a 'for' expression.", rng)

    def _for(self, e: ast.ForExpr, scope: Scope) -> object:
        pairs = self.iterate(self.eval(e.collection, scope), e.collection.rng)
        tuple_out: list[object] = []
        obj_out: dict[str, object] = {}
        for k, v in pairs:
            names = {e.value_var: v}
            if e.key_var:
                names[e.key_var] = k
            inner = MapScope(names, scope)
            if e.cond is not None:
                c = self.eval(e.cond, inner)
                try:
                    if not to_bool(c):
                        continue
                except ConversionError:
                    raise _err("Invalid 'for' condition", "The 'if' clause value is invalid: a bool is required.", e.cond.rng) from None
            value = self.eval(e.value, inner)
            if e.key is None:
                tuple_out.append(value)
                continue
            key = self.eval(e.key, inner)
            try:
                ks = to_string(key)
            except ConversionError:
                raise _err("Invalid object key", "The key expression produced an invalid result: string required.", e.key.rng) from None
            if e.group:
                obj_out.setdefault(ks, [])
                obj_out[ks].append(value)  # type: ignore[attr-defined]
            elif ks in obj_out:
                raise _err("Duplicate object key", f'Two different items produced the key "{ks}" in this \'for\' expression. '
                           "If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key.", e.key.rng)
            else:
                obj_out[ks] = value
        return tuple_out if e.key is None else obj_out

    def _call(self, e: ast.Call, scope: Scope) -> object:
        fn = self.functions.get(e.name)
        if fn is None:
            raise _err("Call to unknown function", f'There is no function named "{e.name}".', e.rng)
        lazy = getattr(fn, "lazy", None)
        if lazy is not None:  # try(), can(), convert() see their argument expressions
            return lazy(self, e, scope)
        args = [self.eval(a, scope) for a in e.args]
        if e.expand_last:
            last = args.pop() if args else None
            if not isinstance(last, list):
                raise _err("Invalid expanding argument value", "The expanding argument (indicated by ...) must be of a tuple, list, or set type.", e.args[-1].rng)
            args.extend(last)
        try:
            result = fn(self, args, e.rng)
        except FunctionError as err:
            rng = e.args[err.arg].rng if err.arg is not None and err.arg < len(e.args) else e.rng
            raise _err(err.summary or "Error in function call", str(err), rng) from None
        except (ArithmeticError, ValueError) as err:  # a numeric edge a function did not foresee
            raise _err("Error in function call", f'Call to function "{e.name}" failed: {err}.', e.rng) from None
        why = too_large(result)
        if why is not None:
            raise _err("Value too large", f'The result of "{e.name}" has {why}.', e.rng)
        return result

