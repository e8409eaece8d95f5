"""String functions of the go-cty stdlib and bake's own (``sanitize``, ``regex_replace``)."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from bake.hcl.engine.eval import FunctionError
from bake.hcl.engine.functions.registry import Library, p
from bake.hcl.engine.values import ANY, MAX_STRING_LENGTH, NUMBER, STRING, format_number, is_number, to_string

lib = Library()
LIST_STR = ("list", STRING)


@lib.define("upper", p("str", STRING))
def upper(s: str) -> str:
    return s.upper()


@lib.define("lower", p("str", STRING))
def lower(s: str) -> str:
    return s.lower()


@lib.define("title", p("str", STRING))
def title(s: str) -> str:
    out, prev_letter = [], False
    for ch in s:
        out.append(ch if prev_letter else ch.upper())
        prev_letter = ch.isalnum() or ch == "_"
    return "".join(out)


@lib.define("reverse", p("str", STRING))
def reverse(s: str) -> str:
    return "".join(reversed(_graphemes(s)))


@lib.define("strlen", p("str", STRING))
def strlen(s: str) -> int:
    return len(_graphemes(s))


def _graphemes(s: str) -> list[str]:
    out: list[str] = []
    for ch in s:
        if out and (unicodedata.combining(ch) or ch in "\u200d\ufe0f"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


@lib.define("substr", p("str", STRING), p("offset", NUMBER), p("length", NUMBER))
def substr(s: str, offset: int, length: int) -> str:
    g = _graphemes(s)
    offset, length = int(offset), int(length)
    if offset < 0:
        offset = max(len(g) + offset, 0)
    if offset > len(g):
        raise FunctionError("offset is out of range")
    end = len(g) if length < 0 else min(offset + length, len(g))
    return "".join(g[offset:end])


@lib.define("chomp", p("str", STRING))
def chomp(s: str) -> str:
    return re.sub(r"(?:\r\n|\n|\r)+$", "", s)


@lib.define("indent", p("spaces", NUMBER), p("str", STRING))
def indent(n: int, s: str) -> str:
    _fits(len(s) + max(n, 0) * s.count("\n"))
    return s.replace("\n", "\n" + " " * int(n))


def _fits(size: int | Decimal) -> None:
    """Refuse before building a string of ``size`` characters that would break the value limit."""
    if size > MAX_STRING_LENGTH:
        raise FunctionError(f"the result would have {size} characters; a string may hold at most "
                            f"{MAX_STRING_LENGTH} (bake's limit on one value)")


@lib.define("trim", p("str", STRING), p("cutset", STRING))
def trim(s: str, cutset: str) -> str:
    return s.strip(cutset)


@lib.define("trimprefix", p("str", STRING), p("prefix", STRING))
def trimprefix(s: str, prefix: str) -> str:
    return s.removeprefix(prefix)


@lib.define("trimsuffix", p("str", STRING), p("suffix", STRING))
def trimsuffix(s: str, suffix: str) -> str:
    return s.removesuffix(suffix)


@lib.define("trimspace", p("str", STRING))
def trimspace(s: str) -> str:
    return s.strip()


@lib.define("split", p("separator", STRING), p("str", STRING))
def split(sep: str, s: str) -> list[str]:
    if sep == "":
        return list(s)
    return s.split(sep)


@lib.define("join", p("separator", STRING), variadic=p("lists", LIST_STR))
def join(sep: str, *lists: list[str]) -> str:
    if not lists:
        raise FunctionError("at least one list is required")
    items = [x for lst in lists for x in lst]
    if any(x is None for x in items):
        raise FunctionError("element is null; cannot concatenate null values")
    _fits(sum(map(len, items)) + len(sep) * max(len(items) - 1, 0))
    return sep.join(items)


@lib.define("replace", p("str", STRING), p("substr", STRING), p("replace", STRING))
def replace(s: str, old: str, new: str) -> str:
    count = s.count(old) if old else len(s) + 1
    _fits(len(s) + count * (len(new) - len(old)))
    return s.replace(old, new)


@lib.define("sanitize", p("name", STRING))
def sanitize(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", s)


# --- regular expressions (RE2 syntax; Python's re covers the common subset) ----------------------


def _compile(pattern: str) -> re.Pattern[str]:
    pat = re.sub(r"\(\?P<", "(?P<", pattern)
    try:
        return re.compile(pat)
    except re.error as err:
        raise FunctionError(f"invalid regexp pattern: {err}", arg=0) from None


def _match_value(rx: re.Pattern[str], m: re.Match[str]) -> object:
    if rx.groupindex:
        return {name: m.group(name) or "" for name in rx.groupindex}
    if rx.groups:
        return [g or "" for g in m.groups()]
    return m.group(0)


@lib.define("regex", p("pattern", STRING), p("string", STRING))
def regex(pattern: str, s: str) -> object:
    rx = _compile(pattern)
    m = rx.search(s)
    if m is None:
        raise FunctionError("pattern did not match any part of the given string")
    return _match_value(rx, m)


@lib.define("regexall", p("pattern", STRING), p("string", STRING))
def regexall(pattern: str, s: str) -> list[object]:
    rx = _compile(pattern)
    return [_match_value(rx, m) for m in rx.finditer(s)]


@lib.define("regex_replace", p("str", STRING), p("pattern", STRING), p("replace", STRING))
def regex_replace(s: str, pattern: str, repl: str) -> str:
    rx = _compile(pattern)
    # Go's Regexp.ReplaceAllString: $1, ${1}, ${name}; $$ is a literal dollar.
    def expand(m: re.Match[str]) -> str:
        def one(t: re.Match[str]) -> str:
            if t.group(0) == "$$":
                return "$"
            name = t.group(1) or t.group(2)
            try:
                return m.group(int(name) if name.isdigit() else name) or ""
            except (IndexError, KeyError, re.error):
                return ""
        return re.sub(r"\$\$|\$\{(\w+)\}|\$(\w+)", one, repl)

    return rx.sub(expand, s)



# --- format ---------------------------------------------------------------------------------------

_VERB = re.compile(r"%(?:\[(\d+)\])?([-+# 0]*)(\d+|\*)?(?:\.(\d+))?(?:\[(\d+)\])?([a-zA-Z%])")


@lib.define("format", p("format", STRING), variadic=p("args", ANY, allow_null=True))
def format_(fmt: str, *args: object) -> str:
    return _format(fmt, list(args))


@lib.define("formatlist", p("format", STRING), variadic=p("args", ANY, allow_null=True))
def formatlist(fmt: str, *args: object) -> list[str]:
    n = None
    for a in args:
        if isinstance(a, list):
            if n is not None and len(a) != n:
                raise FunctionError("all list arguments must have the same length")
            n = len(a)
    if n is None:
        return [_format(fmt, list(args))]
    return [_format(fmt, [a[i] if isinstance(a, list) else a for a in args]) for i in range(n)]


def _format(fmt: str, args: list[object]) -> str:
    out: list[str] = []
    pos = 0
    argi = 0
    while True:
        m = _VERB.search(fmt, pos)
        if m is None:
            out.append(fmt[pos:])
            return "".join(out)
        out.append(fmt[pos : m.start()])
        pos = m.end()
        index, flags, width, prec, index2, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if index or index2:
            argi = int(index or index2) - 1
        if argi >= len(args):
            raise FunctionError(f"not enough arguments for %{verb} at {m.start()}")
        out.append(_format_one(args[argi], flags, width, prec, verb))
        argi += 1


def _format_one(v: object, flags: str, width: str | None, prec: str | None, verb: str) -> str:
    from bake.hcl.engine.functions.encoding import json_encode

    for what, n in (("width", width), ("precision", prec)):
        if n is not None and n.isdigit() and int(n) > MAX_STRING_LENGTH:
            raise FunctionError(f"a {what} of {n} would make a string longer than {MAX_STRING_LENGTH} "
                                "characters (bake's limit on one value)")

    if verb == "v":
        s = json_encode(v) if "#" in flags else ("null" if v is None else (to_string(v) if not isinstance(v, (list, dict)) else json_encode(v)))
    elif verb == "s":
        s = to_string(v)
    elif verb == "q":
        s = json_encode(to_string(v))
    elif verb == "t":
        if not isinstance(v, bool):
            raise FunctionError("unsupported value for \"%t\": bool required")
        s = "true" if v else "false"
    elif verb in "dboxXeEfgG":
        if not is_number(v):
            try:
                from bake.hcl.engine.values import to_number
                v = to_number(v)
            except Exception:
                raise FunctionError(f'unsupported value for "%{verb}": number required') from None
        num = Decimal(v)  # type: ignore[arg-type]
        if verb in "dboxX":
            if num != num.to_integral_value():
                raise FunctionError(f'unsupported value for "%{verb}": integer required')
            iv = int(num)
            s = format(abs(iv), "" if verb == "d" else verb)
            s = ("-" if iv < 0 else ("+" if "+" in flags else "")) + s
        else:
            pyfmt = verb if verb != "f" or prec else "f"
            spec = f"{'+' if '+' in flags else ''}.{prec if prec else 6}{pyfmt}" if verb in "eEf" else f"{'+' if '+' in flags else ''}{pyfmt}"
            s = format(float(num), spec) if verb in "gG" else format(num, spec)
            if verb in "gG" and not prec:
                s = format_number(num) if verb == "g" else s
    else:
        raise FunctionError(f"unsupported format verb %{verb}")
    if prec and verb in "sq":
        s = s[: int(prec)]
    if width and width != "*":
        w = int(width)
        if "-" in flags:
            s = s.ljust(w)
        elif "0" in flags and verb in "dboxXeEfgG":
            sign = s[0] if s[:1] in "+-" else ""
            s = sign + s[len(sign):].rjust(w - len(sign), "0")
        else:
            s = s.rjust(w)
    return s
