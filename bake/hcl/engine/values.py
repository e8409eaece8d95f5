"""Runtime values with go-cty's conversion rules.

Values are plain Python: ``None`` (null), ``bool``, numbers (``int``, or ``Decimal`` when not
integral), ``str``, ``list`` (cty list/tuple/set) and ``dict`` (cty map/object).
Types, where a value must be converted to one (typed variables, function parameters), are
``Type`` tuples: ``("string",)``, ``("list", T)``, ``("set", T)``, ``("map", T)``,
``("tuple", (T, …))``, ``("object", {name: T})``, ``("any",)`` plus the primitives.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Any

Type = tuple[Any, ...]
STRING: Type = ("string",)
NUMBER: Type = ("number",)
BOOL: Type = ("bool",)
ANY: Type = ("any",)

# Limits on what one bake file may make bake compute (each refused with an error naming it):
# MAX_STRING_LENGTH characters in one string, MAX_COLLECTION_LENGTH items in one list or map,
# grammar.MAX_NESTING levels of brackets, definition.MAX_MATRIX targets from one matrix.
MAX_STRING_LENGTH = 64 * 1024 * 1024
MAX_COLLECTION_LENGTH = 1_000_000


def too_large(v: object) -> str | None:
    """Why ``v`` exceeds a value limit ("67108865 characters, more than …"), else None."""
    if isinstance(v, str) and len(v) > MAX_STRING_LENGTH:
        return f"{len(v)} characters; a string may hold at most {MAX_STRING_LENGTH} (bake's limit on one value)"
    if isinstance(v, (list, dict)) and len(v) > MAX_COLLECTION_LENGTH:
        return f"{len(v)} items; a collection may hold at most {MAX_COLLECTION_LENGTH} (bake's limit on one value)"
    return None


# go-cty numbers are 512-bit big.Floats; ~155 significant decimal digits matches their output.
CTX = decimal.Context(prec=155, rounding=decimal.ROUND_HALF_EVEN, Emin=-999999, Emax=999999)


class ConversionError(Exception):
    """A value does not fit the wanted type; the message reads like go-cty's."""


def is_number(v: object) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, Decimal)


def normalize_number(v: int | Decimal) -> int | Decimal:
    """An ``int`` when ``v`` is integral and within the precision, else a normalized Decimal.

    Integers beyond the precision stay Decimals: ``int(Decimal("1e999999"))`` would take seconds
    and its ``str`` is refused by Python (``sys.int_max_str_digits``)."""
    if isinstance(v, Decimal):
        if not v.is_finite():
            return v
        if v == v.to_integral_value():
            return int(v) if v.adjusted() < CTX.prec else v.normalize(CTX)
        return v.normalize(CTX)
    if abs(v) >= _MAX_INT:
        return CTX.plus(Decimal(v)).normalize(CTX)
    return v


_MAX_INT = 10**CTX.prec


def remainder(x: Decimal, y: Decimal) -> int | Decimal:
    """``x % y`` as go-cty computes it: ``x - y * trunc(x / y)``, rounded to the precision.

    Exact when the quotient fits the precision; otherwise (``1 % 1e-308``) as close as cty's
    512-bit floats get, where ``Decimal.remainder`` would refuse (DivisionImpossible)."""
    try:
        return normalize_number(CTX.remainder(x, y))
    except decimal.InvalidOperation:  # the C implementation raises it for DivisionImpossible
        q = CTX.divide(x, y).to_integral_value(rounding=decimal.ROUND_DOWN)
        return normalize_number(CTX.subtract(x, CTX.multiply(q, y)))


def format_number(v: int | Decimal) -> str:
    """cty's number → string: shortest exact decimal, no exponent (``1e20`` → ``100000000000000000000``)."""
    if isinstance(v, int):
        return str(v)
    if v.is_infinite():
        return "+Inf" if v > 0 else "-Inf"
    v = normalize_number(v)
    if isinstance(v, int):
        return str(v)
    return format(v, "f")


def type_name(v: object) -> str:
    """The friendly type name go-cty uses in messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "tuple"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def to_string(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return format_number(v)  # type: ignore[arg-type]
    if v is None:
        raise ConversionError("a string is required, but got null")
    raise ConversionError(f"string required, but have {type_name(v)}")


def parse_number(s: str) -> int | Decimal:
    s2 = s.strip()
    try:
        if s2 and all(c.isdigit() for c in s2.lstrip("+-")) and len(s2.lstrip("+-")) <= CTX.prec:
            return int(s2)
        d = Decimal(s2)
    except (decimal.InvalidOperation, ValueError):
        raise ConversionError(f'cannot convert "{s}" to number; given string must be a decimal representation of a number') from None
    if not d.is_finite():
        raise ConversionError(f'cannot convert "{s}" to number')
    return normalize_number(d)


def to_number(v: object) -> int | Decimal:
    if is_number(v):
        return v  # type: ignore[return-value]
    if isinstance(v, str):
        return parse_number(v)
    if v is None:
        raise ConversionError("a number is required, but got null")
    raise ConversionError(f"number required, but have {type_name(v)}")


def to_bool(v: object) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        if v == "true":
            return True
        if v == "false":
            return False
        raise ConversionError("a bool is required")
    if v is None:
        raise ConversionError("a bool is required, but got null")
    raise ConversionError(f"bool required, but have {type_name(v)}")


def from_json(v: object) -> object:
    """A value ``json.loads`` made (``parse_float=Decimal`` or not) as an HCL value."""
    if isinstance(v, float):
        return normalize_number(Decimal(repr(v)))
    if isinstance(v, list):
        return [from_json(x) for x in v]
    if isinstance(v, dict):
        return {k: from_json(x) for k, x in v.items()}
    return v


def convert(v: object, t: Type) -> object:
    """go-cty ``convert.Convert``: null converts to anything; collections convert element-wise."""
    kind = t[0]
    if v is None or kind == "any":
        return v
    if kind == "string":
        return to_string(v)
    if kind == "number":
        return to_number(v)
    if kind == "bool":
        return to_bool(v)
    if kind in ("list", "set"):
        if not isinstance(v, list):
            raise ConversionError(f"{kind} of {type_label(t[1])} required, but have {type_name(v)}")
        items = [convert(x, t[1]) for x in v]
        return dedupe(items) if kind == "set" else items
    if kind == "tuple":
        if not isinstance(v, list) or len(v) != len(t[1]):
            raise ConversionError(f"tuple required with {len(t[1])} elements")
        return [convert(x, et) for x, et in zip(v, t[1], strict=True)]
    if kind == "map":
        if not isinstance(v, dict):
            raise ConversionError(f"map of {type_label(t[1])} required, but have {type_name(v)}")
        return {k: convert(x, t[1]) for k, x in v.items()}
    if kind == "object":
        if not isinstance(v, dict):
            raise ConversionError(f"object required, but have {type_name(v)}")
        out = {}
        for name, at in t[1].items():
            if name not in v:
                raise ConversionError(f'attribute "{name}" is required')
            out[name] = convert(v[name], at)
        return out
    raise ConversionError(f"unknown type {kind}")


class SetValue(list[object]):
    """A list whose cty type is a set (what the set functions return). HCL unifies the two result
    types of a conditional, so a tuple or list in the other branch becomes a set too: sorted, once each."""


def as_set(items: list[object]) -> SetValue:
    """``items`` deduplicated and, where they are comparable, sorted as cty orders a set."""
    out = dedupe(items)
    try:
        return SetValue(sorted(out, key=sort_key))
    except (ConversionError, TypeError):
        return SetValue(out)


def unify_with(value: object, other: object) -> object:
    """``value`` (a conditional's result) converted to the type HCL unifies it with: the other branch
    is a set → a set; a string beside a number or bool → a string; tuples of primitives whose types
    differ, one of them a string → strings. Anything else is left as it is."""
    if other is None:
        return value
    if isinstance(value, list) and isinstance(other, list):
        if isinstance(value, SetValue):
            return value
        if isinstance(other, SetValue):
            return as_set(value)
        mine, theirs = [type_name(x) for x in value], [type_name(x) for x in other]
        kinds = set(mine) | set(theirs)
        if mine != theirs and "string" in kinds and kinds <= {"string", "number", "bool"}:
            return [to_string(x) for x in value]
        return value
    pair = {type_name(value), type_name(other)}
    if len(pair) == 2 and "string" in pair and pair <= {"string", "number", "bool"}:
        return to_string(value)
    return value


def dedupe(items: list[object]) -> list[object]:
    out: list[object] = []
    for x in items:
        if not any(equal(x, y) for y in out):
            out.append(x)
    return out


def equal(a: object, b: object) -> bool:
    """cty equality: numbers by value, no cross-type conversion."""
    if is_number(a) and is_number(b):
        return Decimal(a) == Decimal(b)  # type: ignore[arg-type]
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    return a == b


def type_label(t: Type) -> str:
    """``--list variables`` / error wording of a type: ``string``, ``list of string``, ``any type``."""
    kind = t[0]
    if kind == "any":
        return "any type"
    if kind in ("string", "number", "bool"):
        return str(kind)
    if kind in ("list", "set", "map"):
        return f"{kind} of {type_label(t[1])}"
    if kind == "tuple":
        return "tuple"
    return "object"


def sort_key(v: object) -> tuple[int, Any]:
    if is_number(v):
        return (0, Decimal(v))  # type: ignore[arg-type]
    return (1, to_string(v))


def escape_html(s: str) -> str:
    """Go's ``encoding/json`` escapes these characters; buildx output and ``jsonencode`` show it."""
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").replace(
        "\u2028", "\\u2028").replace("\u2029", "\\u2029")
