"""Variable types: type expressions (``list(string)``) and typed parsing of override strings."""

from __future__ import annotations

import json
from decimal import Decimal

from bake.errors import DefinitionError
from bake.hcl.engine import ast
from bake.hcl.engine.strconv import FlagError, csv_fields, parse_go_bool
from bake.hcl.engine.values import ANY, ConversionError, Type, convert, from_json, parse_number, type_label


def parse_type(e: ast.Expr) -> Type:
    """A literal type expression; anything else is ``not a valid type``."""
    if isinstance(e, ast.Var) and e.name in ("string", "number", "bool", "any"):
        return (e.name,)
    if isinstance(e, ast.Call) and len(e.args) == 1 and not e.expand_last:
        arg = e.args[0]
        if e.name in ("list", "set", "map"):
            return (e.name, parse_type(arg))
        if e.name == "tuple" and isinstance(arg, ast.TupleExpr):
            return ("tuple", tuple(parse_type(x) for x in arg.items))
        if e.name == "object" and isinstance(arg, ast.ObjectExpr):
            attrs = {}
            for k, v in arg.items:
                if not isinstance(k, (ast.Literal, ast.Var, ast.Template)):
                    break
                name = k.name if isinstance(k, ast.Var) else (
                    str(k.value) if isinstance(k, ast.Literal) else "".join(p for p in k.parts if isinstance(p, str)))
                attrs[name] = parse_type(v)
            else:
                return ("object", attrs)
    raise DefinitionError("Invalid type specification", "The type expression is not a valid type.", e.rng)


def from_override(name: str, text: str, t: Type | None, has_default: bool, default: object, is_json: bool) -> object:
    """Convert an environment / ``--var`` string to the variable's type, case by case as buildx does."""
    if t is not None and is_json:
        try:
            return convert(from_json(json.loads(text)), t)
        except (ValueError, ConversionError) as err:
            raise DefinitionError(f"failed to convert variable {name} from JSON", str(err)) from None
    if t is not None and t[0] in ("list", "set", "tuple", "map"):
        return _typed(name, text, t)
    if t is not None and t[0] in ("string", "number", "bool"):
        return _primitive(name, text, t)
    if t is not None:  # object, or `any`: nothing to parse a plain string into
        label = "dynamic" if t[0] == "any" else type_label(t)
        raise DefinitionError(f"unsupported type {label} for variable {name}")
    if not has_default or default is None or isinstance(default, str):
        return text
    if isinstance(default, bool):
        return _primitive(name, text, ("bool",))
    if isinstance(default, (int, Decimal)):
        return _primitive(name, text, ("number",))
    kind = "tuple" if isinstance(default, list) else "object"
    raise DefinitionError(f"unsupported type {kind} for variable {name}")


def _primitive(name: str, text: str, t: Type) -> object:
    if t[0] == "string":
        return text
    if t[0] == "bool":
        try:
            return parse_go_bool(text)
        except FlagError:
            raise DefinitionError(f"failed to parse {name} as bool", f'strconv.ParseBool: parsing "{text}": invalid syntax') from None
    if t[0] == "number":
        try:
            return parse_number(text)
        except ConversionError:
            raise DefinitionError(f"failed to parse {name} as number", f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None
    raise DefinitionError(f"unsupported type {type_label(t)} for variable {name}")


def _typed(name: str, text: str, t: Type) -> object:
    kind = t[0]
    if kind in ("string", "bool", "number"):
        return _primitive(name, text, t)
    if kind in ("list", "set", "tuple", "map"):
        try:
            fields = csv_fields(text) if text else []
        except FlagError as err:
            raise DefinitionError(f"failed to parse {name} from CSV", str(err)) from None
        if kind == "map":
            out = {}
            for f in fields:
                k, sep, v = f.partition(":")
                if not sep:
                    raise DefinitionError(f"failed to parse element {f!r} of variable {name}", "expected key:value")
                out[k] = _element(name, v, t[1])
            return out
        if kind == "tuple":
            if len(fields) != len(t[1]):
                raise DefinitionError(f"failed to parse {name} from CSV", f"expected {len(t[1])} elements, got {len(fields)}")
            return [_element(name, f, et) for f, et in zip(fields, t[1], strict=True)]
        items = [_element(name, f, t[1]) for f in fields]
        return convert(items, t)
    raise DefinitionError(f"unsupported type {type_label(t)} for variable {name}")


def _element(name: str, text: str, t: Type) -> object:
    if t[0] not in ("string", "bool", "number", "any"):
        raise DefinitionError(f"unsupported type {type_label(t)} for variable {name}")
    if t == ANY:
        return text
    try:
        return _primitive(name, text, t)
    except DefinitionError as err:
        raise DefinitionError(f"failed to parse element of variable {name}", err.detail) from None
