"""Collection and set functions of the go-cty stdlib, plus ``try``/``can``/``convert``."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal

from bake.errors import DefinitionError
from bake.hcl.engine import ast
from bake.hcl.engine.eval import Evaluator, FunctionError, Scope
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import (
    ANY,
    MAX_COLLECTION_LENGTH,
    NUMBER,
    STRING,
    ConversionError,
    as_set,
    convert,
    dedupe,
    equal,
    to_string,
)

lib = Library()
LIST = ("list", ANY)
MAP = ("map", ANY)


def _seq(v: object, what: str = "list", arg: int = 0) -> list[object]:
    if not isinstance(v, list):
        raise FunctionError(f"a {what} is required", arg=arg)
    return v


def _map(v: object, arg: int = 0) -> dict[str, object]:
    if not isinstance(v, dict):
        raise FunctionError("a map or object is required", arg=arg)
    return v


@lib.define("length", p("value", ANY))
def length(v: object) -> int:
    # go-cty's LengthFunc: collections only (strlen counts a string). It refuses objects too, which
    # bake cannot tell from maps (a variable of type map(string)), so both are counted.
    if isinstance(v, (list, dict)):
        return len(v)
    raise FunctionError("collection must be a list, a map or a tuple")


@lib.define("concat", variadic=p("seqs", ANY))
def concat(*seqs: object) -> list[object]:
    if not seqs:
        raise FunctionError("at least one argument is required")
    out: list[object] = []
    for i, s in enumerate(seqs):
        out.extend(_seq(s, "list, set or tuple", i))
    return out


@lib.define("contains", p("list", ANY), p("value", ANY, True))
def contains(lst: object, value: object) -> bool:
    return any(equal(x, value) for x in _seq(lst))


@lib.define("distinct", p("list", LIST))
def distinct(lst: list[object]) -> list[object]:
    return dedupe(lst)


@lib.define("chunklist", p("list", LIST), p("size", NUMBER))
def chunklist(lst: list[object], size: int) -> list[list[object]]:
    n = int(size)
    if n < 0:
        raise FunctionError("the size argument must be positive", arg=1)
    if n == 0:
        return [lst]
    return [lst[i : i + n] for i in range(0, len(lst), n)]


@lib.define("coalesce", variadic=p("vals", ANY, True))
def coalesce(*vals: object) -> object:
    for v in vals:
        if v is not None:
            return v
    raise FunctionError("no non-null arguments")


@lib.define("coalescelist", variadic=p("vals", ANY))
def coalescelist(*vals: object) -> object:
    for i, v in enumerate(vals):
        if len(_seq(v, "list or tuple", i)) > 0:
            return v
    raise FunctionError("no non-null arguments")


@lib.define("compact", p("list", ("list", STRING)))
def compact(lst: list[str | None]) -> list[str]:
    return [x for x in lst if x]


@lib.define("element", p("list", ANY), p("index", NUMBER))
def element(lst: object, index: int) -> object:
    seq = _seq(lst)
    if not seq:
        raise FunctionError("cannot use element function with an empty list")
    i = int(index)
    if i < 0:
        raise FunctionError("cannot use element function with a negative index", arg=1)
    return seq[i % len(seq)]


@lib.define("index", p("collection", ANY), p("key", ANY))
def index(coll: object, key: object) -> object:
    if isinstance(coll, list):
        try:
            i = Decimal(to_string(key))
        except (ArithmeticError, ConversionError):
            raise FunctionError("key must be a number for a list", arg=1) from None
        if i != int(i) or not 0 <= int(i) < len(coll):
            raise FunctionError("the given index is greater than or equal to the length of the collection" if int(i) >= len(coll) else "invalid index", arg=1)
        return coll[int(i)]
    if isinstance(coll, dict):
        k = to_string(key)
        if k not in coll:
            raise FunctionError("the given key does not identify an element in the collection", arg=1)
        return coll[k]
    raise FunctionError("cannot index a value that is not a list, tuple, map or object", arg=0)


@lib.define("hasindex", p("collection", ANY), p("key", ANY))
def hasindex(coll: object, key: object) -> bool:
    try:
        index(coll, key)
    except FunctionError:
        return False
    return True


@lib.define("indexof", p("list", ANY), p("value", ANY))
def indexof(lst: object, value: object) -> int:
    for i, x in enumerate(_seq(lst)):
        if equal(x, value):
            return i
    raise FunctionError("item not found")


@lib.define("flatten", p("list", ANY))
def flatten(lst: object) -> list[object]:
    out: list[object] = []
    for x in _seq(lst):
        out.extend(flatten(x) if isinstance(x, list) else [x])
    return out


@lib.define("keys", p("inputMap", ANY))
def keys(m: object) -> list[str]:
    return sorted(_map(m))


@lib.define("values", p("mapping", ANY))
def values(m: object) -> list[object]:
    d = _map(m)
    return [d[k] for k in sorted(d)]


@lib.define("lookup", p("inputMap", ANY), p("key", STRING), variadic=p("default", ANY, True))
def lookup(m: object, key: str, *default: object) -> object:
    if len(default) > 1:
        raise FunctionError("lookup() takes no more than one default argument")
    d = _map(m)
    if key in d:
        return d[key]
    if default:
        return default[0]
    raise FunctionError(f'lookup failed to find key "{key}"')


@lib.define("merge", variadic=p("maps", ANY, True))
def merge(*maps: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for i, m in enumerate(maps):
        if m is None:
            continue
        out.update(_map(m, i))
    return out


@lib.define("reverselist", p("list", ANY))
def reverselist(lst: object) -> list[object]:
    return list(reversed(_seq(lst)))


@lib.define("slice", p("list", ANY), p("start_index", NUMBER), p("end_index", NUMBER))
def slice_(lst: object, start: int, end: int) -> list[object]:
    seq = _seq(lst)
    s, e = int(start), int(end)
    if s < 0:
        raise FunctionError("from index must be greater than or equal to 0", arg=1)
    if e > len(seq):
        raise FunctionError("to index must be less than or equal to the length of the input collection", arg=2)
    if s > e:
        raise FunctionError("from index must be less than or equal to index", arg=1)
    return seq[s:e]


@lib.define("sort", p("list", ("list", STRING)))
def sort(lst: list[str]) -> list[str]:
    if any(x is None for x in lst):
        raise FunctionError("given list element is null; a null string is not allowed")
    return sorted(lst)


@lib.define("zipmap", p("keys", ("list", STRING)), p("values", ANY))
def zipmap(ks: list[str], vs: object) -> dict[str, object]:
    seq = _seq(vs, "list or tuple", 1)
    if len(ks) != len(seq):
        raise FunctionError(f"number of keys ({len(ks)}) does not match number of values ({len(seq)})")
    return dict(zip(ks, seq, strict=True))


# --- sets -----------------------------------------------------------------------------------------


def _set(v: object, i: int) -> list[object]:
    return dedupe(_seq(v, "set", i))


def _sorted_set(items: list[object]) -> list[object]:
    return as_set(items)


@lib.define("sethaselement", p("set", ANY), p("elem", ANY, True))
def sethaselement(s: object, e: object) -> bool:
    return any(equal(x, e) for x in _set(s, 0))


@lib.define("setunion", p("first_set", ANY), variadic=p("other_sets", ANY))
def setunion(*sets: object) -> list[object]:
    return _sorted_set([x for i, s in enumerate(sets) for x in _set(s, i)])


@lib.define("setintersection", p("first_set", ANY), variadic=p("other_sets", ANY))
def setintersection(first: object, *others: object) -> list[object]:
    rest = [_set(s, i + 1) for i, s in enumerate(others)]
    return _sorted_set([x for x in _set(first, 0) if all(any(equal(x, y) for y in r) for r in rest)])


@lib.define("setsubtract", p("a", ANY), p("b", ANY))
def setsubtract(a: object, b: object) -> list[object]:
    bs = _set(b, 1)
    return _sorted_set([x for x in _set(a, 0) if not any(equal(x, y) for y in bs)])


@lib.define("setsymmetricdifference", p("first_set", ANY), variadic=p("other_sets", ANY))
def setsymmetricdifference(*sets: object) -> list[object]:
    acc: list[object] = []
    for i, s in enumerate(sets):
        cur = _set(s, i)
        acc = [x for x in acc if not any(equal(x, y) for y in cur)] + [
            y for y in cur if not any(equal(x, y) for x in acc)
        ]
    return _sorted_set(acc)


@lib.define("setproduct", variadic=p("sets", ANY))
def setproduct(*sets: object) -> list[list[object]]:
    if len(sets) < 2:
        raise FunctionError("at least two arguments are required")
    seqs = [_seq(s, "set", i) for i, s in enumerate(sets)]
    count = math.prod(len(q) for q in seqs)
    if count > MAX_COLLECTION_LENGTH:
        raise FunctionError(f"the product would have {count} elements; a collection may hold at most "
                            f"{MAX_COLLECTION_LENGTH} (bake's limit on one value)")
    return [list(t) for t in itertools.product(*seqs)]


# --- functions that see expressions -----------------------------------------------------------------


@lib.lazy("try")
def try_(ctx: Evaluator, call: ast.Call, scope: Scope) -> object:
    if not call.args:
        raise DefinitionError("Not enough function arguments", 'Function "try" expects at least one argument.', call.rng)
    errors = []
    for arg in call.args:
        try:
            return ctx.eval(arg, scope)
        except DefinitionError as err:
            errors.append(err)
    raise DefinitionError(
        "Error in function call",
        'Call to function "try" failed: no expression succeeded:\n'
        + "\n".join(f"- {e.summary} (at {e.rng})\n  {e.detail}" for e in errors),
        call.rng,
    )


@lib.lazy("can")
def can(ctx: Evaluator, call: ast.Call, scope: Scope) -> object:
    if len(call.args) != 1:
        raise DefinitionError("Invalid function argument", 'Function "can" expects 1 argument(s).', call.rng)
    try:
        ctx.eval(call.args[0], scope)
    except DefinitionError:
        return False
    return True


@lib.lazy("convert")
def convert_(ctx: Evaluator, call: ast.Call, scope: Scope) -> object:
    from bake.hcl.engine.types import parse_type

    if len(call.args) != 2:
        raise DefinitionError("Invalid function argument", 'Function "convert" expects 2 argument(s).', call.rng)
    value = ctx.eval(call.args[0], scope)
    t = parse_type(call.args[1])
    try:
        return convert(value, t)
    except ConversionError as err:
        raise DefinitionError("Invalid function argument", f'Invalid value for "value" parameter: {err}.', call.args[0].rng) from None
