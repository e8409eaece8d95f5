"""Number and boolean functions of the go-cty stdlib."""

from __future__ import annotations

import math
from decimal import Decimal

from bake.hcl.engine.eval import FunctionError
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import ANY, BOOL, CTX, NUMBER, STRING, equal, normalize_number, remainder

lib = Library()
Num = int | Decimal


def _d(x: Num) -> Decimal:
    return Decimal(x)


@lib.define("add", p("a", NUMBER), p("b", NUMBER))
def add(a: Num, b: Num) -> Num:
    return normalize_number(CTX.add(_d(a), _d(b)))


@lib.define("subtract", p("a", NUMBER), p("b", NUMBER))
def subtract(a: Num, b: Num) -> Num:
    return normalize_number(CTX.subtract(_d(a), _d(b)))


@lib.define("multiply", p("a", NUMBER), p("b", NUMBER))
def multiply(a: Num, b: Num) -> Num:
    return normalize_number(CTX.multiply(_d(a), _d(b)))


@lib.define("divide", p("a", NUMBER), p("b", NUMBER))
def divide(a: Num, b: Num) -> Num:
    if b == 0:
        raise FunctionError("can't divide by zero")
    return normalize_number(CTX.divide(_d(a), _d(b)))


@lib.define("modulo", p("a", NUMBER), p("b", NUMBER))
def modulo(a: Num, b: Num) -> Num:
    if b == 0:
        raise FunctionError("can't use modulo 0")
    return remainder(_d(a), _d(b))


@lib.define("negate", p("num", NUMBER))
def negate(a: Num) -> Num:
    return normalize_number(-_d(a))


@lib.define("absolute", p("num", NUMBER))
def absolute(a: Num) -> Num:
    return normalize_number(abs(_d(a)))


@lib.define("signum", p("num", NUMBER))
def signum(a: Num) -> int:
    return (a > 0) - (a < 0)


@lib.define("ceil", p("num", NUMBER))
def ceil(a: Num) -> Num:
    return normalize_number(_d(a).to_integral_value(rounding="ROUND_CEILING"))


@lib.define("floor", p("num", NUMBER))
def floor(a: Num) -> Num:
    return normalize_number(_d(a).to_integral_value(rounding="ROUND_FLOOR"))


@lib.define("int", p("num", NUMBER))
def int_(a: Num) -> Num:
    return normalize_number(_d(a).to_integral_value(rounding="ROUND_DOWN"))


@lib.define("log", p("num", NUMBER), p("base", NUMBER))
def log(a: Num, base: Num) -> Num:
    try:
        return normalize_number(Decimal(repr(math.log(float(a), float(base)))))
    except (ValueError, ZeroDivisionError):
        raise FunctionError("cannot compute the logarithm of this value") from None


@lib.define("pow", p("num", NUMBER), p("power", NUMBER))
def pow_(a: Num, b: Num) -> Num:
    if isinstance(a, int) and isinstance(b, int) and b >= 0 and (abs(a) <= 1 or b * abs(a).bit_length() <= 1024):
        return normalize_number(a**b)
    try:
        return normalize_number(Decimal(repr(math.pow(float(a), float(b)))))
    except OverflowError:
        raise FunctionError("the result is too large to represent") from None
    except ValueError:
        raise FunctionError("the result is not a real number") from None


@lib.define("max", variadic=p("numbers", NUMBER))
def max_(*nums: Num) -> Num:
    if not nums:
        raise FunctionError("must pass at least one number")
    return max(nums, key=_d)


@lib.define("min", variadic=p("numbers", NUMBER))
def min_(*nums: Num) -> Num:
    if not nums:
        raise FunctionError("must pass at least one number")
    return min(nums, key=_d)


@lib.define("parseint", p("number", ANY), p("base", NUMBER))
def parseint(s: object, base: Num) -> Num:
    if not isinstance(s, str):
        raise FunctionError("first argument must be a string, not number", arg=0)
    b = int(base)
    if b < 2 or b > 62:
        raise FunctionError("base must be a whole number between 2 and 62 inclusive", arg=1)
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    body = s[1:] if s[:1] in "+-" else s
    if not body:
        raise FunctionError(f"cannot parse {s!r} as a base {b} integer")
    val = 0
    for ch in body:
        d = digits.find(ch) if b > 36 else digits.find(ch.lower())
        if d < 0 or d >= b:
            raise FunctionError(f'cannot parse "{s}" as a base {b} integer', arg=0)
        val = val * b + d
    return normalize_number(-val if s.startswith("-") else val)


@lib.define("range", variadic=p("params", NUMBER))
def range_(*params: Num) -> list[Num]:
    if not 1 <= len(params) <= 3:
        raise FunctionError("must have one, two, or three arguments")
    start, step = Decimal(0), Decimal(1)
    if len(params) == 1:
        end = _d(params[0])
    else:
        start, end = _d(params[0]), _d(params[1])
        if len(params) == 3:
            step = _d(params[2])
        elif end < start:
            step = Decimal(-1)
    if step == 0:
        raise FunctionError("step must not be zero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise FunctionError("step must be negative when end is less than start" if step > 0 else "step must be positive when end is greater than start")
    out: list[Num] = []
    v = start
    while (v < end) if step > 0 else (v > end):
        out.append(normalize_number(v))
        if len(out) > 1024:
            raise FunctionError("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step")
        v += step
    return out


# --- logic and comparison -----------------------------------------------------------------------


@lib.define("and", p("a", BOOL), p("b", BOOL))
def and_(a: bool, b: bool) -> bool:
    return a and b


@lib.define("or", p("a", BOOL), p("b", BOOL))
def or_(a: bool, b: bool) -> bool:
    return a or b


@lib.define("not", p("val", BOOL))
def not_(a: bool) -> bool:
    return not a


@lib.define("equal", p("a", ANY, True), p("b", ANY, True))
def equal_(a: object, b: object) -> bool:
    return equal(a, b)


@lib.define("notequal", p("a", ANY, True), p("b", ANY, True))
def notequal(a: object, b: object) -> bool:
    return not equal(a, b)


@lib.define("greaterthan", p("a", NUMBER), p("b", NUMBER))
def greaterthan(a: Num, b: Num) -> bool:
    return _d(a) > _d(b)


@lib.define("greaterthanorequalto", p("a", NUMBER), p("b", NUMBER))
def greaterthanorequalto(a: Num, b: Num) -> bool:
    return _d(a) >= _d(b)


@lib.define("lessthan", p("a", NUMBER), p("b", NUMBER))
def lessthan(a: Num, b: Num) -> bool:
    return _d(a) < _d(b)


@lib.define("lessthanorequalto", p("a", NUMBER), p("b", NUMBER))
def lessthanorequalto(a: Num, b: Num) -> bool:
    return _d(a) <= _d(b)


@lib.define("semvercmp", p("version", STRING), p("constraint", STRING))
def semvercmp(version: str, constraint: str) -> bool:
    from bake.hcl.engine.functions.semver import satisfies

    return satisfies(version, constraint)
