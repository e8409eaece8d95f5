"""Semantic versions and constraints as Masterminds/semver (v3) reads them, for ``semvercmp``.

Constraints: ``||`` alternatives of comma/space separated comparisons ``= != > < >= <= ~ ^``,
wildcards (``1.2.x``, ``*``) and hyphen ranges (``1.2 - 1.4.5``). A pre-release version only
satisfies a comparison whose own version has a pre-release part (Masterminds' rule).
"""

from __future__ import annotations

import re

from bake.hcl.engine.eval import FunctionError

_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$"
)
_PART = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>|~|\^|=>|=<)?\s*v?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)\s*$")

Version = tuple[int, int, int, tuple[object, ...]]


def parse_version(s: str) -> Version:
    m = _VERSION.match(s.strip())
    if not m:
        raise FunctionError(f"invalid semantic version {s!r}", arg=0)
    pre = tuple(int(x) if x.isdigit() else x for x in m.group(4).split(".")) if m.group(4) else ()
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre)


def _cmp(a: Version, b: Version) -> int:
    if a[:3] != b[:3]:
        return -1 if a[:3] < b[:3] else 1
    pa, pb = a[3], b[3]
    if pa == pb:
        return 0
    if not pa:
        return 1
    if not pb:
        return -1
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, int):
            return -1
        if isinstance(y, int):
            return 1
        return -1 if str(x) < str(y) else 1
    return -1 if len(pa) < len(pb) else 1


def satisfies(version: str, constraint: str) -> bool:
    v = parse_version(version)
    alternatives = [a for a in constraint.split("||")]
    return any(all(_check(v, c) for c in _split_and(alt)) for alt in alternatives)


def _split_and(alt: str) -> list[str]:
    alt = re.sub(r"\s+-\s+", " - ", alt.strip())
    hyphen = re.match(r"^(\S+) - (\S+)$", alt)
    if hyphen:
        return [">=" + hyphen.group(1), "<=" + hyphen.group(2)]
    alt = re.sub(r"(=|!=|>=|<=|>|<|~>|~|\^)\s+", r"\1", alt)
    return [c for c in re.split(r"[,\s]+", alt) if c]


def _check(v: Version, c: str) -> bool:
    m = _PART.match(c)
    if not m:
        raise FunctionError(f"improper constraint: {c}", arg=1)
    op, ver = m.group(1) or "=", m.group(2)
    nums = re.split(r"[-+]", ver, maxsplit=1)[0].split(".")
    wild = [n in ("x", "X", "*") for n in nums] + [True] * (3 - len(nums))
    explicit = [int(n) if n.isdigit() else 0 for n in nums] + [0] * (3 - len(nums))
    pre_m = re.search(r"-([0-9A-Za-z.-]+)", ver)
    pre = tuple(int(x) if x.isdigit() else x for x in pre_m.group(1).split(".")) if pre_m else ()
    cv: Version = (explicit[0], explicit[1], explicit[2], pre)
    if v[3] and not pre:
        return False
    major, minor, patch = explicit
    if op in ("=", "!="):
        if wild[0]:
            ok = True
        elif wild[1]:
            ok = v[0] == major
        elif wild[2]:
            ok = v[:2] == (major, minor)
        else:
            ok = _cmp(v, cv) == 0
        return ok if op == "=" else not ok
    if op in ("~", "~>"):
        upper = (major + 1, 0, 0, ()) if wild[1] else (major, minor + 1, 0, ())
        return _cmp(v, cv) >= 0 and _cmp(v, upper) < 0
    if op == "^":
        if major > 0 or wild[1]:
            upper = (major + 1, 0, 0, ())
        elif minor > 0 or wild[2]:
            upper = (0, minor + 1, 0, ())
        else:
            upper = (0, 0, patch + 1, ())
        return _cmp(v, cv) >= 0 and _cmp(v, upper) < 0
    if op in (">", "<=", "=<") and any(wild):
        # "> 1.2" means above every 1.2.x; "<= 1.2" includes every 1.2.x.
        bumped = (major + 1, 0, 0, ()) if wild[1] else (major, minor + 1, 0, ())
        return _cmp(v, bumped) >= 0 if op == ">" else _cmp(v, bumped) < 0
    r = _cmp(v, cv)
    return {">": r > 0, "<": r < 0, ">=": r >= 0, "=>": r >= 0, "<=": r <= 0, "=<": r <= 0}[op]
